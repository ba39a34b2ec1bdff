package agentconfig

import (
	"fmt"
	"log/slog"
	"net/netip"
	"sort"
	"strings"
)

// CheckReload refuses next in place of the running prev when it would
// remove every allow prefix, which admits every source, unless next says
// so with allow_all. A file of null, {} or "allow": [] reloaded over a
// running ACL is a mistake until proven otherwise.
func CheckReload(prev, next *Config) error {
	if len(prev.Allow) > 0 && len(next.Allow) == 0 && !next.AllowAll {
		return fmt.Errorf("the new configuration removes all %d allow prefixes, which admits every source: set \"allow_all\": true to mean it", len(prev.Allow))
	}
	return nil
}

// Changes lists what differs from prev to next, one item per change, in a
// stable order: tenants, quotas, allow prefixes, keys, unsigned policy,
// timing. Keys are named by tenant only (added, rotated, removed), never
// by their material. An empty list means no change.
func Changes(prev, next *Config) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	setDiff(namesOf(prev), namesOf(next), func(t string) { add("tenant +%s", t) }, func(t string) { add("tenant -%s", t) })

	pq, nq := quotasOf(prev), quotasOf(next)
	for _, t := range sortedKeys(pq, nq) {
		p, hadP := pq[t]
		n, hasN := nq[t]
		switch {
		case !hadP:
			add("quota +%s %d/s burst %d", t, n.Rate, n.Burst)
		case !hasN:
			add("quota -%s", t)
		case p != n:
			add("quota %s %d/s burst %d -> %d/s burst %d", t, p.Rate, p.Burst, n.Rate, n.Burst)
		}
	}

	setDiff(prefixes(prev.Allow), prefixes(next.Allow), func(p string) { add("allow +%s", p) }, func(p string) { add("allow -%s", p) })
	if prev.AllowAll != next.AllowAll {
		add("allow_all %v -> %v", prev.AllowAll, next.AllowAll)
	}

	pk, nk := keysOf(prev), keysOf(next)
	for _, t := range sortedKeys(pk, nk) {
		p, hadP := pk[t]
		n, hasN := nk[t]
		switch {
		case !hadP:
			add("key +%s", t)
		case !hasN:
			add("key -%s (revoked now)", t)
		case !p.Equal(n):
			add("key rotated %s (the old key verifies for %v more)", t, next.Overlap())
		}
	}
	setDiff(set(prev.UnsignedTenants), set(next.UnsignedTenants), func(t string) { add("unsigned +%s", t) }, func(t string) { add("unsigned -%s", t) })
	setDiff(set(prev.StaleReads), set(next.StaleReads), func(t string) { add("stale_reads +%s", t) }, func(t string) { add("stale_reads -%s", t) })
	if prev.AllowUnsigned != next.AllowUnsigned {
		add("allow_unsigned %v -> %v", prev.AllowUnsigned, next.AllowUnsigned)
	}
	if prev.Overlap() != next.Overlap() {
		add("key_overlap %v -> %v", prev.Overlap(), next.Overlap())
	}
	if prev.Window() != next.Window() {
		add("replay_window %v -> %v", prev.Window(), next.Window())
	}
	return out
}

// LogValue is the summary String gives, as attributes.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Int("udp_port", int(c.UDPPort)), slog.Int("tcp_port", int(c.TCPPort)), slog.Int("loops", c.Loops),
		slog.Int("quotas", len(c.Quotas)), slog.Int("allow", len(c.Allow)), slog.Bool("allow_all", c.AllowAll),
		slog.Int("tenants", len(c.SlotNames())), slog.Int("keys", len(c.Keys)),
		slog.Int("unsigned_tenants", len(c.UnsignedTenants)), slog.Bool("allow_unsigned", c.AllowUnsigned),
		slog.Duration("key_overlap", c.Overlap()), slog.Duration("replay_window", c.Window()))
}

func namesOf(c *Config) map[string]bool {
	m := map[string]bool{}
	for _, names := range c.SlotNames() {
		for _, t := range strings.Split(names, ",") {
			m[t] = true
		}
	}
	return m
}

func quotasOf(c *Config) map[string]Quota {
	m := map[string]Quota{}
	for _, q := range c.Quotas {
		m[q.Tenant] = q
	}
	return m
}

func keysOf(c *Config) map[string]TenantKey {
	m := map[string]TenantKey{}
	for _, k := range c.Keys {
		m[k.Tenant] = k
	}
	return m
}

// Equal compares the keys in constant time (the tenant is not secret).
func (k TenantKey) Equal(o TenantKey) bool { return k.Tenant == o.Tenant && k.Key.Equal(o.Key) }

func prefixes(ps []netip.Prefix) map[string]bool {
	m := map[string]bool{}
	for _, p := range ps {
		m[p.String()] = true
	}
	return m
}

func set(ss []string) map[string]bool {
	m := map[string]bool{}
	for _, s := range ss {
		m[s] = true
	}
	return m
}

// setDiff calls added for each member of next not in prev and removed for
// each member of prev not in next, in sorted order.
func setDiff(prev, next map[string]bool, added, removed func(string)) {
	for _, s := range sortedKeys(prev, next) {
		switch {
		case next[s] && !prev[s]:
			added(s)
		case prev[s] && !next[s]:
			removed(s)
		}
	}
}

func sortedKeys[V any](a, b map[string]V) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range []map[string]V{a, b} {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}
