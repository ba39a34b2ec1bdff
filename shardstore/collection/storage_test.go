package collection

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// kv is an ordered in-memory store standing in for pebble: the records
// are applied to it and cold collections read back by prefix scan.
type kv map[string][]byte

func (s kv) apply(t *testing.T, rs []Record) {
	t.Helper()
	for _, r := range rs {
		if r.Range {
			for k := range s {
				if k >= string(r.Key) && k < string(r.Value) {
					delete(s, k)
				}
			}
		} else if r.Delete {
			delete(s, string(r.Key))
		} else {
			s[string(r.Key)] = bytes.Clone(r.Value)
		}
	}
}

// scan yields the records with prefix p in key order.
func (s kv) scan(p []byte) Records {
	return func(yield func(k, v []byte) bool) {
		keys := make([]string, 0)
		for k := range s {
			if strings.HasPrefix(k, string(p)) {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			if !yield([]byte(k), s[k]) {
				return
			}
		}
	}
}

func (s kv) meta(t *testing.T, key []byte) (Meta, bool) {
	t.Helper()
	v, ok := s[string(MetaKey(key))]
	if !ok {
		return Meta{}, false
	}
	m, err := DecodeMeta(v)
	if err != nil {
		t.Fatal(err)
	}
	return m, true
}

func TestDurableHashSetZSetRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(20, 20))
	store := kv{}
	key := []byte("obj")
	h, s, z := NewHash(), NewSet(), NewZSet()
	hm, sm, zm := NewMeta(TypeHash, 1), NewMeta(TypeSet, 2), NewMeta(TypeZSet, 3)
	hk, sk, zk := []byte("h:obj"), []byte("s:obj"), []byte("z:obj")
	_ = key
	for step := range 5000 {
		f := fmt.Appendf(nil, "f%d", rng.IntN(300))
		var rs []Record
		switch rng.IntN(6) {
		case 0:
			if h.Delete(f) {
				rs = HashDel(hk, &hm, f)
			}
		case 1:
			v := fmt.Appendf(nil, "v%d", step)
			rs = HashSet(hk, &hm, h, f, h.Set(f, v))
		case 2:
			if s.Remove(f) {
				rs = SetRem(sk, &sm, f)
			}
		case 3:
			if s.Add(f) {
				rs = SetAdd(sk, &sm, f)
			}
		case 4:
			old, had := z.Score(f)
			if had && rng.IntN(2) == 0 {
				z.Remove(f)
				rs = ZSetRem(zk, &zm, f, old)
				break
			}
			res, _ := z.Add(f, float64(rng.IntN(20))-10.5, ZAddFlags{})
			rs = ZSetPut(zk, &zm, f, had, old, res.Score)
		case 5:
			continue
		}
		if len(rs) > 4 {
			t.Fatalf("step %d: one change wrote %d records", step, len(rs))
		}
		store.apply(t, rs)
		if step%250 != 0 {
			continue
		}
		// Bring each back cold and compare.
		if m, ok := store.meta(t, hk); ok {
			got, err := LoadHash(hk, m, store.scan(ElemPrefix(hk, m.Version)))
			if err != nil || got.Len() != h.Len() {
				t.Fatalf("LoadHash: %v, %d fields, want %d", err, got.Len(), h.Len())
			}
			for f, v := range h.All() {
				if gv, _ := got.Get([]byte(f)); gv != v {
					t.Fatalf("cold hash %s = %q, want %q", f, gv, v)
				}
			}
		}
		if m, ok := store.meta(t, sk); ok {
			got, err := LoadSet(sk, m, store.scan(ElemPrefix(sk, m.Version)))
			if err != nil || !slices.Equal(sortedCopy(got.Members()), sortedCopy(s.Members())) {
				t.Fatalf("LoadSet: %v", err)
			}
		}
		if m, ok := store.meta(t, zk); ok {
			got, err := LoadZSet(zk, m, store.scan(ElemPrefix(zk, m.Version)))
			if err != nil || !slices.Equal(got.All(), z.All()) {
				t.Fatalf("LoadZSet: %v", err)
			}
			// The score index lists the members in (score, member) order.
			var idx []ZEntry
			for k := range store.scan(ScorePrefix(zk, m.Version)) {
				_, _, sc, mem, err := DecodeScoreKey(k)
				if err != nil {
					t.Fatal(err)
				}
				idx = append(idx, ZEntry{string(mem), sc})
			}
			if !slices.Equal(idx, z.All()) {
				t.Fatalf("score index %v, want %v", idx, z.All())
			}
		}
	}
}

