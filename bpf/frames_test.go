package bpf_test

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"

	"github.com/dorivo/dorivo/bpf"
	"github.com/dorivo/dorivo/internal/testenv"
)

// A tiny frame encoder for the prog.Run tests: Ethernet, an optional VLAN
// tag, IPv4 (with options) or IPv6, UDP or TCP. Lengths and checksums of
// the IP header are filled in unless a test overrides them to break them.

const (
	ipProtoTCP = 6
	ipProtoUDP = 17
	tpid8021Q  = 0x8100
	tpid8021AD = 0x88a8
)

type frame struct {
	vlanTPID   uint16 // 0: untagged
	src, dst   netip.Addr
	proto      uint8 // ipProtoUDP (default) or ipProtoTCP
	sport      uint16
	dport      uint16
	ipOptions  []byte // IPv4 options, a multiple of 4 bytes
	fragOff    uint16 // IPv4 flags+offset field
	ipTotLen   int    // override IPv4 total length / IPv6 payload length when != 0
	udpLen     int    // override the UDP length when != 0
	nextHeader uint8  // override the IPv6 next header when != 0
	payload    []byte
}

func (f frame) bytes() []byte {
	var b bytes.Buffer
	be := binary.BigEndian
	b.Write([]byte{0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1}) // dst, src MAC
	ethType := uint16(0x0800)
	if f.src.Is6() {
		ethType = 0x86dd
	}
	if f.vlanTPID != 0 {
		b.Write(be.AppendUint16(nil, f.vlanTPID))
		b.Write(be.AppendUint16(nil, 42)) // VID
	}
	b.Write(be.AppendUint16(nil, ethType))

	proto := f.proto
	if proto == 0 {
		proto = ipProtoUDP
	}
	var l4 []byte
	if proto == ipProtoUDP {
		ulen := 8 + len(f.payload)
		if f.udpLen != 0 {
			ulen = f.udpLen
		}
		l4 = be.AppendUint16(l4, f.sport)
		l4 = be.AppendUint16(l4, f.dport)
		l4 = be.AppendUint16(l4, uint16(ulen))
		l4 = be.AppendUint16(l4, 0) // checksum: optional for IPv4; XDP ignores it
	} else {
		l4 = be.AppendUint16(l4, f.sport)
		l4 = be.AppendUint16(l4, f.dport)
		l4 = append(l4, make([]byte, 8)...)                 // seq, ack
		l4 = append(l4, 5<<4, 0x02, 0xff, 0xff, 0, 0, 0, 0) // doff 5, SYN, window, csum, urg
	}
	l4 = append(l4, f.payload...)

	if f.src.Is4() {
		hlen := 20 + len(f.ipOptions)
		tot := hlen + len(l4)
		if f.ipTotLen != 0 {
			tot = f.ipTotLen
		}
		ip := []byte{byte(0x40 | hlen/4), 0}
		ip = be.AppendUint16(ip, uint16(tot))
		ip = be.AppendUint16(ip, 1) // id
		ip = be.AppendUint16(ip, f.fragOff)
		ip = append(ip, 64, proto, 0, 0)
		ip = append(ip, f.src.AsSlice()...)
		ip = append(ip, f.dst.AsSlice()...)
		ip = append(ip, f.ipOptions...)
		be.PutUint16(ip[10:], ipChecksum(ip))
		b.Write(ip)
	} else {
		plen := len(l4)
		if f.ipTotLen != 0 {
			plen = f.ipTotLen
		}
		nh := proto
		if f.nextHeader != 0 {
			nh = f.nextHeader
		}
		ip := []byte{0x60, 0, 0, 0}
		ip = be.AppendUint16(ip, uint16(plen))
		ip = append(ip, nh, 64)
		ip = append(ip, f.src.AsSlice()...)
		ip = append(ip, f.dst.AsSlice()...)
		b.Write(ip)
	}
	b.Write(l4)
	return b.Bytes()
}

