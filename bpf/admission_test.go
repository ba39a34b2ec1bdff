package bpf_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/dorivo/dorivo/bpf"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// runRepeat runs xdp_ingress n times on data in one BPF_PROG_TEST_RUN (so
// n runs take microseconds and no refill sneaks in) and returns how much
// each xdp_stats reason moved.
func runRepeat(tb testing.TB, objs *bpf.DorivoObjects, data []byte, n uint32) map[bpf.DorivoXdpReason]uint64 {
	tb.Helper()
	before := sumCounters(tb, objs.XdpStats)
	if _, err := objs.XdpIngress.Run(&ebpf.RunOptions{Data: data, Repeat: n}); err != nil {
		tb.Fatal(err)
	}
	after := sumCounters(tb, objs.XdpStats)
	moved := map[bpf.DorivoXdpReason]uint64{}
	for r := range after {
		if d := after[r].Packets - before[r].Packets; d != 0 {
			moved[bpf.DorivoXdpReason(r)] = d
		}
	}
	return moved
}

func expectMoved(tb testing.TB, got map[bpf.DorivoXdpReason]uint64, want map[bpf.DorivoXdpReason]uint64) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Errorf("xdp_stats moved %v, want %v", named(got), named(want))
		return
	}
	for r, n := range want {
		if got[r] != n {
			tb.Errorf("xdp_stats moved %v, want %v", named(got), named(want))
			return
		}
	}
}

func named(m map[bpf.DorivoXdpReason]uint64) map[string]uint64 {
	out := map[string]uint64{}
	for r, n := range m {
		out[reasonNames[r]] = n
	}
	return out
}

func monotonicNs(tb testing.TB) uint64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		tb.Fatal(err)
	}
	return uint64(ts.Nano())
}

func datagramFor(tag string) []byte {
	return udpFrame(cli4, srv4, newReq(bpf.DorivoOpcodeOP_GET, tag, "{"+tag+"}:k", "").bytes()).bytes()
}

const (
	passUDP   = bpf.DorivoXdpReasonXDP_R_PASS_UDP
	passTCP   = bpf.DorivoXdpReasonXDP_R_PASS_TCP
	dropQuota = bpf.DorivoXdpReasonXDP_R_DROP_QUOTA
	dropACL   = bpf.DorivoXdpReasonXDP_R_DROP_ACL
)

func TestXDPQuotaBurst(t *testing.T) {
	objs := loadObjects(t)
	s := slot.OfTag([]byte("acme"))
	if err := objs.QuotaRules.Put(uint32(s), bpf.DorivoQuotaRule{Rate: 1, Burst: 5}); err != nil {
		t.Fatal(err)
	}
	// A fresh bucket starts full: exactly 5 of 25 pass, within microseconds.
	expectMoved(t, runRepeat(t, objs, datagramFor("acme"), 25), map[bpf.DorivoXdpReason]uint64{passUDP: 5, dropQuota: 20})
	c := tenantCounter(t, objs, s)
	if c.Packets != 25 || c.QuotaDrops != 20 {
		t.Errorf("tenant_stats[%d] = %+v, want 25 packets, 20 quota drops", s, c)
	}
	// Another tenant has no rule: unlimited.
	expectMoved(t, runRepeat(t, objs, datagramFor("other"), 100), map[bpf.DorivoXdpReason]uint64{passUDP: 100})
	if c := tenantCounter(t, objs, slot.OfTag([]byte("other"))); c.QuotaDrops != 0 || c.Packets != 100 {
		t.Errorf("unlimited tenant counter = %+v", c)
	}
}

func TestXDPQuotaRefill(t *testing.T) {
	objs := loadObjects(t)
	s := uint32(slot.OfTag([]byte("acme")))
	if err := objs.QuotaRules.Put(s, bpf.DorivoQuotaRule{Rate: 2, Burst: 10}); err != nil {
		t.Fatal(err)
	}
	// An empty bucket last refilled 1.5 s ago has earned 3 tokens at 2/s.
	last := monotonicNs(t) - uint64(1500*time.Millisecond)
	if err := objs.QuotaBuckets.Put(s, bpf.DorivoQuotaBucket{TokensMilli: 0, LastNs: last}); err != nil {
		t.Fatal(err)
	}
	expectMoved(t, runRepeat(t, objs, datagramFor("acme"), 10), map[bpf.DorivoXdpReason]uint64{passUDP: 3, dropQuota: 7})
	var b bpf.DorivoQuotaBucket
	if err := objs.QuotaBuckets.Lookup(s, &b); err != nil {
		t.Fatal(err)
	}
	// The clock advanced by exactly what the added milli-tokens are worth
	// at 2/s (500 us each), not to now: the sub-milli-token remainder is
	// kept for the next refill. The 3 passes spent 3000 of them.
	if b.TokensMilli >= 1000 || b.LastNs-last != (b.TokensMilli+3000)*500_000 {
		t.Errorf("bucket = {tokens_milli %d, last_ns %d} after a refill from last_ns %d: last_ns moved %d ns, want %d",
			b.TokensMilli, b.LastNs, last, b.LastNs-last, (b.TokensMilli+3000)*500_000)
	}

	// A long idle bucket (last refill at boot) refills only up to the burst.
	if err := objs.QuotaBuckets.Put(s, bpf.DorivoQuotaBucket{TokensMilli: 0, LastNs: 1}); err != nil {
		t.Fatal(err)
	}
	expectMoved(t, runRepeat(t, objs, datagramFor("acme"), 30), map[bpf.DorivoXdpReason]uint64{passUDP: 10, dropQuota: 20})
}

