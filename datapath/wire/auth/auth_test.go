package auth

import (
	"testing"
	"time"

	"github.com/dorivo/dorivo/datapath/wire"
)

func mustKey(t *testing.T, s string) wire.Key {
	t.Helper()
	k, err := wire.ParseKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestCheck(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	cur := mustKey(t, "00112233445566778899aabbccddeeff")
	old := mustKey(t, "ffeeddccbbaa99887766554433221100")
	other := mustKey(t, "0f0e0d0c0b0a09080706050403020100")
	tbl := &Table{Tenants: map[string]Tenant{
		"acme":   {Key: cur, OldKey: old, OldUntil: now.Add(time.Second)},
		"mixed":  {Key: cur, AllowUnsigned: true},
		"legacy": {AllowUnsigned: true},
		"closed": {},
	}}
	signed := func(tag string, k wire.Key, ts time.Time) []byte {
		b, err := wire.AppendSignedRequest(nil, &wire.Request{Op: wire.OpGet, Key: []byte("{" + tag + "}:k")}, k, ts.UnixNano())
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	unsigned := func(tag string) []byte {
		b, _ := wire.AppendRequest(nil, &wire.Request{Op: wire.OpGet, Key: []byte("{" + tag + "}:k")})
		return b
	}
	for _, tc := range []struct {
		name    string
		dg      []byte
		tbl     *Table
		wantKey wire.Key
		want    error
	}{
		{"current key", signed("acme", cur, now), tbl, cur, nil},
		{"old key in its overlap", signed("acme", old, now), tbl, old, nil},
		{"wrong key", signed("acme", other, now), tbl, wire.Key{}, ErrForged},
		{"4.9 s old", signed("acme", cur, now.Add(-4900*time.Millisecond)), tbl, cur, nil},
		{"5.1 s old", signed("acme", cur, now.Add(-5100*time.Millisecond)), tbl, wire.Key{}, ErrReplay},
		{"5.1 s ahead", signed("acme", cur, now.Add(5100*time.Millisecond)), tbl, wire.Key{}, ErrReplay},
		{"unsigned for a keyed tenant", unsigned("acme"), tbl, wire.Key{}, ErrUnsigned},
		{"unsigned where the tenant allows it", unsigned("mixed"), tbl, wire.Key{}, nil},
		{"signed by a tenant that also allows unsigned", signed("mixed", cur, now), tbl, cur, nil},
		{"unsigned legacy tenant", unsigned("legacy"), tbl, wire.Key{}, nil},
		{"signed for a tenant without a key", signed("legacy", cur, now), tbl, wire.Key{}, ErrNoKey},
		{"entry without key or unsigned", unsigned("closed"), tbl, wire.Key{}, ErrUnsigned},
		{"unknown tag, global off", unsigned("nobody"), tbl, wire.Key{}, ErrUnsigned},
		{"unknown tag, global on", unsigned("nobody"), &Table{AllowUnsigned: true}, wire.Key{}, nil},
		{"unknown tag signed", signed("nobody", cur, now), tbl, wire.Key{}, ErrNoKey},
		{"nil table unsigned", unsigned("x"), nil, wire.Key{}, nil},
		{"nil table signed", signed("x", cur, now), nil, wire.Key{}, ErrNoKey},
		{"wider window", signed("acme", cur, now.Add(-9*time.Second)), &Table{Tenants: tbl.Tenants, Window: 10 * time.Second}, cur, nil},
	} {
		var r wire.Request
		if err := wire.ParseRequest(tc.dg, &r); err != nil {
			t.Fatal(err)
		}
		k, err := tc.tbl.Check(tc.dg, &r, now)
		if err != tc.want || !k.Equal(tc.wantKey) {
			t.Errorf("%s: Check = key match %v, %v; want key match true, %v", tc.name, k.Equal(tc.wantKey), err, tc.want)
		}
		if err != nil {
			if _, ok := DropReason(err); !ok {
				t.Errorf("%s: %v has no drop reason", tc.name, err)
			}
		}
	}
	// After the overlap only the new key verifies.
	dg := signed("acme", old, now)
	var r wire.Request
	_ = wire.ParseRequest(dg, &r)
	if _, err := tbl.Check(dg, &r, now.Add(time.Second)); err != ErrForged {
		t.Errorf("old key at the end of its overlap: %v, want ErrForged", err)
	}
}

func TestCheckAllocatesNothing(t *testing.T) {
	now := time.Now()
	k := mustKey(t, "00112233445566778899aabbccddeeff")
	tbl := &Table{Tenants: map[string]Tenant{"acme": {Key: k}}}
	dg, _ := wire.AppendSignedRequest(nil, &wire.Request{Op: wire.OpGet, Key: []byte("{acme}:k")}, k, now.UnixNano())
	var r wire.Request
	_ = wire.ParseRequest(dg, &r)
	if n := testing.AllocsPerRun(100, func() { _, _ = tbl.Check(dg, &r, now) }); n != 0 {
		t.Fatalf("Check allocates %v times", n)
	}
}

func BenchmarkCheckSigned(b *testing.B) {
	now := time.Now()
	k, _ := wire.ParseKey("00112233445566778899aabbccddeeff")
	tbl := &Table{Tenants: map[string]Tenant{"acme": {Key: k}}}
	dg, _ := wire.AppendSignedRequest(nil, &wire.Request{Op: wire.OpSet, Key: []byte("{acme}:user:1"), Value: make([]byte, 100)}, k, now.UnixNano())
	var r wire.Request
	_ = wire.ParseRequest(dg, &r)
	b.SetBytes(int64(len(dg)))
	for b.Loop() {
		if _, err := tbl.Check(dg, &r, now); err != nil {
			b.Fatal(err)
		}
	}
}
