package bpf_test

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/dorivo/dorivo/bpf"
	"github.com/dorivo/dorivo/datapath/wire"
	"github.com/dorivo/dorivo/datapath/wire/auth"
	"github.com/dorivo/dorivo/shardstore/slot"
)

const (
	xdpTx       = 3
	txOverQuota = bpf.DorivoXdpReasonXDP_R_TX_OVER_QUOTA
	replyBurst  = int(bpf.DorivoOverQuotaReplyOVER_QUOTA_REPLY_BURST)
	replyRate   = int(bpf.DorivoOverQuotaReplyOVER_QUOTA_REPLY_RATE)
	// farFuture as a bucket's last refill: it never refills.
	farFuture = ^uint64(0) >> 1
)

// overQuota puts tag's slot over its quota for good: a rule, and an empty
// bucket that never refills.
func overQuota(tb testing.TB, objs *bpf.DorivoObjects, tag string) uint32 {
	tb.Helper()
	s := uint32(slot.OfTag([]byte(tag)))
	if err := objs.QuotaRules.Put(s, bpf.DorivoQuotaRule{Rate: 1, Burst: 1}); err != nil {
		tb.Fatal(err)
	}
	if err := objs.QuotaBuckets.Put(s, bpf.DorivoQuotaBucket{LastNs: farFuture}); err != nil {
		tb.Fatal(err)
	}
	return s
}

func setReplyBucket(tb testing.TB, objs *bpf.DorivoObjects, s uint32, b bpf.DorivoQuotaBucket) {
	tb.Helper()
	if err := objs.ReplyBuckets.Put(s, b); err != nil {
		tb.Fatal(err)
	}
}

// runXDPOut is runXDP that also returns the frame as the program left it.
// The output buffer has room for more than the input, so a reply larger
// than its request would show.
func runXDPOut(tb testing.TB, objs *bpf.DorivoObjects, data []byte, verdict uint32, reason bpf.DorivoXdpReason) []byte {
	tb.Helper()
	before := sumCounters(tb, objs.XdpStats)
	opts := ebpf.RunOptions{Data: data, DataOut: make([]byte, len(data)+256)}
	ret, err := objs.XdpIngress.Run(&opts)
	if err != nil {
		tb.Fatalf("prog.Run: %v", err)
	}
	after := sumCounters(tb, objs.XdpStats)
	if ret != verdict {
		tb.Errorf("verdict = %d, want %d", ret, verdict)
	}
	for r := range after {
		dp, db := after[r].Packets-before[r].Packets, after[r].Bytes-before[r].Bytes
		var wantP, wantB uint64
		if bpf.DorivoXdpReason(r) == reason {
			wantP, wantB = 1, uint64(len(data))
		}
		if dp != wantP || db != wantB {
			tb.Errorf("xdp_stats[%s] moved by %d packets %d bytes, want %d/%d",
				reasonNames[bpf.DorivoXdpReason(r)], dp, db, wantP, wantB)
		}
	}
	return opts.DataOut
}

// udpChecksum is the UDP checksum over the pseudo-header of src and dst
// and the UDP header and payload in udp; 0 when udp's own checksum field
// holds the right value.
func udpChecksum(src, dst netip.Addr, udp []byte) uint16 {
	var pseudo []byte
	pseudo = append(pseudo, src.AsSlice()...)
	pseudo = append(pseudo, dst.AsSlice()...)
	pseudo = append(pseudo, 0, ipProtoUDP)
	pseudo = binary.BigEndian.AppendUint16(pseudo, uint16(len(udp)))
	b := append(pseudo, udp...)
	if len(b)%2 == 1 {
		b = append(b, 0)
	}
	return ipChecksum(b)
}

// checkReply checks that out is the signed OVER_QUOTA reply to the
// signed request payload p carried by frame f, as Go builds it, in a
// frame addressed back to f's sender.
func checkReply(t *testing.T, f frame, p []byte, out []byte, k wire.Key) {
	t.Helper()
	var r wire.Request
	if err := wire.ParseRequest(p, &r); err != nil {
		t.Fatal(err)
	}
	want, err := wire.AppendSignedReply(nil, &wire.Reply{ID: r.ID, Op: r.Op, Status: wire.StatusOverQuota}, k, r.MAC)
	if err != nil {
		t.Fatal(err)
	}
	got := checkReplyFrame(t, f, out, want)
	var rep wire.Reply
	if err := wire.ParseReply(got, &rep); err != nil || rep.Status != wire.StatusOverQuota || rep.RequestMAC != r.MAC || !wire.Verify(got, k) {
		t.Errorf("reply %+v (err %v) does not verify as the OVER_QUOTA answer to MAC %#x", rep, err, r.MAC)
	}
}