// Lowering a rule below the tokens held takes effect at once.
func TestXDPQuotaClampsToLoweredBurst(t *testing.T) {
	objs := loadObjects(t)
	s := uint32(slot.OfTag([]byte("acme")))
	if err := objs.QuotaRules.Put(s, bpf.DorivoQuotaRule{Rate: 1, Burst: 2}); err != nil {
		t.Fatal(err)
	}
	if err := objs.QuotaBuckets.Put(s, bpf.DorivoQuotaBucket{TokensMilli: 100_000, LastNs: monotonicNs(t)}); err != nil {
		t.Fatal(err)
	}
	expectMoved(t, runRepeat(t, objs, datagramFor("acme"), 10), map[bpf.DorivoXdpReason]uint64{passUDP: 2, dropQuota: 8})
}

func aclKey(prefix netip.Prefix) bpf.DorivoAclKey {
	k := bpf.DorivoAclKey{Prefixlen: uint32(prefix.Bits())}
	a := prefix.Addr()
	if a.Is4() {
		k.Prefixlen += 96
		a = netip.AddrFrom16(a.As16()) // ::ffff:a.b.c.d
	}
	k.Addr = a.As16()
	return k
}

func TestXDPACL(t *testing.T) {
	objs := loadObjects(t)
	setConfig(t, objs, bpf.DorivoAgentConfig{UdpPort: udpPort, TcpPort: tcpPort, AclEnabled: 1, AllowUnsigned: 1})
	datagram := func(src netip.Addr) []byte {
		dst := srv4
		if src.Is6() {
			dst = srv6
		}
		return udpFrame(src, dst, newReq(bpf.DorivoOpcodeOP_GET, "acme", "k", "").bytes()).bytes()
	}
	syn := func(src netip.Addr) []byte {
		dst := srv4
		if src.Is6() {
			dst = srv6
		}
		return frame{src: src, dst: dst, proto: ipProtoTCP, sport: 40000, dport: tcpPort}.bytes()
	}
	in4, out4 := netip.MustParseAddr("192.0.2.77"), netip.MustParseAddr("203.0.113.5")
	in6, out6 := netip.MustParseAddr("2001:db8::77"), netip.MustParseAddr("2001:db9::1")

	// Enabled with an empty ACL: nobody.
	runXDP(t, objs, datagram(in4), xdpDrop, dropACL)
	runXDP(t, objs, datagram(in6), xdpDrop, dropACL)
	runXDP(t, objs, syn(in4), xdpDrop, dropACL)

	for _, p := range []string{"192.0.2.0/24", "2001:db8::/64"} {
		if err := objs.Acl.Put(aclKey(netip.MustParsePrefix(p)), uint8(1)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name    string
		data    []byte
		verdict uint32
		reason  bpf.DorivoXdpReason
	}{
		{"v4 hit", datagram(in4), xdpPass, passUDP},
		{"v4 miss", datagram(out4), xdpDrop, dropACL},
		{"v6 hit", datagram(in6), xdpPass, passUDP},
		{"v6 miss", datagram(out6), xdpDrop, dropACL},
		// The v4 entry lives under ::ffff:0:0/96 and so never matches v6 sources.
		{"v6 with the v4 entry's low bits", datagram(netip.MustParseAddr("::c000:24d")), xdpDrop, dropACL},
		{"tcp v4 hit", syn(in4), xdpPass, passTCP},
		{"tcp v4 miss", syn(out4), xdpDrop, dropACL},
		{"tcp v6 hit", syn(in6), xdpPass, passTCP},
		{"tcp v6 miss", syn(out6), xdpDrop, dropACL},
		// Not a service port: the ACL does not apply.
		{"other port from a denied source", func() []byte {
			f := udpFrame(out4, srv4, []byte("x"))
			f.dport = 53
			return f.bytes()
		}(), xdpPass, bpf.DorivoXdpReasonXDP_R_PASS_OTHER},
	} {
		t.Run(tc.name, func(t *testing.T) { runXDP(t, objs, tc.data, tc.verdict, tc.reason) })
	}
	if c := tenantCounter(t, objs, slot.OfTag([]byte("acme"))); c.Packets != 2 {
		t.Errorf("tenant_stats counted %d datagrams, want the 2 the ACL let in", c.Packets)
	}

	// Disabled: everyone, whatever the trie holds.
	setConfig(t, objs, bpf.DorivoAgentConfig{UdpPort: udpPort, TcpPort: tcpPort, AllowUnsigned: 1})
	runXDP(t, objs, datagram(out4), xdpPass, passUDP)
	runXDP(t, objs, syn(out6), xdpPass, passTCP)
}

// A source the ACL refuses spends none of the tenant's tokens.
func TestXDPACLBeforeQuota(t *testing.T) {
	objs := loadObjects(t)
	setConfig(t, objs, bpf.DorivoAgentConfig{UdpPort: udpPort, AclEnabled: 1, AllowUnsigned: 1})
	if err := objs.Acl.Put(aclKey(netip.MustParsePrefix("192.0.2.10/32")), uint8(1)); err != nil {
		t.Fatal(err)
	}
	s := uint32(slot.OfTag([]byte("acme")))
	if err := objs.QuotaRules.Put(s, bpf.DorivoQuotaRule{Rate: 1, Burst: 1}); err != nil {
		t.Fatal(err)
	}
	denied := udpFrame(netip.MustParseAddr("192.0.2.11"), srv4, newReq(bpf.DorivoOpcodeOP_GET, "acme", "k", "").bytes()).bytes()
	expectMoved(t, runRepeat(t, objs, denied, 10), map[bpf.DorivoXdpReason]uint64{dropACL: 10})
	expectMoved(t, runRepeat(t, objs, datagramFor("acme"), 3), map[bpf.DorivoXdpReason]uint64{passUDP: 1, dropQuota: 2})
}
