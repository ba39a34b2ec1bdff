package agentconfig

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dorivo/dorivo/bpf"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// MaxTagLen is the longest tenant tag a datagram can carry.
const MaxTagLen = int(bpf.DorivoProtoPROTO_MAX_TAG_LEN)

// Quota is one tenant's token bucket: Rate datagrams per second, bursts of
// up to Burst datagrams.
type Quota struct {
	Tenant string `json:"tenant"`
	Rate   uint32 `json:"rate"`
	Burst  uint32 `json:"burst,omitempty"`
}

// Config is everything the agent mirrors into the maps. Its printed forms
// never show key material: wire.Key redacts itself, and String and
// LogValue summarise.
type Config struct {
	UDPPort, TCPPort uint16
	Loops            int
	Quotas           []Quota
	// Allow lists the source prefixes admitted; empty admits everyone.
	Allow []netip.Prefix
	// AllowAll says that an empty Allow is meant: a reload that removes
	// every prefix is refused without it (CheckReload).
	AllowAll bool
	// Tenants are tags known only by name (no quota), so that status and
	// metrics can name their slots.
	Tenants []string
	// Keys are the tenants' datagram keys. A tenant with a key must sign
	// (v2) unless it is also in UnsignedTenants.
	Keys []TenantKey
	// UnsignedTenants may send unsigned (v1) datagrams.
	UnsignedTenants []string
	// AllowUnsigned lets tenants with neither a key nor an UnsignedTenants
	// entry send unsigned datagrams (the behaviour before signatures).
	AllowUnsigned bool
	// KeyOverlap is how long a replaced key keeps verifying after a
	// rotation; 0 means DefaultKeyOverlap.
	KeyOverlap time.Duration
	// ReplayWindow bounds |timestamp - now| of a signed datagram; 0 means
	// auth.DefaultWindow.
	ReplayWindow time.Duration
	// StaleReads are the tenants whose reads, in a cluster, may be served
	// from the local replica (possibly stale) when their shard's leader
	// cannot be asked: its breaker is open, or it cannot be reached.
	StaleReads []string
}

// File is the JSON configuration file: the part of Config that can change
// while the agent runs (reloaded on SIGHUP).
//
//	{"tenants": ["acme"], "quotas": [{"tenant": "acme", "rate": 1000, "burst": 2000}], "allow": ["10.0.0.0/8", "fd00::/8"],
//	 "keys": [{"tenant": "acme", "key": "<32 hex digits>"}], "unsigned_tenants": ["legacy"], "key_overlap": "60s"}
//
// A file with keys must not be readable by others (mode 0600 or 0640).
type File struct {
	Tenants []string `json:"tenants"`
	Quotas  []Quota  `json:"quotas"`
	Allow   []string `json:"allow"`
	// AllowAll: admit every source when Allow is empty, and mean it.
	AllowAll        bool        `json:"allow_all"`
	Keys            []TenantKey `json:"keys"`
	UnsignedTenants []string    `json:"unsigned_tenants"`
	AllowUnsigned   bool        `json:"allow_unsigned"`
	KeyOverlap      Duration    `json:"key_overlap"`
	ReplayWindow    Duration    `json:"replay_window"`
	StaleReads      []string    `json:"stale_reads"`
}

// ParseQuota parses TENANT=RATE[:BURST], the --quota flag syntax. BURST
// defaults to RATE (one second's worth).
func ParseQuota(s string) (Quota, error) {
	tenant, spec, ok := strings.Cut(s, "=")
	if !ok {
		return Quota{}, fmt.Errorf("%q is not TENANT=RATE[:BURST]", s)
	}
	rateS, burstS, hasBurst := strings.Cut(spec, ":")
	q := Quota{Tenant: tenant}
	rate, err := strconv.ParseUint(rateS, 10, 32)
	if err != nil {
		return Quota{}, fmt.Errorf("rate %q of tenant %q is not a whole number of datagrams per second", rateS, tenant)
	}
	q.Rate = uint32(rate)
	if hasBurst {
		b, err := strconv.ParseUint(burstS, 10, 32)
		if err != nil {
			return Quota{}, fmt.Errorf("burst %q of tenant %q is not a whole number of datagrams", burstS, tenant)
		}
		q.Burst = uint32(b)
	}
	return q, q.check()
}

func (q *Quota) check() error {
	if err := CheckTag(q.Tenant); err != nil {
		return err
	}
	if q.Rate == 0 {
		return fmt.Errorf("rate of tenant %q must be > 0 (leave the tenant out for no limit)", q.Tenant)
	}
	if q.Burst == 0 {
		q.Burst = q.Rate
	}
	// The BPF bucket holds burst*1000 milli-tokens in a u64; any u32 fits.
	return nil
}

// CheckTag says whether tag can be a tenant tag.
func CheckTag(tag string) error {
	if len(tag) == 0 || len(tag) > MaxTagLen {
		return fmt.Errorf("tenant tag %q must be 1 to %d bytes", tag, MaxTagLen)
	}
	return nil
}