// checkReplyFrame checks that out is the datagram want in a frame
// addressed back to f's sender: MACs, addresses and ports swapped, VLAN
// tag kept, lengths and both checksums right, never longer than f. It
// returns the datagram out carries.
func checkReplyFrame(t *testing.T, f frame, out, want []byte) []byte {
	t.Helper()
	in := f.bytes()
	be := binary.BigEndian
	l2 := 14
	if f.vlanTPID != 0 {
		l2 += 4
	}
	l3 := 20
	if f.src.Is6() {
		l3 = 40
	}
	if len(out) != l2+l3+8+len(want) || len(out) > len(in) {
		t.Fatalf("reply frame of %d bytes, want %d (the request's is %d)", len(out), l2+l3+8+len(want), len(in))
	}
	if !bytes.Equal(out[0:6], in[6:12]) || !bytes.Equal(out[6:12], in[0:6]) {
		t.Errorf("MACs: dst %x src %x, want the request's swapped (dst %x src %x)", out[0:6], out[6:12], in[0:6], in[6:12])
	}
	// EtherType, and the VLAN tag as it came.
	if !bytes.Equal(out[12:l2], in[12:l2]) {
		t.Errorf("L2 after the MACs: %x, want %x", out[12:l2], in[12:l2])
	}
	ip := out[l2 : l2+l3]
	var src, dst netip.Addr
	if f.src.Is4() {
		src, dst = netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20]))
		if ip[0] != 0x45 || be.Uint16(ip[2:]) != uint16(l3+8+len(want)) || ip[9] != ipProtoUDP || ip[8] == 0 || be.Uint16(ip[6:])&0x3fff != 0 {
			t.Errorf("IPv4 header %x: want version 4, ihl 5, total length %d, UDP, a TTL, not a fragment", ip, l3+8+len(want))
		}
		if c := ipChecksum(ip); c != 0 {
			t.Errorf("IPv4 header checksum %#04x is off by %#04x", be.Uint16(ip[10:]), c)
		}
	} else {
		src, dst = netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40]))
		if ip[0]>>4 != 6 || be.Uint16(ip[4:]) != uint16(8+len(want)) || ip[6] != ipProtoUDP || ip[7] == 0 {
			t.Errorf("IPv6 header %x: want payload length %d, UDP, a hop limit", ip, 8+len(want))
		}
	}
	if src != f.dst || dst != f.src {
		t.Errorf("addresses %s -> %s, want %s -> %s", src, dst, f.dst, f.src)
	}
	udp := out[l2+l3:]
	if sp, dp := be.Uint16(udp[0:]), be.Uint16(udp[2:]); sp != f.dport || dp != f.sport {
		t.Errorf("ports %d -> %d, want %d -> %d", sp, dp, f.dport, f.sport)
	}
	if be.Uint16(udp[4:]) != uint16(len(udp)) {
		t.Errorf("UDP length %d, want %d", be.Uint16(udp[4:]), len(udp))
	}
	if be.Uint16(udp[6:]) == 0 {
		t.Error("UDP checksum 0 (none): IPv6 requires one, and it is always set")
	} else if c := udpChecksum(src, dst, udp); c != 0 {
		t.Errorf("UDP checksum %#04x is off by %#04x", be.Uint16(udp[6:]), c)
	}
	got := udp[8:]
	if !bytes.Equal(got, want) {
		t.Fatalf("reply datagram\n got %x\nwant %x", got, want)
	}
	return got
}

