package keyspace

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/dorivo/dorivo/shardstore/slot"
)

// check verifies the internal invariants: indexes, counts and the volatile
// array agree with the entries.
func check(t *testing.T, ks *Keyspace) {
	t.Helper()
	n, vol, cold := 0, 0, 0
	hot := int64(0)
	for s, order := range &ks.slots {
		if order != nil && len(order) == 0 {
			t.Fatalf("slot %d has an empty table", s)
		}
		for i, id := range order {
			e := ks.ent(id)
			if e.kv == nil {
				t.Fatalf("slot %d position %d holds free entry %d", s, i, id)
			}
			key := string(e.key())
			if int(slot.Of([]byte(key))) != s {
				t.Fatalf("key %q in slot %d", key, s)
			}
			if e.at() != uint32(i) {
				t.Fatalf("key %q at %d records position %d", key, i, e.at())
			}
			if got, ok := ks.lookup([]byte(key)); !ok || got != id {
				t.Fatalf("key %q is entry %d, indexed as %d (%v)", key, id, got, ok)
			}
			if e.isCold() {
				cold++
				if e.vlen != 0 {
					t.Fatalf("cold key %q holds a value", key)
				}
			} else {
				hot += int64(e.vcap)
			}
			if e.vi >= 0 {
				vol++
				if ks.vol[e.vi].id != id || ks.vol[e.vi].exp == 0 {
					t.Fatalf("key %q vol entry %v", key, ks.vol[e.vi])
				}
			}
			n++
		}
	}
	if n != ks.n || vol != len(ks.vol) {
		t.Fatalf("counted %d keys %d volatile, have n=%d vol=%d", n, vol, ks.n, len(ks.vol))
	}
	if cold != ks.ColdLen() || hot != ks.HotBytes() {
		t.Fatalf("counted %d cold keys and %d hot bytes, have %d and %d", cold, hot, ks.ColdLen(), ks.HotBytes())
	}
	checkIndex(t, ks, n)
}

// checkIndex verifies that the index holds exactly the n live entries, each
// reachable from its home bucket, and that the free list holds the rest.
func checkIndex(t *testing.T, ks *Keyspace, n int) {
	t.Helper()
	held := map[uint32]bool{}
	for _, tab := range [][]uint64{ks.cur, ks.old} {
		mask := uint32(len(tab) - 1)
		for p, b := range tab {
			if b == 0 {
				continue
			}
			id := uint32(b) - 1
			if held[id] {
				t.Fatalf("entry %d indexed twice", id)
			}
			held[id] = true
			e := ks.ent(id)
			if e.kv == nil || ks.hashKey(e.key()) != uint32(b>>32) {
				t.Fatalf("bucket %d: entry %d is free or has another tag", p, id)
			}
			for q := homeOf(uint32(b>>32), tab); q != uint32(p); q = (q + 1) & mask {
				if tab[q] == 0 {
					t.Fatalf("bucket %d unreachable: bucket %d on its probe is empty", p, q)
				}
			}
		}
	}
	if len(held) != n {
		t.Fatalf("index holds %d entries, %d keys", len(held), n)
	}
	free := 0
	for f := ks.free; f != 0; f = ks.ent(f - 1).pos {
		if ks.ent(f-1).kv != nil || held[f-1] {
			t.Fatalf("free entry %d is in use", f-1)
		}
		if free++; free > int(ks.top) {
			t.Fatal("free list loops")
		}
	}
	if free+n != int(ks.top) {
		t.Fatalf("%d free and %d used entries of %d", free, n, ks.top)
	}
}

func TestSetGetExpire(t *testing.T) {
	ks := New()
	k := []byte("k")
	if _, ok := ks.Get(k, 0); ok {
		t.Fatal("empty keyspace has k")
	}
	ks.Set(k, []byte("v1"), 0)
	ks.Set([]byte("other"), []byte("x"), 1000)
	if v, ok := ks.Get(k, 0); !ok || string(v) != "v1" {
		t.Fatalf("Get = %q, %v", v, ok)
	}
	ks.Set(k, []byte("v2"), 500)
	if v, exp, ok := ks.Lookup(k, 499); !ok || string(v) != "v2" || exp != 500 {
		t.Fatalf("Lookup = %q, %d, %v", v, exp, ok)
	}
	check(t, ks)
	if ks.Len() != 2 || ks.VolatileLen() != 2 {
		t.Fatalf("Len %d VolatileLen %d", ks.Len(), ks.VolatileLen())
	}
	if _, ok := ks.Get(k, 500); ok {
		t.Fatal("k visible at its expiry time")
	}
	if ks.Len() != 1 || ks.Expired != 1 {
		t.Fatalf("lazy expiry did not delete: Len %d Expired %d", ks.Len(), ks.Expired)
	}
	check(t, ks)
	if !ks.SetExpire([]byte("other"), 0, 999) || ks.VolatileLen() != 0 {
		t.Fatal("persist failed")
	}
	if ks.SetExpire(k, 10, 0) {
		t.Fatal("SetExpire on a missing key succeeded")
	}
	if !ks.Delete([]byte("other"), 5000) || ks.Delete([]byte("other"), 5000) {
		t.Fatal("Delete results wrong")
	}
	check(t, ks)
	if ks.Len() != 0 {
		t.Fatal("not empty")
	}
}

