package agentconfig

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/dorivo/dorivo/datapath/wire"
	"github.com/dorivo/dorivo/datapath/wire/auth"
)

// DefaultKeyOverlap is how long a replaced key keeps verifying after a
// rotation when the configuration does not say.
const DefaultKeyOverlap = time.Minute

// MaxReplayWindow bounds replay_window: a longer one is hardly a window.
const MaxReplayWindow = time.Hour

// TenantKey is one tenant's datagram key. Printing it shows the tenant
// and "[redacted]".
type TenantKey struct {
	Tenant string   `json:"tenant"`
	Key    wire.Key `json:"key"`
}

// ParseTenantKey parses the --tenant-key flag: TENANT=HEX (32 hex digits)
// or TENANT=@FILE, a file holding the hex key (which keeps the key out of
// the process list; the file must not be readable by others). Errors
// never quote the key.
func ParseTenantKey(s string) (TenantKey, error) {
	tenant, spec, ok := strings.Cut(s, "=")
	if !ok {
		return TenantKey{}, fmt.Errorf("tenant key is not TENANT=HEXKEY or TENANT=@FILE")
	}
	if err := CheckTag(tenant); err != nil {
		return TenantKey{}, err
	}
	if path, ok := strings.CutPrefix(spec, "@"); ok {
		if err := checkPrivate(path); err != nil {
			return TenantKey{}, fmt.Errorf("key of tenant %q: %w", tenant, err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return TenantKey{}, fmt.Errorf("key of tenant %q: %w", tenant, err)
		}
		spec = strings.TrimSpace(string(b))
	}
	k, err := wire.ParseKey(spec)
	if err != nil {
		return TenantKey{}, fmt.Errorf("key of tenant %q: %w", tenant, err)
	}
	return TenantKey{Tenant: tenant, Key: k}, nil
}

// checkPrivate refuses a file that holds keys and that others may read.
func checkPrivate(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.Mode().Perm()&0o004 != 0 {
		return fmt.Errorf("%s holds keys but is readable by others (chmod o-r)", path)
	}
	return nil
}

// Duration is a JSON duration in Go's syntax ("90s", "5m").
type Duration time.Duration

// UnmarshalJSON parses "90s"-style strings.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string such as \"30s\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	if v < 0 {
		return fmt.Errorf("duration %q is negative", s)
	}
	*d = Duration(v)
	return nil
}

// checkAuth checks the file's authentication part; path is the file, whose
// mode matters once it holds keys.
func (f *File) checkAuth(path string) error {
	seen := map[string]bool{}
	for i, k := range f.Keys {
		if err := CheckTag(k.Tenant); err != nil {
			return fmt.Errorf("keys[%d]: %w", i, err)
		}
		if k.Key.IsZero() {
			return fmt.Errorf("keys[%d]: tenant %q has no \"key\"", i, k.Tenant)
		}
		if seen[k.Tenant] {
			return fmt.Errorf("keys[%d]: tenant %q has a second key (a rotation replaces the key; the old one keeps verifying for key_overlap)", i, k.Tenant)
		}
		seen[k.Tenant] = true
	}
	if len(f.Keys) > 0 {
		if err := checkPrivate(path); err != nil {
			return err
		}
	}
	for i, t := range f.UnsignedTenants {
		if err := CheckTag(t); err != nil {
			return fmt.Errorf("unsigned_tenants[%d]: %w", i, err)
		}
	}
	for i, t := range f.StaleReads {
		if err := CheckTag(t); err != nil {
			return fmt.Errorf("stale_reads[%d]: %w", i, err)
		}
	}
	return nil
}

// mergeAuth adds f's authentication settings to c: a tenant's flag key
// wins over the file's, sets are unions, the file's durations win over
// unset ones.
func (c *Config) mergeAuth(f *File) {
	byFlag := map[string]bool{}
	for _, k := range c.Keys {
		byFlag[k.Tenant] = true
	}
	c.Keys = append([]TenantKey(nil), c.Keys...)
	for _, k := range f.Keys {
		if !byFlag[k.Tenant] {
			c.Keys = append(c.Keys, k)
		}
	}
	c.UnsignedTenants = append(append([]string(nil), c.UnsignedTenants...), f.UnsignedTenants...)
	c.StaleReads = append(append([]string(nil), c.StaleReads...), f.StaleReads...)
	c.AllowUnsigned = c.AllowUnsigned || f.AllowUnsigned
	c.AllowAll = c.AllowAll || f.AllowAll
	if f.KeyOverlap != 0 {
		c.KeyOverlap = time.Duration(f.KeyOverlap)
	}
	if f.ReplayWindow != 0 {
		c.ReplayWindow = time.Duration(f.ReplayWindow)
	}
}

func (c *Config) validateAuth() error {
	seen := map[string]bool{}
	for _, k := range c.Keys {
		if err := CheckTag(k.Tenant); err != nil {
			return fmt.Errorf("--tenant-key: %w", err)
		}
		if k.Key.IsZero() {
			return fmt.Errorf("--tenant-key: tenant %q has no key", k.Tenant)
		}
		if seen[k.Tenant] {
			return fmt.Errorf("--tenant-key: tenant %q has two keys", k.Tenant)
		}
		seen[k.Tenant] = true
	}
	for _, t := range c.UnsignedTenants {
		if err := CheckTag(t); err != nil {
			return fmt.Errorf("unsigned tenant: %w", err)
		}
	}
	if c.ReplayWindow < 0 || c.ReplayWindow > MaxReplayWindow {
		return fmt.Errorf("replay_window %v: must be 0 (default %v) up to %v", c.ReplayWindow, auth.DefaultWindow, MaxReplayWindow)
	}
	if c.ReplayWindow%time.Millisecond != 0 {
		return fmt.Errorf("replay_window %v: must be whole milliseconds", c.ReplayWindow)
	}
	if c.KeyOverlap < 0 {
		return fmt.Errorf("key_overlap %v is negative", c.KeyOverlap)
	}
	return nil
}

// Overlap is the effective key overlap.
func (c *Config) Overlap() time.Duration {
	if c.KeyOverlap == 0 {
		return DefaultKeyOverlap
	}
	return c.KeyOverlap
}

// Window is the effective replay window.
func (c *Config) Window() time.Duration {
	if c.ReplayWindow == 0 {
		return auth.DefaultWindow
	}
	return c.ReplayWindow
}

// String summarises c without key material.
func (c Config) String() string {
	return fmt.Sprintf("udp_port=%d tcp_port=%d loops=%d quotas=%d allow=%d allow_all=%v tenants=%d keys=%d unsigned_tenants=%d allow_unsigned=%v key_overlap=%v replay_window=%v",
		c.UDPPort, c.TCPPort, c.Loops, len(c.Quotas), len(c.Allow), c.AllowAll, len(c.SlotNames()), len(c.Keys),
		len(c.UnsignedTenants), c.AllowUnsigned, c.Overlap(), c.Window())
}
