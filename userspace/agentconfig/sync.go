package agentconfig

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"

	"github.com/cilium/ebpf"

	"golang.org/x/sys/unix"

	"github.com/dorivo/dorivo/bpf"
	"github.com/dorivo/dorivo/datapath/wire"
	"github.com/dorivo/dorivo/datapath/wire/auth"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// Sync makes the maps mirror c. It is idempotent and removes whatever an
// earlier configuration (or an earlier agent, through the pinned maps) put
// in that c no longer has.
func Sync(m *bpf.DorivoMaps, c *Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	rules, err := c.Rules()
	if err != nil {
		return err
	}
	table, err := c.Table()
	if err != nil {
		return err
	}
	if err := syncSlotLoop(m.SlotLoop, table); err != nil {
		return err
	}
	if err := syncQuotas(m.QuotaRules, m.QuotaBuckets, rules); err != nil {
		return err
	}
	// Keys before the policy in config[0]: a tenant given a key never
	// passes a moment unsigned, and a rotation keeps its old key.
	if err := syncAuth(m.TenantAuth, m.AuthSlots, c, time.Now()); err != nil {
		return err
	}
	tai, err := TAIOffset()
	if err != nil {
		return err
	}
	// ACL: admit the new prefixes before enabling, drop stale ones after.
	want := map[bpf.DorivoAclKey]bool{}
	for _, p := range c.Allow {
		want[ACLKey(p)] = true
	}
	for k := range want {
		if err := m.Acl.Put(k, uint8(1)); err != nil {
			return fmt.Errorf("acl: add %s: %w", keyString(k), err)
		}
	}
	if err := updateConfig(m.Config, func(cfg *bpf.DorivoAgentConfig) {
		cfg.UdpPort, cfg.TcpPort, cfg.NumLoops = c.UDPPort, c.TCPPort, uint32(c.Loops)
		cfg.AclEnabled = 0
		if len(want) > 0 {
			cfg.AclEnabled = 1
		}
		cfg.AllowUnsigned = 0
		if c.AllowUnsigned {
			cfg.AllowUnsigned = 1
		}
		cfg.ReplayWindowMs = uint32(c.Window() / time.Millisecond)
		cfg.TaiOffsetNs = int64(tai)
	}); err != nil {
		return err
	}
	var stale []bpf.DorivoAclKey
	var k bpf.DorivoAclKey
	var v uint8
	it := m.Acl.Iterate()
	for it.Next(&k, &v) {
		if !want[k] {
			stale = append(stale, k)
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("acl: list entries: %w", err)
	}
	for _, k := range stale {
		if err := m.Acl.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("acl: remove %s: %w", keyString(k), err)
		}
	}
	return nil
}

func updateConfig(m *ebpf.Map, fn func(*bpf.DorivoAgentConfig)) error {
	var cfg bpf.DorivoAgentConfig
	if err := m.Lookup(uint32(0), &cfg); err != nil {
		return fmt.Errorf("config map: read: %w", err)
	}
	fn(&cfg)
	if err := m.Put(uint32(0), &cfg); err != nil {
		return fmt.Errorf("config map: write: %w", err)
	}
	return nil
}

func syncSlotLoop(m *ebpf.Map, t *slot.Table) error {
	keys := make([]uint32, slot.Count)
	for i := range keys {
		keys[i] = uint32(i)
	}
	if _, err := m.BatchUpdate(keys, t[:], nil); err != nil {
		return fmt.Errorf("slot_loop: write %d slots: %w", slot.Count, err)
	}
	return nil
}

