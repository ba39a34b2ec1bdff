package keyspace

import (
	"testing"

	"github.com/dorivo/dorivo/shardstore/collection"
)

func newHashColl(fields ...string) *Coll {
	h := collection.NewHash()
	for i := 0; i+1 < len(fields); i += 2 {
		h.Set([]byte(fields[i]), []byte(fields[i+1]))
	}
	m := collection.NewMeta(collection.TypeHash, 7)
	m.Size = uint64(h.Len())
	return &Coll{Meta: m, V: h}
}

// TestTypedValues: a key holds a string or a collection; replacing one by
// the other, deleting, expiring and flushing keep the counters right.
func TestTypedValues(t *testing.T) {
	ks := New()
	ks.Set([]byte("s"), []byte("a string value longer than sixteen bytes"), 0)
	hot := ks.HotBytes()
	if ks.HasColls() {
		t.Fatal("HasColls with strings only")
	}
	ks.SetColl([]byte("h"), newHashColl("f", "v"), 0)
	if got := ks.Kind([]byte("h"), 0); got != KindHash || got.String() != "hash" {
		t.Fatalf("Kind(h) = %v", got)
	}
	if ks.Kind([]byte("s"), 0) != KindString || ks.Kind([]byte("x"), 0) != KindNone {
		t.Fatal("Kind of a string or a missing key")
	}
	if ks.HotBytes() != hot || ks.Len() != 2 || ks.CollLen() != 1 {
		t.Fatalf("hot %d (want %d), len %d, colls %d", ks.HotBytes(), hot, ks.Len(), ks.CollLen())
	}
	// A string over the collection, and a collection over the string.
	ks.Set([]byte("h"), []byte("now a string"), 0)
	if ks.Kind([]byte("h"), 0) != KindString || ks.CollLen() != 0 {
		t.Fatal("SET over a collection left it typed")
	}
	if v, _ := ks.Get([]byte("h"), 0); string(v) != "now a string" {
		t.Fatalf("Get(h) = %q", v)
	}
	ks.SetColl([]byte("s"), newHashColl("a", "b"), 5000)
	if c := ks.Coll([]byte("s"), 0); c == nil || c.Meta.ExpireMs != 5000 {
		t.Fatalf("Coll(s) = %+v", c)
	}
	ks.SetExpire([]byte("s"), 9000, 0)
	if c := ks.CollAny([]byte("s")); c.Meta.ExpireMs != 9000 {
		t.Fatalf("expiry not in the metadata: %d", c.Meta.ExpireMs)
	}
	if ks.Coll([]byte("s"), 9000) != nil || ks.Len() != 1 || ks.CollLen() != 0 {
		t.Fatal("expired collection still there")
	}
	// Eviction passes over collections, and Flush forgets them.
	ks.SetColl([]byte("h2"), newHashColl("x", "y"), 0)
	ks.Stamp = 0
	if d, _ := ks.Evict(-1, 1<<62, 2*ks.TurnSteps(), nil); d != 1 { // only the string h
		t.Fatalf("Evict dropped %d values", d)
	}
	if ks.Coll([]byte("h2"), 0) == nil {
		t.Fatal("collection evicted")
	}
	if !ks.Delete([]byte("h2"), 0) || ks.CollLen() != 0 {
		t.Fatal("Delete of a collection")
	}
	ks.SetColl([]byte("h3"), newHashColl("x", "y"), 0)
	ks.Flush()
	if ks.CollLen() != 0 || ks.Len() != 0 || ks.HotBytes() != 0 {
		t.Fatal("Flush left collections")
	}
	if v := ks.NextVersion(10); v != 10<<16 || ks.NextVersion(10) != v+1 {
		t.Fatal("NextVersion does not grow")
	}
}

// TestTypedWatch: SetColl and Touched make watchers dirty.
func TestTypedWatch(t *testing.T) {
	ks := New()
	var w Watcher
	ks.Watch([]byte("h"), &w, 0)
	ks.SetColl([]byte("h"), newHashColl("f", "v"), 0)
	if !w.Dirty {
		t.Fatal("SetColl did not touch")
	}
	w.Dirty = false
	ks.Touched([]byte("h"))
	if !w.Dirty {
		t.Fatal("Touched did not touch")
	}
}

func TestTypedStringReadPanics(t *testing.T) {
	ks := New()
	ks.SetColl([]byte("h"), newHashColl("f", "v"), 0)
	defer func() {
		if recover() == nil {
			t.Fatal("Get of a collection did not panic")
		}
	}()
	ks.Get([]byte("h"), 0)
}
