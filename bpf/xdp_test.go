package bpf_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"

	"github.com/dorivo/dorivo/bpf"
	"github.com/dorivo/dorivo/shardstore/slot"
)

const (
	xdpDrop = 1
	xdpPass = 2
)

// reasonNames gives the enum xdp_reason names from the object's BTF.
var reasonNames = func() map[bpf.DorivoXdpReason]string {
	m := map[bpf.DorivoXdpReason]string{}
	spec, err := bpf.LoadDorivo()
	if err != nil {
		return m
	}
	var e *btf.Enum
	if err := spec.Types.TypeByName("xdp_reason", &e); err != nil {
		return m
	}
	for _, v := range e.Values {
		m[bpf.DorivoXdpReason(v.Value)] = v.Name
	}
	return m
}()

// runXDP runs xdp_ingress once on data and checks the verdict and that
// exactly one xdp_stats reason moved, by one packet of len(data) bytes.
func runXDP(tb testing.TB, objs *bpf.DorivoObjects, data []byte, verdict uint32, reason bpf.DorivoXdpReason) {
	tb.Helper()
	before := sumCounters(tb, objs.XdpStats)
	ret, err := objs.XdpIngress.Run(&ebpf.RunOptions{Data: data})
	if err != nil {
		tb.Fatalf("prog.Run: %v", err)
	}
	after := sumCounters(tb, objs.XdpStats)
	if ret != verdict {
		tb.Errorf("verdict = %d, want %d", ret, verdict)
	}
	for r := range after {
		dp := after[r].Packets - before[r].Packets
		db := after[r].Bytes - before[r].Bytes
		want := bpf.DorivoCounter{}
		if bpf.DorivoXdpReason(r) == reason {
			want = bpf.DorivoCounter{Packets: 1, Bytes: uint64(len(data))}
		}
		if dp != want.Packets || db != want.Bytes {
			tb.Errorf("xdp_stats[%s] moved by %d packets %d bytes, want %d/%d",
				reasonNames[bpf.DorivoXdpReason(r)], dp, db, want.Packets, want.Bytes)
		}
	}
}