func ipChecksum(h []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(h); i += 2 {
		s += uint32(h[i])<<8 | uint32(h[i+1])
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// req is a datagram request; the zero values of the overrides keep it valid.
type req struct {
	op         bpf.DorivoOpcode
	tag, key   []byte
	value      []byte
	magic      uint16 // 0: PROTO_MAGIC
	version    uint8  // 0: PROTO_VERSION
	flags      uint8
	status     uint8
	reserved   uint8
	tagLen     int // -1: as len(tag)
	keyLen     int // -1: as len(key)
	valueLen   int // -1: as len(value)
	truncateTo int // 0: whole datagram
}

func newReq(op bpf.DorivoOpcode, tag, key, value string) req {
	return req{op: op, tag: []byte(tag), key: []byte(key), value: []byte(value), tagLen: -1, keyLen: -1, valueLen: -1}
}

func (r req) bytes() []byte {
	or := func(v, def int) int {
		if v < 0 {
			return def
		}
		return v
	}
	h := bpf.DorivoWireHdr{
		Magic:     uint16(bpf.DorivoProtoPROTO_MAGIC),
		Version:   uint8(bpf.DorivoProtoPROTO_VERSION),
		Opcode:    uint8(r.op),
		Flags:     r.flags,
		Status:    r.status,
		TagLen:    uint8(or(r.tagLen, len(r.tag))),
		Reserved:  r.reserved,
		RequestId: 0x01020304,
		KeyLen:    uint16(or(r.keyLen, len(r.key))),
		ValueLen:  uint16(or(r.valueLen, len(r.value))),
	}
	if r.magic != 0 {
		h.Magic = r.magic
	}
	if r.version != 0 {
		h.Version = r.version
	}
	var b bytes.Buffer
	if err := binary.Write(&b, binary.BigEndian, h); err != nil {
		panic(err)
	}
	if b.Len() != int(bpf.DorivoProtoPROTO_HDR_LEN) {
		panic("wire header encodes to the wrong size")
	}
	b.Write(r.tag)
	b.Write(r.key)
	b.Write(r.value)
	out := b.Bytes()
	if r.truncateTo != 0 {
		out = out[:r.truncateTo]
	}
	return out
}

// Test addresses and ports; each test loads its own collection, so ports
// only need to be unique among the socket tests.
var (
	cli4 = netip.MustParseAddr("192.0.2.10")
	srv4 = netip.MustParseAddr("198.51.100.1")
	cli6 = netip.MustParseAddr("2001:db8::10")
	srv6 = netip.MustParseAddr("2001:db8::1")
)

const (
	udpPort = 7379
	tcpPort = 6379
)

func udpFrame(src, dst netip.Addr, payload []byte) frame {
	return frame{src: src, dst: dst, sport: 40000, dport: udpPort, payload: payload}
}

// loadObjects loads a fresh collection (fresh counters) and configures
// the service ports.
func loadObjects(tb testing.TB) *bpf.DorivoObjects {
	tb.Helper()
	testenv.RequireRoot(tb)
	if err := rlimit.RemoveMemlock(); err != nil {
		tb.Fatal(err)
	}
	var objs bpf.DorivoObjects
	if err := bpf.LoadDorivoObjects(&objs, nil); err != nil {
		tb.Fatalf("load: %+v", err)
	}
	tb.Cleanup(func() { objs.Close() })
	setConfig(tb, &objs, bpf.DorivoAgentConfig{UdpPort: udpPort, TcpPort: tcpPort, AllowUnsigned: 1, TaiOffsetNs: taiOffset(tb)})
	return &objs
}

func setConfig(tb testing.TB, objs *bpf.DorivoObjects, cfg bpf.DorivoAgentConfig) {
	tb.Helper()
	if err := objs.Config.Put(uint32(0), cfg); err != nil {
		tb.Fatal(err)
	}
}

// sumCounters reads every entry of a per-CPU counter array, summed over CPUs.
func sumCounters(tb testing.TB, m *ebpf.Map) []bpf.DorivoCounter {
	tb.Helper()
	out := make([]bpf.DorivoCounter, m.MaxEntries())
	for i := range out {
		var per []bpf.DorivoCounter
		if err := m.Lookup(uint32(i), &per); err != nil {
			tb.Fatal(err)
		}
		for _, c := range per {
			out[i].Packets += c.Packets
			out[i].Bytes += c.Bytes
		}
	}
	return out
}

func tenantCounter(tb testing.TB, objs *bpf.DorivoObjects, slot uint16) bpf.DorivoTenantCounter {
	tb.Helper()
	var per []bpf.DorivoTenantCounter
	if err := objs.TenantStats.Lookup(uint32(slot), &per); err != nil {
		tb.Fatal(err)
	}
	var s bpf.DorivoTenantCounter
	for _, c := range per {
		s.Packets += c.Packets
		s.Bytes += c.Bytes
		s.QuotaDrops += c.QuotaDrops
	}
	return s
}
