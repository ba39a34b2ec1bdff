package agentconfig

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dorivo/dorivo/bpf"
	"github.com/dorivo/dorivo/datapath/wire"
	"github.com/dorivo/dorivo/internal/testenv"
	"github.com/dorivo/dorivo/shardstore/slot"
)

const (
	hexA = "a1a2a3a4a5a6a7a8a9aaabacadaeafb0"
	hexB = "b1b2b3b4b5b6b7b8b9babbbcbdbebfc0"
)

func key(t *testing.T, s string) wire.Key {
	t.Helper()
	k, err := wire.ParseKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writeFile(t *testing.T, body string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // umask-proof
		t.Fatal(err)
	}
	return p
}

func TestParseTenantKey(t *testing.T) {
	k, err := ParseTenantKey("acme=" + hexA)
	if err != nil || k.Tenant != "acme" || !k.Key.Equal(key(t, hexA)) {
		t.Fatalf("ParseTenantKey = %v, %v", k, err)
	}
	k, err = ParseTenantKey("acme=@" + writeFile(t, hexB+"\n", 0o600))
	if err != nil || !k.Key.Equal(key(t, hexB)) {
		t.Fatalf("from a file: %v, %v", k, err)
	}
	for in, msg := range map[string]string{
		"acme":                                  "TENANT=HEXKEY",
		"=" + hexA:                              "tenant tag",
		"acme=" + hexA[:30]:                     "32 hex digits",
		"acme=" + strings.Repeat("g", 32):       "not hexadecimal",
		"acme=" + strings.Repeat("0", 32):       "all zeros",
		"acme=@" + writeFile(t, hexA, 0o644):    "readable by others",
		"acme=@/nonexistent/dorivo/key/file":    "no such file",
		"acme=@" + writeFile(t, "short", 0o600): "32 hex digits",
	} {
		_, err := ParseTenantKey(in)
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("ParseTenantKey(%q) = %v, want %q", in, err, msg)
		}
		if err != nil && (strings.Contains(err.Error(), hexA[:30]) || strings.Contains(err.Error(), "gggg")) {
			t.Errorf("error quotes the key: %v", err)
		}
	}
}

func TestLoadFileAuth(t *testing.T) {
	body := `{"keys":[{"tenant":"acme","key":"` + hexA + `"}],"unsigned_tenants":["legacy"],"allow_unsigned":true,"key_overlap":"90s","replay_window":"2s"}`
	f, err := LoadFile(writeFile(t, body, 0o600))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Config{UDPPort: 1, TCPPort: 1, Loops: 1, Keys: []TenantKey{{"beta", key(t, hexB)}}}.WithFile(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(c.Keys) != 2 || c.Overlap() != 90*time.Second || c.Window() != 2*time.Second || !c.AllowUnsigned || c.UnsignedTenants[0] != "legacy" {
		t.Fatalf("merged %v", c)
	}
	// A flag key wins over the file's for the same tenant.
	c2, _ := Config{Keys: []TenantKey{{"acme", key(t, hexB)}}}.WithFile(f)
	if len(c2.Keys) != 1 || !c2.Keys[0].Key.Equal(key(t, hexB)) {
		t.Fatalf("flag key should win: %d keys", len(c2.Keys))
	}
	for body, msg := range map[string]string{
		`null`:                         "is null",
		`{"keys":[{"tenant":"acme"}]}`: `tenant "acme" has no "key"`,
		`{"keys":[{"tenant":"acme","key":"zz"}]}`:                                            "32 hex digits",
		`{"keys":[{"tenant":"a","key":"` + hexA + `"},{"tenant":"a","key":"` + hexB + `"}]}`: "second key",
		`{"unsigned_tenants":[""]}`:                                                          "unsigned_tenants[0]",
		`{"key_overlap":"soon"}`:                                                             "duration",
		`{"replay_window":"-1s"}`:                                                            "negative",
	} {
		_, err := LoadFile(writeFile(t, body, 0o600))
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("LoadFile(%s) = %v, want %q", body, err, msg)
		}
	}
	if _, err := LoadFile(writeFile(t, body, 0o644)); err == nil || !strings.Contains(err.Error(), "readable by others") {
		t.Errorf("world-readable file with keys: %v", err)
	}
	if _, err := LoadFile(writeFile(t, `{"allow":["10.0.0.0/8"]}`, 0o644)); err != nil {
		t.Errorf("world-readable file without keys: %v", err)
	}
	for name, c := range map[string]Config{
		"has two keys":  {Keys: []TenantKey{{"a", key(t, hexA)}, {"a", key(t, hexB)}}},
		"has no key":    {Keys: []TenantKey{{"a", wire.Key{}}}},
		"replay_window": {ReplayWindow: 2 * time.Hour},
		"milliseconds":  {ReplayWindow: time.Microsecond},
		"allow_all":     {AllowAll: true, Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
	} {
		c.UDPPort, c.TCPPort, c.Loops = 1, 1, 1
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("Validate(%s) = %v", name, err)
		}
	}
}

// No printed form of a configuration shows key material.
func TestConfigIsRedacted(t *testing.T) {
	c := Config{UDPPort: 1, TCPPort: 1, Loops: 1, Keys: []TenantKey{{"acme", key(t, hexA)}}}
	var out bytes.Buffer
	fmt.Fprintf(&out, "%v %+v %#v %s %x\n", c, c, c, c, c)
	fmt.Fprintf(&out, "%v %+v %#v %x\n", c.Keys, c.Keys[0], c.Keys, c.Keys)
	slog.New(slog.NewTextHandler(&out, nil)).Info("loaded", "config", c, "keys", c.Keys)
	slog.New(slog.NewJSONHandler(&out, nil)).Info("loaded", "config", c, "keys", c.Keys)
	for _, leak := range []string{hexA[:8], "a1a2", "161 162", "\\xa1"} {
		if strings.Contains(strings.ToLower(out.String()), leak) {
			t.Fatalf("key material %q printed:\n%s", leak, out.String())
		}
	}
	if !strings.Contains(out.String(), "keys=1") || !strings.Contains(out.String(), "[redacted]") {
		t.Fatalf("summary missing:\n%s", out.String())
	}
}