func sortedCopy(ss []string) []string {
	out := slices.Clone(ss)
	slices.Sort(out)
	return out
}

func TestDurableListRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 21))
	store := kv{}
	key := []byte("list")
	l, m := NewList(), NewMeta(TypeList, 7)
	for step := range 5000 {
		v := fmt.Appendf(nil, "%d", rng.IntN(8))
		var rs []Record
		switch rng.IntN(8) {
		case 0, 1:
			l.PushLeft(v)
			rs = ListPush(key, &m, true, [][]byte{v})
		case 2, 3:
			l.PushRight(v)
			rs = ListPush(key, &m, false, [][]byte{v})
		case 4:
			if _, ok := l.PopLeft(); ok {
				rs = ListPop(key, &m, true, 1)
			}
		case 5:
			if _, ok := l.PopRight(); ok {
				rs = ListPop(key, &m, false, 1)
			}
		case 6:
			if i := rng.IntN(10); l.SetIndex(i, v) {
				rs = ListSet(key, &m, i, v)
			}
		case 7:
			if rng.IntN(2) == 0 {
				if at := l.Insert(true, v, []byte("ins")); at >= 0 {
					rs = ListRewrite(key, &m, at, l.Range(at, -1))
				}
			} else if n, first := l.Remove(rng.IntN(3)-1, v); n > 0 {
				rs = ListRewrite(key, &m, first, l.Range(first, -1))
			}
		}
		store.apply(t, rs)
		if uint64(l.Len()) != m.Size {
			t.Fatalf("step %d: list of %d, metadata size %d", step, l.Len(), m.Size)
		}
		if step%100 != 0 {
			continue
		}
		sm, ok := store.meta(t, key)
		if !ok {
			if l.Len() != 0 {
				t.Fatalf("step %d: no metadata for %d elements", step, l.Len())
			}
			m = NewMeta(TypeList, m.Version+1)
			continue
		}
		got, err := LoadList(key, sm, store.scan(ElemPrefix(key, sm.Version)))
		if err != nil || !slices.Equal(got.All(), l.All()) {
			t.Fatalf("step %d: LoadList %v: %v, want %v", step, err, got.All(), l.All())
		}
	}
}

// Drop deletes a collection in a few records whatever its size, its
// elements with it: a new life of the key sees none of the old, and no
// record of the old version is left.
func TestDropDeletesItsVersion(t *testing.T) {
	store := kv{}
	key := []byte("h")
	h, m := NewHash(), NewMeta(TypeHash, 1)
	for i := range 1000 {
		f := fmt.Appendf(nil, "f%d", i)
		store.apply(t, HashSet(key, &m, h, f, h.Set(f, f)))
	}
	old := m.Version
	rs := Drop(key, &m)
	if len(rs) != 2 || !rs[0].Delete || !rs[1].Range {
		t.Fatalf("Drop wrote %d records", len(rs))
	}
	store.apply(t, rs)
	// A new life of the key with a higher version sees none of the old.
	m = NewMeta(TypeHash, old+1)
	h = NewHash()
	store.apply(t, HashSet(key, &m, h, []byte("new"), h.Set([]byte("new"), []byte("1"))))
	cur, _ := store.meta(t, key)
	got, err := LoadHash(key, cur, store.scan(ElemPrefix(key, cur.Version)))
	if err != nil || got.Len() != 1 {
		t.Fatalf("new life: %v, %d fields", err, got.Len())
	}
	garbage := 0
	for k := range store {
		if k[0] != 'e' {
			continue
		}
		_, v, _, err := DecodeElemKey([]byte(k))
		if err != nil {
			t.Fatal(err)
		}
		if IsGarbage(v, cur, true) {
			garbage++
		}
	}
	if garbage != 0 || len(store) != 2 {
		t.Fatalf("%d garbage records, %d records in all", garbage, len(store))
	}
	// A sorted set's score index goes too.
	z, zm := []byte("z"), NewMeta(TypeZSet, 9)
	store.apply(t, ZSetPut(z, &zm, []byte("a"), false, 0, 1))
	store.apply(t, ZSetPut(z, &zm, []byte("b"), false, 0, 2))
	if len(store) != 2+5 {
		t.Fatalf("%d records with the sorted set", len(store))
	}
	store.apply(t, Drop(z, &zm))
	if len(store) != 2 {
		t.Fatalf("%d records after dropping the sorted set", len(store))
	}
	// Loading a version with the wrong records fails clearly.
	if _, err := LoadHash(key, Meta{Type: TypeHash, Version: old + 1, Size: 1}, store.scan(ElemPrefix(key, old))); err == nil {
		t.Fatal("LoadHash accepted records of another version")
	}
}

