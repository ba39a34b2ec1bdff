package keyspace

import (
	"fmt"
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
	if ks.HotBytes() <= hot || ks.Len() != 2 || ks.CollLen() != 1 {
		t.Fatalf("hot %d (want more than %d), len %d, colls %d", ks.HotBytes(), hot, ks.Len(), ks.CollLen())
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
	// Eviction drops collections too, and Flush forgets them.
	ks.SetColl([]byte("h2"), newHashColl("x", "y"), 0)
	ks.Stamp = 0
	if d, _ := ks.Evict(-1, 1<<62, 2*ks.TurnSteps(), nil); d != 2 { // the string h and h2
		t.Fatalf("Evict dropped %d values", d)
	}
	if c := ks.CollMeta([]byte("h2"), 0); c == nil || c.V != nil || ks.Kind([]byte("h2"), 0) != KindHash || ks.HotBytes() != 0 {
		t.Fatalf("evicted collection: %+v, hot %d", c, ks.HotBytes())
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

// TestColdCollections: an evicted collection keeps its kind, metadata and
// expiry; FillColl brings it back unless it was written since; deleting,
// replacing and expiring cold or hot collections keep HotBytes and ColdLen
// right.
func TestColdCollections(t *testing.T) {
	ks := New()
	ks.Stamp = 1
	ks.SetColl([]byte("a"), newHashColl("f", "v"), 0)
	ks.SetColl([]byte("b"), newHashColl("f", "v", "g", "w"), 7000)
	ks.SetColl([]byte("c"), newHashColl("f", "v"), 0)
	one := CollBytes(newHashColl("f", "v").V)
	if ks.HotBytes() < 2*one {
		t.Fatalf("hot %d for three hashes of about %d", ks.HotBytes(), one)
	}
	if d, _ := ks.Evict(-1, 0, 4*ks.TurnSteps(), nil); d != 0 {
		t.Fatal("evicted collections stamped after the clean mark")
	}
	if d, _ := ks.Evict(-1, 1, 4*ks.TurnSteps(), func(k string) bool { return k == "c" }); d != 2 {
		t.Fatalf("Evict dropped %d", d)
	}
	if ks.ColdLen() != 2 || ks.HotBytes() != ks.colls[ks.mustID(t, "c")].bytes {
		t.Fatalf("cold %d, hot %d", ks.ColdLen(), ks.HotBytes())
	}
	m, ok := ks.ColdColl([]byte("b"))
	if !ok || m.Size != 2 || m.ExpireMs != 7000 || ks.Kind([]byte("b"), 0) != KindHash {
		t.Fatalf("cold b: %+v %v", m, ok)
	}
	if exp, ok := ks.Expiry([]byte("b"), 0); !ok || exp != 7000 {
		t.Fatal("expiry of a cold collection")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("CollKind of a cold collection did not panic")
			}
		}()
		ks.CollKind([]byte("a"), 0)
	}()
	stamp, _ := ks.ColdStamp([]byte("a"))
	if ks.Fill([]byte("a"), []byte("x"), stamp) {
		t.Fatal("Fill of a collection")
	}
	filled := newHashColl("f", "v").V
	if !ks.FillColl([]byte("a"), filled, CollBytes(filled), stamp) || ks.ColdLen() != 1 {
		t.Fatal("FillColl")
	}
	if co, k := ks.CollKind([]byte("a"), 0); k != KindHash || co.V.(*collection.Hash).Len() != 1 {
		t.Fatal("filled collection")
	}
	// A stale fill: b written (its expiry) after the fetch started.
	stamp, _ = ks.ColdStamp([]byte("b"))
	ks.Stamp = 2
	ks.SetExpire([]byte("b"), 8000, 0)
	if ks.FillColl([]byte("b"), filled, 1, stamp) {
		t.Fatal("stale FillColl")
	}
	// SET over a cold collection, SetColl over a cold one, Delete.
	ks.Stamp = 1
	ks.Evict(-1, 1, 4*ks.TurnSteps(), nil)
	ks.Set([]byte("a"), []byte("string"), 0)
	ks.SetColl([]byte("c"), newHashColl("x", "y"), 0)
	if ks.Kind([]byte("a"), 0) != KindString || ks.ColdLen() != 1 || ks.CollLen() != 2 {
		t.Fatalf("after SET and SetColl over cold collections: cold %d, colls %d", ks.ColdLen(), ks.CollLen())
	}
	ks.Delete([]byte("a"), 0)
	ks.Delete([]byte("c"), 0)
	if ks.Kind([]byte("b"), 9000) != KindNone || ks.ColdLen() != 0 || ks.HotBytes() != 0 || ks.Len() != 0 {
		t.Fatalf("cold %d, hot %d, len %d", ks.ColdLen(), ks.HotBytes(), ks.Len())
	}
	ks.SetCollCold([]byte("d"), collection.NewMeta(collection.TypeSet, 5), 0)
	if ks.Kind([]byte("d"), 0) != KindSet || ks.ColdLen() != 1 || ks.HotBytes() != 0 {
		t.Fatal("SetCollCold")
	}
}

// TestCollBytesFollowWrites: a collection's share of HotBytes follows its
// growth and shrinking through Touched.
func TestCollBytesFollowWrites(t *testing.T) {
	ks := New()
	co := newHashColl()
	ks.SetColl([]byte("h"), co, 0)
	h := co.V.(*collection.Hash)
	small := ks.HotBytes()
	for i := range 5000 {
		h.Set([]byte(fmt.Sprint("field", i)), make([]byte, 100))
		co.Meta.Size++
		ks.Touched([]byte("h"))
	}
	if got, want := ks.HotBytes(), CollBytes(h); got < want*3/4 || got > want*5/4 {
		t.Fatalf("hot %d for a hash of about %d", got, want)
	}
	for i := range 5000 {
		h.Delete([]byte(fmt.Sprint("field", i)))
		co.Meta.Size--
		ks.Touched([]byte("h"))
	}
	if got, want := ks.HotBytes(), CollBytes(h); got < want*3/4 || got > want*5/4 {
		t.Fatalf("hot %d after emptying, for a hash of about %d (%d when new)", got, want, small)
	}
}

func (ks *Keyspace) mustID(t *testing.T, key string) uint32 {
	id, ok := ks.lookup([]byte(key))
	if !ok {
		t.Fatalf("no key %q", key)
	}
	return id
}