func TestXDPVerdicts(t *testing.T) {
	objs := loadObjects(t)

	get := newReq(bpf.DorivoOpcodeOP_GET, "acme", "{acme}:k", "")
	set := newReq(bpf.DorivoOpcodeOP_SET, "acme", "{acme}:k", "value")
	del := newReq(bpf.DorivoOpcodeOP_DEL, "acme", "{acme}:k", "")
	with := func(r req, f func(*req)) []byte { f(&r); return r.bytes() }
	v4 := func(p []byte) frame { return udpFrame(cli4, srv4, p) }
	v6 := func(p []byte) frame { return udpFrame(cli6, srv6, p) }
	cut := func(b []byte, n int) []byte { return b[:n] }
	const eth, vlan, ip4, ip6, udp, hdr = 14, 4, 20, 40, 8, 16

	valid4 := v4(get.bytes()).bytes()
	tcp4 := frame{src: cli4, dst: srv4, proto: ipProtoTCP, sport: 40000, dport: tcpPort}
	bigValue := strings.Repeat("v", int(bpf.DorivoProtoPROTO_MAX_VALUE_LEN)+500)

	for _, tc := range []struct {
		name    string
		data    []byte
		verdict uint32
		reason  bpf.DorivoXdpReason
		tag     string // valid datagrams: the tenant whose counter moves
	}{
		// Valid datagrams.
		{"v4 GET", valid4, xdpPass, bpf.DorivoXdpReasonXDP_R_PASS_UDP, "acme"},
		{"v4 SET", v4(set.bytes()).bytes(), xdpPass, bpf.DorivoXdpReasonXDP_R_PASS_UDP, "acme"},
		{"v4 DEL", v4(del.bytes()).bytes(), xdpPass, bpf.DorivoXdpReasonXDP_R_PASS_UDP, "acme"},
		{"v6 GET", v6(get.bytes()).bytes(), xdpPass, bpf.DorivoXdpReasonXDP_R_PASS_UDP, "acme"},
		{"v4 802.1Q", func() []byte { f := v4(set.bytes()); f.vlanTPID = tpid8021Q; return f.bytes() }(), xdpPass, bpf.DorivoXdpReasonXDP_R_PASS_UDP, "acme"},
		{"v6 802.1ad", func() []byte { f := v6(set.bytes()); f.vlanTPID = tpid8021AD; return f.bytes() }(), xdpPass, bpf.DorivoXdpReasonXDP_R_PASS_UDP, "acme"},
		{"v4 options", func() []byte { f := v4(get.bytes()); f.ipOptions = make([]byte, 40); return f.bytes() }(), xdpPass, bpf.DorivoXdpReasonXDP_R_PASS_UDP, "acme"},
		{"ethernet padding", append(v4(newReq(bpf.DorivoOpcodeOP_GET, "a", "a", "").bytes()).bytes(), make([]byte, 20)...), xdpPass, bpf.DorivoXdpReasonXDP_R_PASS_UDP, "a"},
		{"longest tag and key", v4(newReq(bpf.DorivoOpcodeOP_GET, strings.Repeat("t", 64), strings.Repeat("k", 512), "").bytes()).bytes(), xdpPass, bpf.DorivoXdpReasonXDP_R_PASS_UDP, strings.Repeat("t", 64)},
		{"oversized SET value passes", v4(newReq(bpf.DorivoOpcodeOP_SET, "big", "big", bigValue).bytes()).bytes(), xdpPass, bpf.DorivoXdpReasonXDP_R_PASS_UDP, "big"},

		// Truncated at each header boundary.
		{"ends after ethernet", cut(valid4, eth), xdpPass, bpf.DorivoXdpReasonXDP_R_PASS_SHORT, ""},
		{"ends inside vlan", func() []byte { f := v4(get.bytes()); f.vlanTPID = tpid8021Q; return cut(f.bytes(), eth+2) }(), xdpPass, bpf.DorivoXdpReasonXDP_R_PASS_SHORT, ""},
		{"ends after vlan", func() []byte { f := v4(get.bytes()); f.vlanTPID = tpid8021Q; return cut(f.bytes(), eth+vlan) }(), xdpPass, bpf.DorivoXdpReasonXDP_R_PASS_SHORT, ""},
		{"ends inside ipv4", cut(valid4, eth+ip4-1), xdpPass, bpf.DorivoXdpReasonXDP_R_PASS_SHORT, ""},
		{"ends inside ipv4 options", func() []byte { f := v4(get.bytes()); f.ipOptions = make([]byte, 8); return cut(f.bytes(), eth+ip4+4) }(), xdpPass, bpf.DorivoXdpReasonXDP_R_PASS_SHORT, ""},
		{"ends inside ipv6", cut(v6(get.bytes()).bytes(), eth+ip6-1), xdpPass, bpf.DorivoXdpReasonXDP_R_PASS_SHORT, ""},
		{"ends after ipv4", cut(valid4, eth+ip4), xdpPass, bpf.DorivoXdpReasonXDP_R_PASS_SHORT, ""},
		{"ends inside udp", cut(valid4, eth+ip4+udp-1), xdpPass, bpf.DorivoXdpReasonXDP_R_PASS_SHORT, ""},
		{"ends inside tcp ports", cut(tcp4.bytes(), eth+ip4+3), xdpPass, bpf.DorivoXdpReasonXDP_R_PASS_SHORT, ""},
		{"ends after udp", cut(valid4, eth+ip4+udp), xdpDrop, bpf.DorivoXdpReasonXDP_R_DROP_UDP_LEN, ""},
		{"ends inside wire header", cut(valid4, eth+ip4+udp+hdr-1), xdpDrop, bpf.DorivoXdpReasonXDP_R_DROP_UDP_LEN, ""},
		{"ends inside tag", cut(valid4, eth+ip4+udp+hdr+2), xdpDrop, bpf.DorivoXdpReasonXDP_R_DROP_UDP_LEN, ""},
		{"ihl below 5", func() []byte { b := v4(get.bytes()).bytes(); b[eth] = 0x44; return b }(), xdpPass, bpf.DorivoXdpReasonXDP_R_PASS_SHORT, ""},
		// Same truncations with IP and UDP lengths that agree with the frame.
		{"empty datagram", v4(nil).bytes(), xdpDrop, bpf.DorivoXdpReasonXDP_R_DROP_SHORT_HDR, ""},
		{"short wire header", v4(cut(get.bytes(), hdr-1)).bytes(), xdpDrop, bpf.DorivoXdpReasonXDP_R_DROP_SHORT_HDR, ""},
		{"datagram ends inside tag", v4(cut(get.bytes(), hdr+2)).bytes(), xdpDrop, bpf.DorivoXdpReasonXDP_R_DROP_BAD_LENGTH, ""},

		// Bad headers.
		{"bad magic", v4(with(get, func(r *req) { r.magic = 0xD018 })).bytes(), xdpDrop, bpf.DorivoXdpReasonXDP_R_DROP_BAD_MAGIC, ""},
		{"bad version", v4(with(get, func(r *req) { r.version = 3 })).bytes(), xdpDrop, bpf.DorivoXdpReasonXDP_R_DROP_BAD_VERSION, ""},
		{"opcode 0", v4(with(get, func(r *req) { r.op = 0 })).bytes(), xdpDrop, bpf.DorivoXdpReasonXDP_R_DROP_BAD_OPCODE, ""},
		{"opcode 4", v4(with(get, func(r *req) { r.op = 4 })).bytes(), xdpDrop, bpf.DorivoXdpReasonXDP_R_DROP_BAD_OPCODE, ""},
		{"reply flag", v4(with(get, func(r *req) { r.flags = uint8(bpf.DorivoProtoPROTO_FLAG_REPLY) })).bytes(), xdpDrop, bpf.DorivoXdpReasonXDP_R_DROP_BAD_OPCODE, ""},
		{"unknown flag", v4(with(get, func(r *req) { r.flags = 0x80 })).bytes(), xdpDrop, bpf.DorivoXdpReasonXDP_R_DROP_BAD_OPCODE, ""},
		{"status set", v4(with(get, func(r *req) { r.status = 1 })).bytes(), xdpDrop, bpf.DorivoXdpReasonXDP_R_DROP_BAD_OPCODE, ""},
		{"reserved set", v4(with(get, func(r *req) { r.reserved = 1 })).bytes(), xdpDrop, bpf.DorivoXdpReasonXDP_R_DROP_BAD_OPCODE, ""},
		{"tag_len 0", v4(with(get, func(r *req) { r.tag = nil })).bytes(), xdpDrop, bpf.DorivoXdpReasonXDP_R_DROP_BAD_TAG_LEN, ""},
		{"tag_len 65", v4(with(get, func(r *req) { r.tag = bytes.Repeat([]byte("t"), 65) })).bytes(), xdpDrop, bpf.DorivoXdpReasonXDP_R_DROP_BAD_TAG_LEN, ""},
		{"key_len 0", v4(with(get, func(r *req) { r.key = nil })).bytes(), xdpDrop, bpf.DorivoXdpReasonXDP_R_DROP_BAD_LENGTH, ""},
		{"key_len 513", v4(with(get, func(r *req) { r.key = bytes.Repeat([]byte("k"), 513) })).bytes(), xdpDrop, bpf.DorivoXdpReasonXDP_R_DROP_BAD_LENGTH, ""},
		{"GET with value", v4(with(get, func(r *req) { r.value = []byte("x") })).bytes(), xdpDrop, bpf.DorivoXdpReasonXDP_R_DROP_BAD_LENGTH, ""},
		{"DEL with value", v4(with(del, func(r *req) { r.value = []byte("x") })).bytes(), xdpDrop, bpf.DorivoXdpReasonXDP_R_DROP_BAD_LENGTH, ""},
		{"lengths one short", v4(with(set, func(r *req) { r.valueLen = len(r.value) - 1 })).bytes(), xdpDrop, bpf.DorivoXdpReasonXDP_R_DROP_BAD_LENGTH, ""},
		{"lengths one long", v4(with(set, func(r *req) { r.keyLen = len(r.key) + 1 })).bytes(), xdpDrop, bpf.DorivoXdpReasonXDP_R_DROP_BAD_LENGTH, ""},
		{"tag_len past payload", v4(with(get, func(r *req) { r.tagLen = 64; r.keyLen = 1 })).bytes(), xdpDrop, bpf.DorivoXdpReasonXDP_R_DROP_BAD_LENGTH, ""},

		// UDP and IP length disagreements.
		{"udp len below 8", func() []byte { f := v4(get.bytes()); f.udpLen = 7; return f.bytes() }(), xdpDrop, bpf.DorivoXdpReasonXDP_R_DROP_UDP_LEN, ""},
		{"udp len above ip payload", func() []byte { f := v4(get.bytes()); f.udpLen = udp + len(get.bytes()) + 1; return f.bytes() }(), xdpDrop, bpf.DorivoXdpReasonXDP_R_DROP_UDP_LEN, ""},
		{"udp len below ip payload", func() []byte { f := v4(get.bytes()); f.udpLen = udp + len(get.bytes()) - 1; return f.bytes() }(), xdpDrop, bpf.DorivoXdpReasonXDP_R_DROP_UDP_LEN, ""},
		{"ip total length below header", func() []byte { f := v4(get.bytes()); f.ipTotLen = 10; return f.bytes() }(), xdpDrop, bpf.DorivoXdpReasonXDP_R_DROP_UDP_LEN, ""},
		{"ip and udp length past frame end", cut(func() []byte { f := v4(get.bytes()); return f.bytes() }(), len(valid4)-1), xdpDrop, bpf.DorivoXdpReasonXDP_R_DROP_UDP_LEN, ""},
		{"ipv6 payload length mismatch", func() []byte { f := v6(get.bytes()); f.ipTotLen = udp + len(get.bytes()) + 4; return f.bytes() }(), xdpDrop, bpf.DorivoXdpReasonXDP_R_DROP_UDP_LEN, ""},

		// Fragments.
		{"first fragment", func() []byte { f := v4(get.bytes()); f.fragOff = 0x2000; return f.bytes() }(), xdpDrop, bpf.DorivoXdpReasonXDP_R_DROP_FRAGMENT, ""},
		{"later fragment: port unknown", func() []byte { f := v4(get.bytes()); f.fragOff = 0x0010; return f.bytes() }(), xdpPass, bpf.DorivoXdpReasonXDP_R_PASS_OTHER, ""},
		{"don't fragment is fine", func() []byte { f := v4(get.bytes()); f.fragOff = 0x4000; return f.bytes() }(), xdpPass, bpf.DorivoXdpReasonXDP_R_PASS_UDP, "acme"},

		// Not ours.
		{"udp other port", func() []byte { f := v4(get.bytes()); f.dport = udpPort + 1; return f.bytes() }(), xdpPass, bpf.DorivoXdpReasonXDP_R_PASS_OTHER, ""},
		{"udp to the tcp port", func() []byte { f := v4(get.bytes()); f.dport = tcpPort; return f.bytes() }(), xdpPass, bpf.DorivoXdpReasonXDP_R_PASS_OTHER, ""},
		{"udp from the service port", func() []byte { f := v4([]byte("x")); f.sport, f.dport = udpPort, 40000; return f.bytes() }(), xdpPass, bpf.DorivoXdpReasonXDP_R_PASS_OTHER, ""},
		{"tcp to service port", tcp4.bytes(), xdpPass, bpf.DorivoXdpReasonXDP_R_PASS_TCP, ""},
		{"tcp v6 802.1Q to service port", func() []byte { f := tcp4; f.src, f.dst, f.vlanTPID = cli6, srv6, tpid8021Q; return f.bytes() }(), xdpPass, bpf.DorivoXdpReasonXDP_R_PASS_TCP, ""},
		{"tcp other port", func() []byte { f := tcp4; f.dport = 22; return f.bytes() }(), xdpPass, bpf.DorivoXdpReasonXDP_R_PASS_OTHER, ""},
		{"tcp to the udp port", func() []byte { f := tcp4; f.dport = udpPort; return f.bytes() }(), xdpPass, bpf.DorivoXdpReasonXDP_R_PASS_OTHER, ""},
		{"icmp", func() []byte { f := v4(get.bytes()); b := f.bytes(); b[eth+9] = 1; return b }(), xdpPass, bpf.DorivoXdpReasonXDP_R_PASS_OTHER, ""},
		{"ipv6 destination options header", func() []byte { f := v6(get.bytes()); f.nextHeader = 60; return f.bytes() }(), xdpPass, bpf.DorivoXdpReasonXDP_R_PASS_OTHER, ""},
		{"arp", append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06}, make([]byte, 28)...), xdpPass, bpf.DorivoXdpReasonXDP_R_PASS_OTHER, ""},
		{"two vlan tags", func() []byte {
			f := v4(get.bytes())
			f.vlanTPID = tpid8021AD
			b := f.bytes()
			// Insert an inner 802.1Q tag: at most one tag is parsed.
			return append(append(append([]byte{}, b[:16]...), 0x81, 0x00, 0, 7), b[16:]...)
		}(), xdpPass, bpf.DorivoXdpReasonXDP_R_PASS_OTHER, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s uint16
			var before bpf.DorivoTenantCounter
			if tc.tag != "" {
				s = slot.OfTag([]byte(tc.tag))
				before = tenantCounter(t, objs, s)
			}
			runXDP(t, objs, tc.data, tc.verdict, tc.reason)
			if tc.tag != "" {
				after := tenantCounter(t, objs, s)
				if after.Packets-before.Packets != 1 || after.Bytes-before.Bytes != uint64(len(tc.data)) || after.QuotaDrops != before.QuotaDrops {
					t.Errorf("tenant_stats[%d] moved %+v -> %+v, want +1 packet, +%d bytes", s, before, after, len(tc.data))
				}
			}
		})
	}
}