func authEntry(t *testing.T, m *bpf.DorivoMaps, tag string) (bpf.DorivoAuthEntry, bool) {
	t.Helper()
	var e bpf.DorivoAuthEntry
	err := m.TenantAuth.Lookup(authTag(tag), &e)
	return e, err == nil
}

// Sync writes keys and policy; a changed key rotates with an overlap that
// survives further syncs (and so a restart, the map being pinned); a
// dropped tenant is revoked at once. LoadAuthTable reads back the same.
func TestSyncAuthRotation(t *testing.T) {
	testenv.RequireRoot(t)
	var m bpf.DorivoMaps
	if err := bpf.LoadDorivoObjects(&m, nil); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	a, b := key(t, hexA), key(t, hexB)
	c := &Config{UDPPort: 1, TCPPort: 1, Loops: 1, Keys: []TenantKey{{"acme", a}}, UnsignedTenants: []string{"legacy", "acme"},
		AllowUnsigned: true, ReplayWindow: 3 * time.Second, KeyOverlap: 30 * time.Second}
	if err := Sync(&m, c); err != nil {
		t.Fatal(err)
	}
	e, ok := authEntry(t, &m, "acme")
	a0, a1 := a.Halves()
	if !ok || e.Key != [2]uint64{a0, a1} || e.OldUntilNs != 0 || e.Flags != uint32(bpf.DorivoAuthFlagAUTH_F_KEY|bpf.DorivoAuthFlagAUTH_F_ALLOW_UNSIGNED) {
		t.Fatalf("acme entry %+v (present %v)", e, ok)
	}
	if e, ok := authEntry(t, &m, "legacy"); !ok || e.Flags != uint32(bpf.DorivoAuthFlagAUTH_F_ALLOW_UNSIGNED) || e.Key != [2]uint64{} {
		t.Fatalf("legacy entry %+v", e)
	}
	if a, l := slotCount(t, &m, "acme"), slotCount(t, &m, "legacy"); a != 1 || l != 1 {
		t.Fatalf("auth_slots: acme %d, legacy %d, want 1 each", a, l)
	}
	var cfg bpf.DorivoAgentConfig
	if err := m.Config.Lookup(uint32(0), &cfg); err != nil || cfg.AllowUnsigned != 1 || cfg.ReplayWindowMs != 3000 {
		t.Fatalf("config[0] = %+v, %v", cfg, err)
	}

	// Rotate to b.
	c.Keys = []TenantKey{{"acme", b}}
	c.UnsignedTenants = nil
	before := time.Now()
	if err := Sync(&m, c); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	e, _ = authEntry(t, &m, "acme")
	b0, b1 := b.Halves()
	until := time.Unix(0, int64(e.OldUntilNs))
	if e.Key != [2]uint64{b0, b1} || e.OldKey != [2]uint64{a0, a1} || until.Before(before.Add(30*time.Second)) || until.After(after.Add(30*time.Second)) {
		t.Fatalf("after rotation: %+v, old until %v", e, until)
	}
	if _, ok := authEntry(t, &m, "legacy"); ok {
		t.Fatal("legacy left the configuration but kept its entry")
	}
	// The same configuration again keeps the overlap running.
	if err := Sync(&m, c); err != nil {
		t.Fatal(err)
	}
	if e2, _ := authEntry(t, &m, "acme"); e2 != e {
		t.Fatalf("a second sync changed the entry: %+v -> %+v", e, e2)
	}
	tbl, err := LoadAuthTable(&m)
	if err != nil {
		t.Fatal(err)
	}
	acme := tbl.Tenants["acme"]
	if len(tbl.Tenants) != 1 || !acme.Key.Equal(b) || !acme.OldKey.Equal(a) || !acme.OldUntil.Equal(until) || acme.AllowUnsigned ||
		!tbl.AllowUnsigned || tbl.Window != 3*time.Second {
		t.Fatalf("LoadAuthTable = %+v", tbl)
	}
	// An expired overlap is not carried on.
	e.OldUntilNs = uint64(time.Now().Add(-time.Second).UnixNano())
	if err := m.TenantAuth.Put(authTag("acme"), e); err != nil {
		t.Fatal(err)
	}
	if err := Sync(&m, c); err != nil {
		t.Fatal(err)
	}
	if e3, _ := authEntry(t, &m, "acme"); e3.OldUntilNs != 0 || e3.OldKey != [2]uint64{} {
		t.Fatalf("expired old key kept: %+v", e3)
	}
	// Dropped from the configuration: revoked at once.
	c.Keys = nil
	if err := Sync(&m, c); err != nil {
		t.Fatal(err)
	}
	if _, ok := authEntry(t, &m, "acme"); ok {
		t.Fatal("acme's key survived its removal")
	}
	if a, l := slotCount(t, &m, "acme"), slotCount(t, &m, "legacy"); a != 0 || l != 0 {
		t.Fatalf("auth_slots after removal: acme %d, legacy %d", a, l)
	}
}

func slotCount(t *testing.T, m *bpf.DorivoMaps, tag string) uint32 {
	t.Helper()
	var n uint32
	if err := m.AuthSlots.Lookup(uint32(slot.OfTag([]byte(tag))), &n); err != nil {
		t.Fatal(err)
	}
	return n
}