// A verified request over quota gets its signed OVER_QUOTA reply from XDP
// itself, over every frame layout, signed with the key it verified with.
func TestXDPOverQuotaReply(t *testing.T) {
	objs := loadObjects(t)
	setConfig(t, objs, authConfig(t, false))
	key, oldKey := testKey(t, 21), testKey(t, 22)
	putTenant(t, objs, "acme", auth.Tenant{Key: key, OldKey: oldKey, OldUntil: time.Now().Add(time.Hour)})
	s := overQuota(t, objs, "acme")
	get := wire.Request{ID: 0xa1b2c3d4, Op: wire.OpGet, Key: []byte("{acme}:k")}
	set := wire.Request{ID: 7, Op: wire.OpSet, Key: []byte("{acme}:user:1"), Value: bytes.Repeat([]byte("v"), 1024)}
	del := wire.Request{ID: 8, Op: wire.OpDel, Key: []byte("{acme}:k")}
	shortest := wire.Request{ID: 9, Op: wire.OpGet, Tag: []byte("a"), Key: []byte("a")}
	putTenant(t, objs, "a", auth.Tenant{Key: key})
	overQuota(t, objs, "a")
	v4 := func(p []byte) frame { return udpFrame(cli4, srv4, p) }
	v6 := func(p []byte) frame { return udpFrame(cli6, srv6, p) }
	with := func(f frame, g func(*frame)) frame { g(&f); return f }
	for _, tc := range []struct {
		name  string
		f     frame
		k     wire.Key
		pad   int // Ethernet padding after the IP packet
		slotN uint32
	}{
		{"v4 GET", v4(signed(t, get, key, time.Now())), key, 0, s},
		{"v6 GET", v6(signed(t, get, key, time.Now())), key, 0, s},
		{"v4 802.1Q SET", with(v4(signed(t, set, key, time.Now())), func(f *frame) { f.vlanTPID = tpid8021Q }), key, 0, s},
		{"v6 802.1ad DEL", with(v6(signed(t, del, key, time.Now())), func(f *frame) { f.vlanTPID = tpid8021AD }), key, 0, s},
		{"v6 802.1Q GET", with(v6(signed(t, get, key, time.Now())), func(f *frame) { f.vlanTPID = tpid8021Q }), key, 0, s},
		{"v4 options are dropped", with(v4(signed(t, get, key, time.Now())), func(f *frame) { f.ipOptions = make([]byte, 40) }), key, 0, s},
		{"v4 padding is cut", v4(signed(t, get, key, time.Now())), key, 20, s},
		{"signed with the old key: reply under it", v4(signed(t, get, oldKey, time.Now())), oldKey, 0, s},
		{"shortest signed request", with(v6(signed(t, shortest, key, time.Now())), func(f *frame) { f.vlanTPID = tpid8021Q }), key, 0, uint32(slot.OfTag([]byte("a")))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			setReplyBucket(t, objs, tc.slotN, bpf.DorivoQuotaBucket{}) // fresh: full
			data := append(tc.f.bytes(), make([]byte, tc.pad)...)
			before := tenantCounter(t, objs, uint16(tc.slotN))
			out := runXDPOut(t, objs, data, xdpTx, txOverQuota)
			checkReply(t, tc.f, tc.f.payload, out, tc.k)
			after := tenantCounter(t, objs, uint16(tc.slotN))
			if after.Packets-before.Packets != 1 || after.QuotaDrops-before.QuotaDrops != 1 {
				t.Errorf("tenant_stats moved %+v -> %+v, want one packet over quota", before, after)
			}
		})
	}
}

