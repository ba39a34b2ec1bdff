package agentconfig

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"

	"github.com/dorivo/dorivo/bpf"
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