func TestScoreBitsOrder(t *testing.T) {
	vals := []float64{math.Inf(-1), -1e300, -1, -math.SmallestNonzeroFloat64, 0, math.SmallestNonzeroFloat64, 0.5, 1, 1e300, math.Inf(1)}
	for i := 1; i < len(vals); i++ {
		a, b := ScoreBits(vals[i-1]), ScoreBits(vals[i])
		if a >= b {
			t.Fatalf("ScoreBits(%v)=%x not below ScoreBits(%v)=%x", vals[i-1], a, vals[i], b)
		}
		if ScoreFromBits(b) != vals[i] {
			t.Fatalf("ScoreFromBits(ScoreBits(%v)) = %v", vals[i], ScoreFromBits(b))
		}
	}
	if ScoreBits(math.Copysign(0, -1)) >= ScoreBits(0) {
		t.Fatal("-0 does not sort just before 0")
	}
}

func TestMetaRoundTripAndErrors(t *testing.T) {
	for _, m := range []Meta{
		{Type: TypeHash, Version: 9, ExpireMs: 1700000000000, Size: 3},
		{Type: TypeList, Version: 1, Size: 2, Head: ListStart - 1, Tail: ListStart + 1},
		{Type: TypeZSet, Version: math.MaxUint64, ExpireMs: -1},
	} {
		got, err := DecodeMeta(m.Encode())
		if err != nil || got != m {
			t.Fatalf("round trip of %+v: %+v, %v", m, got, err)
		}
	}
	bad := map[string][]byte{
		"empty":      nil,
		"format":     append([]byte{9}, NewMeta(TypeHash, 1).Encode()[1:]...),
		"type":       append([]byte{1, 99}, make([]byte, 24)...),
		"short list": NewMeta(TypeHash, 1).Encode()[:metaLen-1],
		"list size":  Meta{Type: TypeList, Size: 5, Head: 1, Tail: 2}.Encode(),
	}
	for name, b := range bad {
		if _, err := DecodeMeta(b); err == nil {
			t.Errorf("%s: DecodeMeta accepted %x", name, b)
		}
	}
}

// A hash loaded back keeps its insertion order (a listpack's HGETALL
// order), through deletes, re-adds and updates; a hash stored before
// sequences were (format 1) loads in field order.
func TestHashOrderSurvivesReload(t *testing.T) {
	store := kv{}
	key := []byte("h")
	h, m := NewHash(), NewMeta(TypeHash, 3)
	set := func(f, v string) {
		store.apply(t, HashSet(key, &m, h, []byte(f), h.Set([]byte(f), []byte(v))))
	}
	set("b", "1")
	set("a", "2")
	set("c", "3")
	h.Delete([]byte("a"))
	store.apply(t, HashDel(key, &m, []byte("a")))
	set("a", "4")
	set("b", "5")
	order := func(h *Hash) string {
		var out []string
		for f, v := range h.All() {
			out = append(out, f+"="+v)
		}
		return strings.Join(out, " ")
	}
	cur, _ := store.meta(t, key)
	got, err := LoadHash(key, cur, store.scan(ElemPrefix(key, cur.Version)))
	if err != nil || order(got) != "b=5 c=3 a=4" || order(got) != order(h) {
		t.Fatalf("loaded %q (%v), in memory %q", order(got), err, order(h))
	}
	// Fields added after the load still go last.
	got.Set([]byte("0"), []byte("x"))
	store.apply(t, HashSet(key, &cur, got, []byte("0"), true))
	again, err := LoadHash(key, cur, store.scan(ElemPrefix(key, cur.Version)))
	if err != nil || order(again) != "b=5 c=3 a=4 0=x" {
		t.Fatalf("loaded %q (%v)", order(again), err)
	}
	// Format 1: raw values, field order.
	old := Meta{Type: TypeHash, Version: 1}
	oh := NewHash()
	old2 := old
	for _, f := range []string{"z", "y"} {
		oh.Set([]byte(f), []byte("v"+f))
		store.apply(t, HashSet([]byte("o"), &old2, oh, []byte(f), true))
	}
	if old2.Encode()[0] != 1 {
		t.Fatal("a format 1 hash rewritten as format 2")
	}
	om, _ := store.meta(t, []byte("o"))
	loaded, err := LoadHash([]byte("o"), om, store.scan(ElemPrefix([]byte("o"), om.Version)))
	if err != nil || order(loaded) != "y=vy z=vz" {
		t.Fatalf("format 1 hash loaded %q (%v)", order(loaded), err)
	}
}