// Replies have a bucket of their own per slot: a flood over quota gets
// OVER_QUOTA_REPLY_BURST replies, then drops; another slot still gets its own.
func TestXDPOverQuotaReplyLimit(t *testing.T) {
	objs := loadObjects(t)
	setConfig(t, objs, authConfig(t, false))
	key := testKey(t, 23)
	putTenant(t, objs, "acme", auth.Tenant{Key: key})
	putTenant(t, objs, "beta", auth.Tenant{Key: key})
	s, sb := overQuota(t, objs, "acme"), overQuota(t, objs, "beta")
	acme := udpFrame(cli4, srv4, signed(t, wire.Request{Op: wire.OpGet, Key: []byte("{acme}:k")}, key, time.Now())).bytes()
	beta := udpFrame(cli6, srv6, signed(t, wire.Request{Op: wire.OpGet, Key: []byte("{beta}:k")}, key, time.Now())).bytes()

	// Separate runs: a reply rewrites the frame, which a repeat would reuse.
	flood := func(data []byte, n int) (tx, drop int) {
		for range n {
			before := sumCounters(t, objs.XdpStats)
			ret, err := objs.XdpIngress.Run(&ebpf.RunOptions{Data: data})
			if err != nil {
				t.Fatal(err)
			}
			after := sumCounters(t, objs.XdpStats)
			dtx := after[txOverQuota].Packets - before[txOverQuota].Packets
			ddrop := after[dropQuota].Packets - before[dropQuota].Packets
			switch {
			case ret == xdpTx && dtx == 1 && ddrop == 0:
				tx++
			case ret == xdpDrop && ddrop == 1 && dtx == 0:
				drop++
			default:
				t.Fatalf("verdict %d with tx_over_quota +%d, drop_quota +%d", ret, dtx, ddrop)
			}
		}
		return tx, drop
	}
	// A full bucket that never refills: exactly the burst is answered.
	setReplyBucket(t, objs, s, bpf.DorivoQuotaBucket{TokensMilli: uint64(replyBurst) * 1000, LastNs: farFuture})
	if tx, drop := flood(acme, replyBurst+20); tx != replyBurst || drop != 20 {
		t.Errorf("full bucket: %d replies, %d drops, want %d and 20", tx, drop, replyBurst)
	}
	// Empty: all dropped, and another slot is not affected.
	if tx, drop := flood(acme, 10); tx != 0 || drop != 10 {
		t.Errorf("empty bucket: %d replies, %d drops, want 0 and 10", tx, drop)
	}
	if tx, _ := flood(beta, 1); tx != 1 {
		t.Errorf("another slot got %d replies, want 1", tx)
	}
	// A fresh bucket starts full, then refills at OVER_QUOTA_REPLY_RATE:
	// at most elapsed x rate more than the burst while the flood lasts.
	setReplyBucket(t, objs, s, bpf.DorivoQuotaBucket{})
	start := time.Now()
	tx, drop := flood(acme, 3*replyBurst)
	extra := int(time.Since(start).Seconds()*float64(replyRate)) + 1
	if tx < replyBurst || tx > replyBurst+extra || tx+drop != 3*replyBurst {
		t.Errorf("fresh bucket: %d replies, %d drops of %d, want %d to %d replies", tx, drop, 3*replyBurst, replyBurst, replyBurst+extra)
	}
	// Idle for a second: a full burst again.
	setReplyBucket(t, objs, s, bpf.DorivoQuotaBucket{LastNs: monotonicNs(t) - uint64(time.Second)})
	start = time.Now()
	tx, _ = flood(acme, 2*replyBurst)
	extra = int(time.Since(start).Seconds()*float64(replyRate)) + 1
	if tx < replyBurst || tx > replyBurst+extra {
		t.Errorf("after 1 s idle: %d replies, want %d to %d", tx, replyBurst, replyBurst+extra)
	}
	var sbb bpf.DorivoQuotaBucket
	if err := objs.ReplyBuckets.Lookup(sb, &sbb); err != nil || sbb.LastNs == 0 {
		t.Errorf("beta's reply bucket %+v (err %v): want the one it used", sbb, err)
	}
}

// Nothing unproven is answered: unsigned, forged and replayed datagrams
// over quota are dropped, leave the frame as it was and touch no reply
// bucket.
func TestXDPOverQuotaUnprovenDropped(t *testing.T) {
	objs := loadObjects(t)
	setConfig(t, objs, authConfig(t, true)) // tags without an entry may send unsigned
	key := testKey(t, 24)
	putTenant(t, objs, "mixed", auth.Tenant{Key: key, AllowUnsigned: true})
	sm, sl := overQuota(t, objs, "mixed"), overQuota(t, objs, "legacy")
	getMixed := wire.Request{Op: wire.OpGet, Key: []byte("{mixed}:k")}
	for _, tc := range []struct {
		name   string
		data   []byte
		reason bpf.DorivoXdpReason
	}{
		{"unsigned, tenant without an entry", udpFrame(cli4, srv4, unsignedReq(t, wire.Request{Op: wire.OpGet, Key: []byte("{legacy}:k")})).bytes(), dropQuota},
		{"unsigned from a keyed tenant that allows it", udpFrame(cli6, srv6, unsignedReq(t, getMixed)).bytes(), dropQuota},
		{"forged", udpFrame(cli4, srv4, signed(t, getMixed, testKey(t, 25), time.Now())).bytes(), dropForged},
		{"replayed", udpFrame(cli4, srv4, signed(t, getMixed, key, time.Now().Add(-time.Minute))).bytes(), dropReplay},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := runXDPOut(t, objs, tc.data, xdpDrop, tc.reason)
			if !bytes.Equal(out, tc.data) {
				t.Errorf("dropped frame was rewritten:\n got %x\nwant %x", out, tc.data)
			}
		})
	}
	for _, s := range []uint32{sm, sl} {
		var b bpf.DorivoQuotaBucket
		if err := objs.ReplyBuckets.Lookup(s, &b); err != nil || b != (bpf.DorivoQuotaBucket{}) {
			t.Errorf("reply bucket of slot %d = %+v (err %v), want untouched", s, b, err)
		}
	}
	// The same tenant's signed request is answered.
	runXDPOut(t, objs, udpFrame(cli4, srv4, signed(t, getMixed, key, time.Now())).bytes(), xdpTx, txOverQuota)
}
