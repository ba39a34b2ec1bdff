package workload

import (
	"strings"
	"testing"

	"github.com/dorivo/dorivo/shardstore/slot"
)

func TestKeyNamesAreTenantTagged(t *testing.T) {
	k := AppendKey(nil, Key{T: 7, M: 42})
	if string(k) != "{tenant7}:key:42" {
		t.Fatalf("key = %q", k)
	}
	if string(slot.Tag(k)) != string(AppendTag(nil, 7)) {
		t.Fatalf("hash tag of %q = %q, want tenant7", k, slot.Tag(k))
	}
}

func TestValues(t *testing.T) {
	for _, tc := range []struct {
		id   uint64
		size int
		want string
	}{
		{0xabc, 6, "abcxxx"},
		{0xabcdef, 3, "def"},
		{1, 0, ""},
	} {
		if got := string(AppendValue(nil, tc.id, tc.size)); got != tc.want {
			t.Errorf("AppendValue(%x, %d) = %q, want %q", tc.id, tc.size, got, tc.want)
		}
	}
}

func TestPickerMixAndScope(t *testing.T) {
	cfg := Config{Tenants: 5, Keyspace: 1000, ValueSize: 8, ReadRatio: 0.5, MSetRatio: 0.2, MSetKeys: 4, Dist: Zipf, ZipfS: 1.2, Seed: 1}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	scope := Scope{Tenants: []int32{1, 3}, Part: 1, Parts: 3}
	p, err := NewPicker(&cfg, scope, 9)
	if err != nil {
		t.Fatal(err)
	}
	var counts [NumOps]int
	var keys []Key
	const n = 20000
	for range n {
		var op Op
		op, keys = p.Next(keys)
		counts[op]++
		want := 1
		if op == MSet {
			want = 4
		}
		if len(keys) != want {
			t.Fatalf("%v with %d keys, want %d", op, len(keys), want)
		}
		seen := map[Key]bool{}
		for _, k := range keys {
			if k.T != 1 && k.T != 3 || k.T != keys[0].T {
				t.Fatalf("key %+v outside scope tenants or not the MSET's tenant", k)
			}
			if int(k.M)%3 != 1 || int(k.M) >= cfg.PerTenant() {
				t.Fatalf("key %+v outside part 1 of 3 of %d keys", k, cfg.PerTenant())
			}
			if seen[k] {
				t.Fatalf("duplicate key %+v in one MSET", k)
			}
			seen[k] = true
		}
	}
	for op, want := range []float64{0.5, 0.3, 0.2} {
		got := float64(counts[op]) / n
		if got < want-0.02 || got > want+0.02 {
			t.Errorf("%v share %.3f, want %.2f", Op(op), got, want)
		}
	}
}

func TestTenantOwnersCoverAndAgreeWithSlots(t *testing.T) {
	owners, err := TenantOwners(50, 4)
	if err != nil {
		t.Fatal(err)
	}
	table, _ := slot.NewTable(4)
	total := 0
	for o, ts := range owners {
		for _, tn := range ts {
			if got := table.Owner(slot.Of(AppendKey(nil, Key{T: tn}))); got != o {
				t.Errorf("tenant %d grouped under loop %d, owner %d", tn, o, got)
			}
		}
		total += len(ts)
	}
	if total != 50 {
		t.Fatalf("%d tenants grouped, want 50", total)
	}
}

func TestValidate(t *testing.T) {
	good := Config{Tenants: 1, Keyspace: 1, MSetKeys: 1}
	for _, tc := range []struct {
		mut  func(*Config)
		want string
	}{
		{func(c *Config) { c.Tenants = 0 }, "tenants"},
		{func(c *Config) { c.Keyspace = 0 }, "keyspace"},
		{func(c *Config) { c.ReadRatio = 1.5 }, "read ratio"},
		{func(c *Config) { c.ReadRatio, c.MSetRatio = 0.6, 0.6 }, "exceed"},
		{func(c *Config) { c.Dist, c.ZipfS = Zipf, 1 }, "zipf"},
	} {
		c := good
		tc.mut(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate() = %v, want mention of %q", err, tc.want)
		}
	}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
}