// syncQuotas rewrites only the slots whose rule changed, and resets their
// buckets so a new or changed rule starts with a full burst.
func syncQuotas(rulesMap, buckets *ebpf.Map, want map[uint16]bpf.DorivoQuotaRule) error {
	keys := make([]uint32, slot.Count)
	cur := make([]bpf.DorivoQuotaRule, slot.Count)
	var cursor ebpf.MapBatchCursor
	n, err := rulesMap.BatchLookup(&cursor, keys, cur, nil)
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("quota_rules: read: %w", err)
	}
	if n != slot.Count {
		return fmt.Errorf("quota_rules: read %d of %d slots", n, slot.Count)
	}
	for i := range slot.Count {
		w := want[uint16(keys[i])]
		if cur[i] == w {
			continue
		}
		if err := rulesMap.Put(keys[i], w); err != nil {
			return fmt.Errorf("quota_rules: slot %d: %w", keys[i], err)
		}
		if err := buckets.Put(keys[i], bpf.DorivoQuotaBucket{}); err != nil {
			return fmt.Errorf("quota_buckets: reset slot %d: %w", keys[i], err)
		}
	}
	return nil
}

// ACLKey is the LPM key of p: IPv4 as IPv4-mapped IPv6 with 96 added to
// the prefix length, as the XDP program looks sources up.
func ACLKey(p netip.Prefix) bpf.DorivoAclKey {
	a := p.Addr()
	bits := p.Bits()
	if a.Is4() {
		bits += 96
	}
	return bpf.DorivoAclKey{Prefixlen: uint32(bits), Addr: netip.AddrFrom16(a.As16()).As16()}
}

func keyString(k bpf.DorivoAclKey) string {
	a := netip.AddrFrom16(k.Addr)
	if a.Is4In6() && k.Prefixlen >= 96 {
		return netip.PrefixFrom(a.Unmap(), int(k.Prefixlen)-96).String()
	}
	return netip.PrefixFrom(a, int(k.Prefixlen)).String()
}

// TAIOffset is CLOCK_TAI - CLOCK_REALTIME, rounded to whole seconds: the
// kernel's TAI-UTC offset (0 unless NTP has set it, 37 s when it has).
// XDP computes Unix time as bpf_ktime_get_tai_ns() minus this, so it
// follows every step of the wall clock without the agent; only a leap
// second changes the offset, and the next Sync writes it.
func TAIOffset() (time.Duration, error) {
	var tai, real unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_TAI, &tai); err != nil {
		return 0, fmt.Errorf("read CLOCK_TAI: %w", err)
	}
	if err := unix.ClockGettime(unix.CLOCK_REALTIME, &real); err != nil {
		return 0, fmt.Errorf("read CLOCK_REALTIME: %w", err)
	}
	return time.Duration(math.Round(float64(tai.Nano()-real.Nano())/1e9)) * time.Second, nil
}

func authTag(tenant string) bpf.DorivoAuthTag {
	t := bpf.DorivoAuthTag{Len: uint8(len(tenant))}
	copy(t.Tag[:], tenant)
	return t
}

// wantAuth is the tenant_auth entry of every tenant c names, without the
// old-key slots (those depend on what the map holds).
func wantAuth(c *Config) map[bpf.DorivoAuthTag]bpf.DorivoAuthEntry {
	want := map[bpf.DorivoAuthTag]bpf.DorivoAuthEntry{}
	for _, t := range c.UnsignedTenants {
		e := want[authTag(t)]
		e.Flags |= uint32(bpf.DorivoAuthFlagAUTH_F_ALLOW_UNSIGNED)
		want[authTag(t)] = e
	}
	for _, k := range c.Keys {
		e := want[authTag(k.Tenant)]
		e.Key[0], e.Key[1] = k.Key.Halves()
		e.Flags |= uint32(bpf.DorivoAuthFlagAUTH_F_KEY)
		want[authTag(k.Tenant)] = e
	}
	return want
}

