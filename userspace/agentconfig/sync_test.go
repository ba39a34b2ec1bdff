package agentconfig

import (
	"net/netip"
	"testing"

	"github.com/dorivo/dorivo/bpf"
	"github.com/dorivo/dorivo/internal/testenv"
	"github.com/dorivo/dorivo/shardstore/slot"
)

func aclEntries(t *testing.T, m *bpf.DorivoMaps) map[string]bool {
	t.Helper()
	got := map[string]bool{}
	var k bpf.DorivoAclKey
	var v uint8
	it := m.Acl.Iterate()
	for it.Next(&k, &v) {
		got[keyString(k)] = true
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

func rule(t *testing.T, m *bpf.DorivoMaps, tag string) bpf.DorivoQuotaRule {
	t.Helper()
	var r bpf.DorivoQuotaRule
	if err := m.QuotaRules.Lookup(uint32(slot.OfTag([]byte(tag))), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func bucket(t *testing.T, m *bpf.DorivoMaps, tag string) bpf.DorivoQuotaBucket {
	t.Helper()
	var b bpf.DorivoQuotaBucket
	if err := m.QuotaBuckets.Lookup(uint32(slot.OfTag([]byte(tag))), &b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSyncReconciles applies a configuration, then a smaller one, to the
// real maps and checks that removed entries are gone, changed buckets are
// reset, untouched ones keep their state, and the attach info survives.
func TestSyncReconciles(t *testing.T) {
	testenv.RequireRoot(t)
	var m bpf.DorivoMaps
	if err := bpf.LoadDorivoObjects(&m, nil); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// The loader's fields in config[0] must survive a sync.
	if err := m.Config.Put(uint32(0), bpf.DorivoAgentConfig{XdpMode: 1, Ifindex: 9}); err != nil {
		t.Fatal(err)
	}
	c1 := &Config{UDPPort: 7000, TCPPort: 7001, Loops: 3,
		Quotas: []Quota{{"acme", 10, 20}, {"beta", 5, 5}, {"gamma", 1, 1}},
		Allow:  []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("fd00::/8")},
	}
	if err := Sync(&m, c1); err != nil {
		t.Fatal(err)
	}
	var cfg bpf.DorivoAgentConfig
	if err := m.Config.Lookup(uint32(0), &cfg); err != nil {
		t.Fatal(err)
	}
	tai, err := TAIOffset()
	if err != nil {
		t.Fatal(err)
	}
	if cfg != (bpf.DorivoAgentConfig{UdpPort: 7000, TcpPort: 7001, NumLoops: 3, AclEnabled: 1, XdpMode: 1, Ifindex: 9,
		ReplayWindowMs: 5000, TaiOffsetNs: int64(tai)}) {
		t.Errorf("config[0] = %+v", cfg)
	}
	if r := rule(t, &m, "acme"); r != (bpf.DorivoQuotaRule{Rate: 10, Burst: 20}) {
		t.Errorf("acme rule %+v", r)
	}
	if got := aclEntries(t, &m); len(got) != 2 || !got["10.1.0.0/16"] || !got["fd00::/8"] {
		t.Errorf("acl = %v", got)
	}
	tb, _ := slot.NewTable(3)
	for _, s := range []uint32{0, 5461, 5462, 16383} {
		var owner uint32
		if err := m.SlotLoop.Lookup(s, &owner); err != nil {
			t.Fatal(err)
		}
		if int(owner) != tb.Owner(uint16(s)) {
			t.Errorf("slot_loop[%d] = %d, want %d", s, owner, tb.Owner(uint16(s)))
		}
	}

	// The XDP program has been using the buckets.
	used := bpf.DorivoQuotaBucket{TokensMilli: 1234, LastNs: 99}
	for _, tag := range []string{"acme", "beta", "gamma"} {
		if err := m.QuotaBuckets.Put(uint32(slot.OfTag([]byte(tag))), used); err != nil {
			t.Fatal(err)
		}
	}

	// Reload: acme unchanged, beta changed, gamma removed, one prefix left.
	c2 := &Config{UDPPort: 7000, TCPPort: 7001, Loops: 1,
		Quotas: []Quota{{"acme", 10, 20}, {"beta", 50, 50}},
		Allow:  []netip.Prefix{netip.MustParsePrefix("fd00::/8")},
	}
	if err := Sync(&m, c2); err != nil {
		t.Fatal(err)
	}
	if b := bucket(t, &m, "acme"); b.TokensMilli != 1234 || b.LastNs != 99 {
		t.Errorf("unchanged acme bucket was reset: %+v", b)
	}
	if r, b := rule(t, &m, "beta"), bucket(t, &m, "beta"); r.Rate != 50 || b.LastNs != 0 {
		t.Errorf("changed beta: rule %+v bucket %+v, want new rule and a reset bucket", r, b)
	}
	if r, b := rule(t, &m, "gamma"), bucket(t, &m, "gamma"); r != (bpf.DorivoQuotaRule{}) || b.LastNs != 0 {
		t.Errorf("removed gamma: rule %+v bucket %+v, want zero", r, b)
	}
	if got := aclEntries(t, &m); len(got) != 1 || !got["fd00::/8"] {
		t.Errorf("acl after reload = %v", got)
	}
	var owner uint32
	if err := m.SlotLoop.Lookup(uint32(16383), &owner); err != nil || owner != 0 {
		t.Errorf("slot_loop after loops=1: %d %v", owner, err)
	}

	// No prefixes: the ACL is off and empty.
	c2.Allow = nil
	if err := Sync(&m, c2); err != nil {
		t.Fatal(err)
	}
	if err := m.Config.Lookup(uint32(0), &cfg); err != nil || cfg.AclEnabled != 0 {
		t.Errorf("acl_enabled = %d (%v), want 0", cfg.AclEnabled, err)
	}
	if got := aclEntries(t, &m); len(got) != 0 {
		t.Errorf("acl not emptied: %v", got)
	}
}
