package agentconfig

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The files issue 11 saw accepted on SIGHUP (null, {}, "allow": []) are
// refused over a running ACL, unless the file says allow_all.
func TestReloadRefusesOpeningEveryDoor(t *testing.T) {
	dir := t.TempDir()
	flags := Config{UDPPort: 1, TCPPort: 1, Loops: 1}
	load := func(body string) (*Config, error) {
		p := filepath.Join(dir, "c.json")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := LoadFile(p)
		if err != nil {
			return nil, err
		}
		c, err := flags.WithFile(f)
		if err != nil {
			return nil, err
		}
		return &c, c.Validate()
	}
	running, err := load(`{"allow":["10.0.0.0/8","fd00::/8"]}`)
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{`null`, `{}`, `{"allow": []}`, `{"tenants":["a"]}`} {
		next, err := load(body)
		if err == nil {
			err = CheckReload(running, next)
		}
		if err == nil {
			t.Errorf("reload of %s over an ACL was accepted", body)
		} else if body != `null` && !strings.Contains(err.Error(), `"allow_all": true`) {
			t.Errorf("reload of %s: %v, want the error to name allow_all", body, err)
		}
	}
	next, err := load(`{"allow_all": true}`)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckReload(running, next); err != nil {
		t.Errorf("explicit allow_all refused: %v", err)
	}
	if _, err := load(`{"allow_all": true, "allow": ["10.0.0.0/8"]}`); err == nil {
		t.Error("allow_all with prefixes accepted")
	}
	// Keeping one prefix, or starting without any, is fine.
	one, _ := load(`{"allow":["10.0.0.0/8"]}`)
	if err := CheckReload(running, one); err != nil {
		t.Errorf("dropping one of two prefixes: %v", err)
	}
	if err := CheckReload(&flags, &flags); err != nil {
		t.Errorf("no ACL before or after: %v", err)
	}
	// Flag prefixes stay whatever the file says.
	withFlag := flags
	withFlag.Allow = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	f, _ := LoadFile(writeFile(t, `{}`, 0o600))
	c, _ := withFlag.WithFile(f)
	if err := CheckReload(&withFlag, &c); err != nil {
		t.Errorf("flag prefix kept: %v", err)
	}
}

func TestChanges(t *testing.T) {
	prev := &Config{UDPPort: 1, TCPPort: 1, Loops: 1,
		Tenants: []string{"beta", "gamma"},
		Quotas:  []Quota{{"acme", 10, 20}, {"gamma", 1, 1}},
		Allow:   []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")},
		Keys:    []TenantKey{{"acme", key(t, hexA)}, {"beta", key(t, hexA)}, {"gone", key(t, hexB)}},
	}
	next := &Config{UDPPort: 1, TCPPort: 1, Loops: 1,
		Tenants:         []string{"beta", "delta"},
		Quotas:          []Quota{{"acme", 50, 50}, {"delta", 5, 5}},
		Allow:           []netip.Prefix{netip.MustParsePrefix("fd00::/8"), netip.MustParsePrefix("192.0.2.0/24")},
		Keys:            []TenantKey{{"acme", key(t, hexB)}, {"beta", key(t, hexA)}, {"new", key(t, hexA)}},
		UnsignedTenants: []string{"legacy"},
		AllowUnsigned:   true,
		ReplayWindow:    2 * time.Second,
	}
	got := Changes(prev, next)
	want := []string{
		"tenant +delta", "tenant -gamma", "tenant -gone", "tenant +legacy", "tenant +new",
		"quota acme 10/s burst 20 -> 50/s burst 50", "quota +delta 5/s burst 5", "quota -gamma",
		"allow -10.0.0.0/8", "allow +192.0.2.0/24",
		"key rotated acme (the old key verifies for 1m0s more)", "key -gone (revoked now)", "key +new",
		"unsigned +legacy", "allow_unsigned false -> true", "replay_window 5s -> 2s",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Changes =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, line := range got {
		if strings.Contains(line, hexA[:6]) || strings.Contains(line, hexB[:6]) {
			t.Fatalf("key material in %q", line)
		}
	}
	if c := Changes(next, next); len(c) != 0 {
		t.Fatalf("no change reported as %v", c)
	}
}