// syncAuth makes tenant_auth hold c's keys and unsigned policy. The map is
// the rotation's memory, so that a restarted agent keeps an overlap going:
// a key that differs from the map's current one moves that one to the old
// slot, verifying until now + c.Overlap(); an unchanged key keeps a live
// old slot. A tenant the configuration dropped is removed at once (its
// key is revoked, not rotated).
//
// auth_slots counts the entries of each slot, and XDP looks a tag up only
// in a slot that counts some: slots are counted for old and new entries
// while both exist, and only for the new ones once stale entries are gone.
func syncAuth(m, slots *ebpf.Map, c *Config, now time.Time) error {
	want := wantAuth(c)
	cur := map[bpf.DorivoAuthTag]bpf.DorivoAuthEntry{}
	var k bpf.DorivoAuthTag
	var v bpf.DorivoAuthEntry
	it := m.Iterate()
	for it.Next(&k, &v) {
		cur[k] = v
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("tenant_auth: list entries: %w", err)
	}
	nowNs := uint64(now.UnixNano())
	for tag, e := range want {
		old, had := cur[tag]
		if had && old.Flags&uint32(bpf.DorivoAuthFlagAUTH_F_KEY) != 0 && e.Flags&uint32(bpf.DorivoAuthFlagAUTH_F_KEY) != 0 {
			switch {
			case old.Key != e.Key:
				e.OldKey, e.OldUntilNs = old.Key, nowNs+uint64(c.Overlap())
			case old.OldUntilNs > nowNs:
				e.OldKey, e.OldUntilNs = old.OldKey, old.OldUntilNs
			}
		}
		if had && old == e {
			continue
		}
		if err := m.Put(tag, e); err != nil {
			return fmt.Errorf("tenant_auth: write tenant %q: %w", tag.Tag[:tag.Len], err)
		}
	}
	both := map[bpf.DorivoAuthTag]bool{}
	for tag := range want {
		both[tag] = true
	}
	for tag := range cur {
		both[tag] = true
	}
	if err := writeAuthSlots(slots, both); err != nil {
		return err
	}
	for tag := range cur {
		if _, ok := want[tag]; ok {
			continue
		}
		if err := m.Delete(tag); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("tenant_auth: remove tenant %q: %w", tag.Tag[:tag.Len], err)
		}
	}
	final := map[bpf.DorivoAuthTag]bool{}
	for tag := range want {
		final[tag] = true
	}
	return writeAuthSlots(slots, final)
}

// writeAuthSlots sets auth_slots to the number of tags in each slot.
func writeAuthSlots(m *ebpf.Map, tags map[bpf.DorivoAuthTag]bool) error {
	counts := make([]uint32, slot.Count)
	for tag := range tags {
		counts[slot.OfTag(tag.Tag[:tag.Len])]++
	}
	keys := make([]uint32, slot.Count)
	for i := range keys {
		keys[i] = uint32(i)
	}
	if _, err := m.BatchUpdate(keys, counts, nil); err != nil {
		return fmt.Errorf("auth_slots: write %d slots: %w", slot.Count, err)
	}
	return nil
}

// LoadAuthTable reads the policy Sync wrote (tenant_auth and config[0])
// back as the Go table the event loops check datagrams with, old keys and
// their deadlines included. Call it after every Sync.
func LoadAuthTable(m *bpf.DorivoMaps) (*auth.Table, error) {
	var cfg bpf.DorivoAgentConfig
	if err := m.Config.Lookup(uint32(0), &cfg); err != nil {
		return nil, fmt.Errorf("config map: read: %w", err)
	}
	t := &auth.Table{
		Tenants:       map[string]auth.Tenant{},
		AllowUnsigned: cfg.AllowUnsigned != 0,
		Window:        time.Duration(cfg.ReplayWindowMs) * time.Millisecond,
	}
	var k bpf.DorivoAuthTag
	var v bpf.DorivoAuthEntry
	it := m.TenantAuth.Iterate()
	for it.Next(&k, &v) {
		var ten auth.Tenant
		if v.Flags&uint32(bpf.DorivoAuthFlagAUTH_F_KEY) != 0 {
			ten.Key = wire.KeyFromHalves(v.Key[0], v.Key[1])
		}
		if v.OldUntilNs != 0 {
			ten.OldKey = wire.KeyFromHalves(v.OldKey[0], v.OldKey[1])
			ten.OldUntil = time.Unix(0, int64(v.OldUntilNs))
		}
		ten.AllowUnsigned = v.Flags&uint32(bpf.DorivoAuthFlagAUTH_F_ALLOW_UNSIGNED) != 0
		t.Tenants[string(k.Tag[:k.Len])] = ten
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("tenant_auth: list entries: %w", err)
	}
	return t, nil
}
