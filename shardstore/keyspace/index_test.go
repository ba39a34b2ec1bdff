package keyspace

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestIndexModel drives many keys through inserts, overwrites and deletes,
// with full tags and with tags narrowed to 4 values (every probe then
// meets equal tags and long runs, and deletion shifts them), through
// growth and its migration, against a map.
func TestIndexModel(t *testing.T) {
	for _, mask := range []uint64{^uint64(0), 3} {
		r := rand.New(rand.NewPCG(uint64(mask), 9))
		ks := New()
		ks.hashMask = mask
		model := map[string][]byte{}
		keys := 20_000
		if mask == 3 {
			keys = 1500 // runs are as long as the table: keep it quadratic-cheap
		}
		for step := range 8 * keys {
			k := fmt.Appendf(nil, "key%d", r.IntN(keys))
			switch r.IntN(3) {
			case 0, 1:
				v := fmt.Appendf(nil, "v%d", step)
				ks.Set(k, v, 0)
				model[string(k)] = v
			case 2:
				_, want := model[string(k)]
				if got := ks.Delete(k, 0); got != want {
					t.Fatalf("mask %x step %d: Delete(%s) = %v, want %v", mask, step, k, got, want)
				}
				delete(model, string(k))
			}
			if step%(keys/2) == 0 {
				check(t, ks)
			}
		}
		for i := range keys {
			k := fmt.Appendf(nil, "key%d", i)
			v, ok := ks.Get(k, 0)
			if want, wok := model[string(k)]; ok != wok || !bytes.Equal(v, want) {
				t.Fatalf("mask %x: Get(%s) = %q,%v; model %q,%v", mask, k, v, ok, want, wok)
			}
		}
		check(t, ks)
	}
}

// TestIndexMigrationInterleaved checks lookups, deletes and inserts while
// a growth is half migrated: keys in both tables are found exactly once.
func TestIndexMigrationInterleaved(t *testing.T) {
	ks := New()
	i := 0
	for ks.old == nil || len(ks.cur) < 1<<12 {
		ks.Set(fmt.Appendf(nil, "k%d", i), []byte("v"), 0)
		i++
	}
	if ks.migLeft == 0 {
		t.Fatal("no migration in progress")
	}
	check(t, ks)
	for j := 0; j < i; j += 2 {
		if !ks.Delete(fmt.Appendf(nil, "k%d", j), 0) {
			t.Fatalf("k%d missing mid-migration", j)
		}
	}
	check(t, ks)
	for j := range i {
		if _, ok := ks.Get(fmt.Appendf(nil, "k%d", j), 0); ok != (j%2 == 1) {
			t.Fatalf("Get(k%d) = %v after deleting the even keys", j, ok)
		}
	}
	ks.ExpireStep(0, 1)
	for ks.old != nil {
		ks.ExpireStep(0, 1)
	}
	check(t, ks)
}

// TestOddKeys stores an empty key, keys with long length headers, and
// empty values.
func TestOddKeys(t *testing.T) {
	ks := New()
	long := bytes.Repeat([]byte("k"), 300) // a two-byte length header
	huge := bytes.Repeat([]byte("h"), 70_000)
	for _, k := range [][]byte{{}, []byte("a"), long, huge} {
		ks.Set(k, nil, 0)
		if v, ok := ks.Get(k, 0); !ok || len(v) != 0 {
			t.Fatalf("empty value under a %d-byte key: %q %v", len(k), v, ok)
		}
		ks.Set(k, k, 0)
		if v, ok := ks.Get(k, 0); !ok || !bytes.Equal(v, k) {
			t.Fatalf("value under a %d-byte key read back wrong", len(k))
		}
	}
	n := 0
	ks.Each(func(key, val []byte, _ int64) {
		if !bytes.Equal(key, val) {
			t.Fatalf("Each: key of %d bytes with value of %d", len(key), len(val))
		}
		n++
	})
	if n != 4 {
		t.Fatalf("Each visited %d keys, want 4", n)
	}
	check(t, ks)
}

// TestIndexShrinks checks that deleting most keys halves the index back
// (incrementally), keeping every remaining key reachable.
func TestIndexShrinks(t *testing.T) {
	ks := New()
	for i := range 50_000 {
		ks.Set(fmt.Appendf(nil, "k%d", i), nil, 0)
	}
	big := len(ks.cur)
	for i := range 49_900 {
		ks.Delete(fmt.Appendf(nil, "k%d", i), 0)
	}
	for ks.old != nil {
		ks.ExpireStep(0, 1)
	}
	if len(ks.cur) > big/64 {
		t.Fatalf("index of %d buckets for %d keys (was %d)", len(ks.cur), ks.Len(), big)
	}
	for i := 49_900; i < 50_000; i++ {
		if !ks.Exists(fmt.Appendf(nil, "k%d", i), 0) {
			t.Fatalf("k%d lost while the index shrank", i)
		}
	}
	check(t, ks)
}