// Tenant counters move only for valid datagrams.
func TestXDPTenantStatsOnlyForValidDatagrams(t *testing.T) {
	objs := loadObjects(t)
	r := newReq(bpf.DorivoOpcodeOP_GET, "acme", "{acme}:k", "")
	r.magic = 0xBEEF
	runXDP(t, objs, udpFrame(cli4, srv4, r.bytes()).bytes(), xdpDrop, bpf.DorivoXdpReasonXDP_R_DROP_BAD_MAGIC)
	if c := tenantCounter(t, objs, slot.OfTag([]byte("acme"))); c != (bpf.DorivoTenantCounter{}) {
		t.Fatalf("tenant counter moved for a dropped datagram: %+v", c)
	}
}

// Without a service port nothing is ours: not even a perfect datagram.
func TestXDPNoServicePort(t *testing.T) {
	objs := loadObjects(t)
	valid := udpFrame(cli4, srv4, newReq(bpf.DorivoOpcodeOP_GET, "acme", "k", "").bytes())
	tcp := frame{src: cli4, dst: srv4, proto: ipProtoTCP, sport: 40000, dport: tcpPort}
	for _, cfg := range []bpf.DorivoAgentConfig{
		{},
		{TcpPort: tcpPort + 1, UdpPort: 0, NumLoops: 4},
	} {
		t.Run(fmt.Sprintf("%+v", cfg), func(t *testing.T) {
			setConfig(t, objs, cfg)
			runXDP(t, objs, valid.bytes(), xdpPass, bpf.DorivoXdpReasonXDP_R_PASS_OTHER)
			runXDP(t, objs, tcp.bytes(), xdpPass, bpf.DorivoXdpReasonXDP_R_PASS_OTHER)
		})
	}
	// A zero UDP port must not match a datagram sent to port 0 either.
	zero := valid
	zero.dport = 0
	setConfig(t, objs, bpf.DorivoAgentConfig{TcpPort: tcpPort})
	runXDP(t, objs, zero.bytes(), xdpPass, bpf.DorivoXdpReasonXDP_R_PASS_OTHER)
}

// The kernel refuses to test-run XDP on less than an Ethernet header, so
// frames shorter than 14 bytes can only reach the program from a driver;
// parse_eth checks them like any other header.
func TestXDPRunRefusesSubEthernetFrames(t *testing.T) {
	objs := loadObjects(t)
	_, err := objs.XdpIngress.Run(&ebpf.RunOptions{Data: make([]byte, 13)})
	if !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("13-byte frame: err = %v, want EINVAL", err)
	}
}