func TestSetCopiesValue(t *testing.T) {
	ks := New()
	v := []byte("abc")
	ks.Set([]byte("k"), v, 0)
	v[0] = 'X'
	if got, _ := ks.Get([]byte("k"), 0); string(got) != "abc" {
		t.Fatalf("stored value aliases the argument: %q", got)
	}
}

func TestAppendSetRange(t *testing.T) {
	ks := New()
	now := int64(100)
	if v := ks.Append([]byte("a"), []byte("he"), now); string(v) != "he" {
		t.Fatalf("Append new = %q", v)
	}
	if v := ks.Append([]byte("a"), []byte("llo"), now); string(v) != "hello" {
		t.Fatalf("Append = %q", v)
	}
	if v := ks.SetRange([]byte("a"), 7, []byte("xy"), now); string(v) != "hello\x00\x00xy" {
		t.Fatalf("SetRange pad = %q", v)
	}
	if v := ks.SetRange([]byte("a"), 1, []byte("E"), now); string(v) != "hEllo\x00\x00xy" {
		t.Fatalf("SetRange overwrite = %q", v)
	}
	if v := ks.SetRange([]byte("b"), 2, []byte("z"), now); string(v) != "\x00\x00z" {
		t.Fatalf("SetRange new = %q", v)
	}
	ks.Set([]byte("e"), []byte("old"), 150)
	if v := ks.Append([]byte("e"), []byte("new"), 150); string(v) != "new" {
		t.Fatalf("Append to expired key = %q", v)
	}
	check(t, ks)
}

// TestScanGuarantee checks Redis's SCAN guarantee under concurrent writes:
// a key present from start to end of a scan is returned.
func TestScanGuarantee(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 20 {
		ks := New()
		for i := range 2000 {
			ks.Set(fmt.Appendf(nil, "k%d", i), nil, 0)
		}
		stable := map[string]bool{}
		for i := range 2000 {
			if i%3 == 0 {
				stable[fmt.Sprintf("k%d", i)] = true
			}
		}
		seen := map[string]bool{}
		cursor, next := uint64(0), 2000
		for first := true; first || cursor != 0; first = false {
			cursor = ks.Scan(cursor, 1+r.IntN(50), 0, func(k, _ []byte) { seen[string(k)] = true })
			for range 20 { // churn: delete and add keys that are not stable
				i := r.IntN(2000)
				if i%3 != 0 {
					ks.Delete(fmt.Appendf(nil, "k%d", i), 0)
				}
				ks.Set(fmt.Appendf(nil, "n%d", next), nil, 0)
				next++
			}
		}
		for k := range stable {
			if !seen[k] {
				t.Fatalf("round %d: stable key %s not returned by SCAN", round, k)
			}
		}
		check(t, ks)
	}
}

func TestScanSkipsExpired(t *testing.T) {
	ks := New()
	for i := range 100 {
		exp := int64(0)
		if i%2 == 1 {
			exp = 10
		}
		ks.Set(fmt.Appendf(nil, "k%d", i), nil, exp)
	}
	n := 0
	for c, first := uint64(0), true; first || c != 0; first = false {
		c = ks.Scan(c, 7, 10, func(k, _ []byte) { n++ })
	}
	if n != 50 || ks.Len() != 50 {
		t.Fatalf("visited %d, Len %d, want 50, 50", n, ks.Len())
	}
	check(t, ks)
}

func TestExpireStep(t *testing.T) {
	ks := New()
	for i := range 10000 {
		exp := int64(0)
		if i%2 == 0 {
			exp = 100
		}
		if i%4 == 0 {
			exp = 1_000_000
		}
		ks.Set(fmt.Appendf(nil, "k%d", i), nil, exp)
	}
	if got := ks.ExpireStep(50, 1000); got != 0 {
		t.Fatalf("deleted %d keys before their expiry", got)
	}
	got := ks.ExpireStep(200, 100)
	if got == 0 || got > 100 {
		t.Fatalf("ExpireStep with budget 100 deleted %d", got)
	}
	for ks.VolatileLen() > 2500 && ks.ExpireStep(200, 1000) > 0 {
	}
	// Sampling stops when few sampled keys are expired, so some may remain;
	// most must have gone.
	if left := ks.Len() - 7500; left > 500 {
		t.Fatalf("%d expired keys left after active expiry", left)
	}
	check(t, ks)
}