// ParseAllow parses an --allow CIDR (IPv4 or IPv6). A bare address is a
// single host; host bits below the prefix are cleared.
func ParseAllow(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR", s)
		}
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR", s)
	}
	return p.Masked(), nil
}

// LoadFile reads a configuration file. Unknown fields are errors: a typo
// must not silently drop a quota.
func LoadFile(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		return nil, fmt.Errorf("config file %s: is null (an empty configuration is {})", path)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f File
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	if err := f.checkAuth(path); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	for i := range f.Quotas {
		if err := f.Quotas[i].check(); err != nil {
			return nil, fmt.Errorf("config file %s: quotas[%d]: %w", path, i, err)
		}
	}
	for i, a := range f.Allow {
		if _, err := ParseAllow(a); err != nil {
			return nil, fmt.Errorf("config file %s: allow[%d]: %w", path, i, err)
		}
	}
	for i, t := range f.Tenants {
		if err := CheckTag(t); err != nil {
			return nil, fmt.Errorf("config file %s: tenants[%d]: %w", path, i, err)
		}
	}
	return &f, nil
}

// WithFile returns c extended by f: quotas of a tenant set by a flag win
// over the file's, prefixes and tenant names are unions.
func (c Config) WithFile(f *File) (Config, error) {
	out := c
	out.Quotas = append([]Quota(nil), c.Quotas...)
	out.Allow = append([]netip.Prefix(nil), c.Allow...)
	out.Tenants = append(append([]string(nil), c.Tenants...), f.Tenants...)
	out.mergeAuth(f)
	byFlag := map[string]bool{}
	for _, q := range c.Quotas {
		byFlag[q.Tenant] = true
	}
	for _, q := range f.Quotas {
		if !byFlag[q.Tenant] {
			out.Quotas = append(out.Quotas, q)
		}
	}
	for _, a := range f.Allow {
		p, err := ParseAllow(a)
		if err != nil {
			return Config{}, err
		}
		out.Allow = append(out.Allow, p)
	}
	return out, nil
}

// Rules returns the quota rule of every slot that has one. Two tenants
// whose tags share a slot share its bucket; if their quotas differ the
// configuration is ambiguous and Rules says which tenants collide.
func (c *Config) Rules() (map[uint16]bpf.DorivoQuotaRule, error) {
	rules := map[uint16]bpf.DorivoQuotaRule{}
	owner := map[uint16]string{}
	for _, q := range c.Quotas {
		s := slot.OfTag([]byte(q.Tenant))
		r := bpf.DorivoQuotaRule{Rate: q.Rate, Burst: q.Burst}
		if prev, ok := rules[s]; ok && prev != r {
			return nil, fmt.Errorf("--quota: tenants %q and %q share hash slot %d but have different quotas", owner[s], q.Tenant, s)
		}
		rules[s], owner[s] = r, q.Tenant
	}
	return rules, nil
}

// Table returns the slot -> loop table for c.Loops. It is the one source of
// slot ownership: Sync mirrors it into the slot_loop map the kernel steers
// by, and the agent hands the same table to the datapath's loops, so a
// datagram the kernel steers to loop i is one loop i owns.
func (c *Config) Table() (*slot.Table, error) {
	t, err := slot.NewTable(c.Loops)
	if err != nil {
		return nil, fmt.Errorf("--loops %d: %w", c.Loops, err)
	}
	return t, nil
}

// SlotNames names every slot the configuration knows a tag for. Tags that
// share a slot are joined with ",".
func (c *Config) SlotNames() map[uint16]string {
	sets := map[uint16]map[string]bool{}
	add := func(tag string) {
		s := slot.OfTag([]byte(tag))
		if sets[s] == nil {
			sets[s] = map[string]bool{}
		}
		sets[s][tag] = true
	}
	for _, q := range c.Quotas {
		add(q.Tenant)
	}
	for _, t := range c.Tenants {
		add(t)
	}
	for _, k := range c.Keys {
		add(k.Tenant)
	}
	for _, t := range c.UnsignedTenants {
		add(t)
	}
	names := map[uint16]string{}
	for s, set := range sets {
		var tags []string
		for t := range set {
			tags = append(tags, t)
		}
		sort.Strings(tags)
		names[s] = strings.Join(tags, ",")
	}
	return names
}

// Validate checks what flags alone cannot.
func (c *Config) Validate() error {
	if c.UDPPort == 0 {
		return fmt.Errorf("--udp-port must be 1..65535")
	}
	if c.TCPPort == 0 {
		return fmt.Errorf("--tcp-port must be 1..65535")
	}
	if c.Loops < 1 || c.Loops > slot.MaxLoops {
		return fmt.Errorf("--loops %d: must be 1..%d", c.Loops, slot.MaxLoops)
	}
	if c.AllowAll && len(c.Allow) > 0 {
		return fmt.Errorf("allow_all with %d allow prefixes: say one or the other", len(c.Allow))
	}
	if err := c.validateAuth(); err != nil {
		return err
	}
	_, err := c.Rules()
	return err
}
