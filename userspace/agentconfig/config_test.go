package agentconfig

import (
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/dorivo/dorivo/shardstore/slot"
)

func TestParseQuota(t *testing.T) {
	for in, want := range map[string]Quota{
		"acme=100":     {"acme", 100, 100},
		"acme=100:250": {"acme", 100, 250},
		"a=b=1":        {}, // error below: rate "b=1"
		"{x}=5:1":      {"{x}", 5, 1},
	} {
		got, err := ParseQuota(in)
		if in == "a=b=1" {
			if err == nil {
				t.Errorf("ParseQuota(%q) succeeded", in)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("ParseQuota(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for in, msg := range map[string]string{
		"acme":                         `"acme" is not TENANT=RATE[:BURST]`,
		"acme=fast":                    `rate "fast" of tenant "acme" is not a whole number`,
		"acme=10:big":                  `burst "big" of tenant "acme"`,
		"acme=0":                       `rate of tenant "acme" must be > 0`,
		"=10":                          `tenant tag "" must be 1 to 64 bytes`,
		strings.Repeat("x", 65) + "=1": "must be 1 to 64 bytes",
		"acme=99999999999":             "not a whole number",
	} {
		_, err := ParseQuota(in)
		if err == nil || !strings.Contains(err.Error(), msg) || strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseQuota(%q) error = %v, want one line containing %q", in, err, msg)
		}
	}
}

func TestParseAllow(t *testing.T) {
	for in, want := range map[string]string{
		"10.1.2.3/16":    "10.1.0.0/16",
		"10.0.0.7":       "10.0.0.7/32",
		"::ffff:1.2.3.4": "1.2.3.4/32",
		"fd00::1/8":      "fd00::/8",
	} {
		p, err := ParseAllow(in)
		if err != nil || p.String() != want {
			t.Errorf("ParseAllow(%q) = %v, %v; want %s", in, p, err, want)
		}
	}
	for _, in := range []string{"", "10.0.0.0/33", "nope", "10.0.0/8"} {
		if _, err := ParseAllow(in); err == nil {
			t.Errorf("ParseAllow(%q) succeeded", in)
		}
	}
}

func TestACLKeyMapsIPv4IntoIPv6(t *testing.T) {
	k := ACLKey(netip.MustParsePrefix("10.1.0.0/16"))
	if k.Prefixlen != 112 || netip.AddrFrom16(k.Addr).String() != "::ffff:10.1.0.0" {
		t.Errorf("ACLKey(10.1.0.0/16) = %d %v", k.Prefixlen, netip.AddrFrom16(k.Addr))
	}
	if keyString(k) != "10.1.0.0/16" {
		t.Errorf("keyString = %s", keyString(k))
	}
	k = ACLKey(netip.MustParsePrefix("fd00::/8"))
	if k.Prefixlen != 8 || keyString(k) != "fd00::/8" {
		t.Errorf("ACLKey(fd00::/8) = %+v", k)
	}
}

func TestLoadFileAndMerge(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, "c.json")
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	f, err := LoadFile(write(`{"tenants":["beta"],"quotas":[{"tenant":"acme","rate":5},{"tenant":"gamma","rate":7,"burst":9}],"allow":["10.0.0.0/8"]}`))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Config{Quotas: []Quota{{"acme", 50, 60}}, Allow: []netip.Prefix{netip.MustParsePrefix("fd00::/8")}}.WithFile(f)
	if err != nil {
		t.Fatal(err)
	}
	rules, err := c.Rules()
	if err != nil {
		t.Fatal(err)
	}
	if r := rules[slot.OfTag([]byte("acme"))]; r.Rate != 50 || r.Burst != 60 {
		t.Errorf("flag quota should win over the file's: %+v", r)
	}
	if r := rules[slot.OfTag([]byte("gamma"))]; r.Rate != 7 || r.Burst != 9 {
		t.Errorf("file quota gamma: %+v", r)
	}
	if len(c.Allow) != 2 {
		t.Errorf("allow = %v", c.Allow)
	}
	if n := c.SlotNames()[slot.OfTag([]byte("beta"))]; n != "beta" {
		t.Errorf("beta slot name = %q", n)
	}

	for body, msg := range map[string]string{
		`{"quota":[]}`:                         `unknown field "quota"`,
		`{"quotas":[{"tenant":"a","rate":0}]}`: `quotas[0]: rate of tenant "a" must be > 0`,
		`{"allow":["10.0.0.0/40"]}`:            `allow[0]: "10.0.0.0/40" is not a CIDR`,
		`{"tenants":[""]}`:                     `tenants[0]`,
		`{`:                                    `unexpected EOF`,
	} {
		_, err := LoadFile(write(body))
		if err == nil || !strings.Contains(err.Error(), msg) || !strings.Contains(err.Error(), "config file") {
			t.Errorf("LoadFile(%s) = %v, want %q", body, err, msg)
		}
	}
	if _, err := LoadFile(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("LoadFile(missing) succeeded")
	}
}

// collide finds two distinct tags sharing a slot.
func collide() (string, string) {
	seen := map[uint16]string{}
	for i := 0; ; i++ {
		tag := "t" + strconv.Itoa(i)
		s := slot.OfTag([]byte(tag))
		if o, ok := seen[s]; ok && o != tag {
			return o, tag
		}
		seen[s] = tag
	}
}

func TestValidate(t *testing.T) {
	a, b := collide()
	base := Config{UDPPort: 1, TCPPort: 1, Loops: 1}
	for name, c := range map[string]Config{
		"--udp-port": {TCPPort: 1, Loops: 1},
		"--tcp-port": {UDPPort: 1, Loops: 1},
		"--loops":    {UDPPort: 1, TCPPort: 1, Loops: slot.MaxLoops + 1},
		"share hash slot": func() Config {
			c := base
			c.Quotas = []Quota{{a, 1, 1}, {b, 2, 2}}
			return c
		}(),
	} {
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("Validate(%s) = %v", name, err)
		}
	}
	same := base
	same.Quotas = []Quota{{a, 1, 1}, {b, 1, 1}}
	if err := same.Validate(); err != nil {
		t.Errorf("colliding tenants with equal quotas: %v", err)
	}
	if n := same.SlotNames()[slot.OfTag([]byte(a))]; !strings.Contains(n, a) || !strings.Contains(n, b) {
		t.Errorf("shared slot name %q should list both tags", n)
	}
}