func TestFlushSlot(t *testing.T) {
	ks := New()
	for _, k := range []string{"{a}1", "{a}2", "{b}1"} {
		ks.Set([]byte(k), []byte("v"), 100)
	}
	sa := slot.Of([]byte("a"))
	if ks.SlotLen(sa) != 2 {
		t.Fatalf("SlotLen = %d", ks.SlotLen(sa))
	}
	if n := ks.FlushSlot(sa); n != 2 || ks.Len() != 1 || ks.VolatileLen() != 1 {
		t.Fatalf("FlushSlot = %d, Len %d, VolatileLen %d", n, ks.Len(), ks.VolatileLen())
	}
	check(t, ks)
	ks.Flush()
	if ks.Len() != 0 || ks.VolatileLen() != 0 {
		t.Fatal("Flush left keys")
	}
	check(t, ks)
}

func TestWatch(t *testing.T) {
	ks := New()
	var w1, w2, w3 Watcher
	ks.Set([]byte("x"), []byte("1"), 0)
	ks.Set([]byte("gone"), []byte("1"), 10) // already expired when watched at 20
	ks.Watch([]byte("x"), &w1, 0)
	ks.Watch([]byte("y"), &w2, 0)
	ks.Watch([]byte("gone"), &w3, 20)
	ks.Get([]byte("x"), 0)
	if w1.Dirty {
		t.Fatal("read dirtied a watcher")
	}
	ks.Set([]byte("x"), []byte("2"), 0)
	if !w1.Dirty || w2.Dirty {
		t.Fatalf("after SET x: w1 %v w2 %v", w1.Dirty, w2.Dirty)
	}
	ks.Get([]byte("gone"), 20) // lazy expiry of a key expired at WATCH time
	if w3.Dirty {
		t.Fatal("deleting an already expired watched key dirtied the watcher")
	}
	ks.Unwatch([]byte("y"), &w2)
	ks.Set([]byte("y"), nil, 0)
	if w2.Dirty {
		t.Fatal("unwatched key dirtied the watcher")
	}
	var w4 Watcher
	ks.Set([]byte("t"), nil, 50)
	ks.Watch([]byte("t"), &w4, 0)
	if ks.WatchedExpired([]byte("t"), &w4, 49) || !ks.WatchedExpired([]byte("t"), &w4, 50) {
		t.Fatal("WatchedExpired wrong")
	}
	var w5, w6 Watcher
	ks.Watch([]byte("t"), &w5, 0)
	ks.Set([]byte("old"), nil, 10)
	ks.Watch([]byte("old"), &w6, 20) // already expired when watched
	ks.Flush()
	if !w5.Dirty || w6.Dirty {
		t.Fatalf("after FLUSH: watcher of a live key dirty %v, of an expired key dirty %v", w5.Dirty, w6.Dirty)
	}
}

func BenchmarkSetGet(b *testing.B) {
	ks := New()
	keys := make([][]byte, 1024)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "key:%012d", i)
		ks.Set(keys[i], []byte("value-value-value-value"), 0)
	}
	val := []byte("value-value-value-value")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := keys[i&1023]
		ks.Set(k, val, 0)
		if _, ok := ks.Get(k, 0); !ok {
			b.Fatal("missing")
		}
		i++
	}
}

func TestWatchedKeys(t *testing.T) {
	ks := New()
	var w1, w2 Watcher
	ks.Watch([]byte("a"), &w1, 0)
	ks.Watch([]byte("a"), &w2, 0)
	ks.Watch([]byte("b"), &w1, 0)
	if n := ks.WatchedKeys(); n != 2 {
		t.Fatalf("WatchedKeys = %d, want 2", n)
	}
	ks.Unwatch([]byte("a"), &w1)
	ks.Unwatch([]byte("b"), &w1)
	if n := ks.WatchedKeys(); n != 1 {
		t.Fatalf("WatchedKeys after unwatch = %d, want 1", n)
	}
	ks.Unwatch([]byte("a"), &w2)
	if n := ks.WatchedKeys(); n != 0 {
		t.Fatalf("WatchedKeys after all unwatched = %d, want 0", n)
	}
}
