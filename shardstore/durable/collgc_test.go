package durable

import (
	"fmt"
	"slices"
	"testing"

	"github.com/dorivo/dorivo/shardstore/collection"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// putGarbage writes, as drops did before they deleted elements: a live
// hash a (version 2) beside records of its dropped version 1 (elements
// and a score index), elements of a dropped b with no metadata, a live
// sorted set c, and a record of no collection layout.
func putGarbage(t *testing.T, s *Store) {
	t.Helper()
	put := func(key string, kvs ...[]byte) {
		t.Helper()
		sl := slot.Of([]byte(key))
		var rec []byte
		for i := 0; i < len(kvs); i += 2 {
			rec = AppendCollPut(rec, sl, kvs[i], kvs[i+1])
		}
		if r := wait(t, proposeAsync(s, []byte(key), rec)); r.err != nil {
			t.Fatal(r.err)
		}
	}
	a, b, c := []byte("{a}"), []byte("{b}"), []byte("{c}")
	ma := collection.NewMeta(collection.TypeHash, 2)
	ma.Size = 2
	mc := collection.NewMeta(collection.TypeZSet, 7)
	mc.Size = 1
	put("{a}",
		collection.ElemKey(a, 1, []byte("f1")), []byte("old"), collection.ElemKey(a, 1, []byte("f2")), []byte("old"),
		collection.ScoreKey(a, 1, 1, []byte("m")), nil,
		collection.MetaKey(a), ma.Encode(),
		collection.ElemKey(a, 2, []byte("f1")), []byte("new"), collection.ElemKey(a, 2, []byte("f3")), []byte("new"),
		[]byte("xyz"), []byte("not a collection record"))
	put("{b}", collection.ElemKey(b, 5, []byte("m1")), nil, collection.ElemKey(b, 5, []byte("m2")), nil)
	put("{c}", collection.MetaKey(c), mc.Encode(), collection.ElemKey(c, 7, []byte("m")), collection.EncodeScore(1),
		collection.ScoreKey(c, 7, 1, []byte("m")), nil)
}

// liveRecords lists the collection records left, by record key.
func liveRecords(t *testing.T, s *Store) []string {
	var out []string
	for k := range collRecs(t, s, nil, nil) {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// The collector deletes the records of versions no metadata names, in
// bounded passes that resume where the last stopped, and nothing else.
func TestCollectGarbage(t *testing.T) {
	want := func() []string {
		var out []string
		for _, r := range [][2]string{
			{"{a}", string(collection.MetaKey([]byte("{a}")))},
			{"{a}", string(collection.ElemKey([]byte("{a}"), 2, []byte("f1")))},
			{"{a}", string(collection.ElemKey([]byte("{a}"), 2, []byte("f3")))},
			{"{a}", "xyz"},
			{"{c}", string(collection.MetaKey([]byte("{c}")))},
			{"{c}", string(collection.ElemKey([]byte("{c}"), 7, []byte("m")))},
			{"{c}", string(collection.ScoreKey([]byte("{c}"), 7, 1, []byte("m")))},
		} {
			out = append(out, fmt.Sprintf("%d/%s", slot.Of([]byte(r[0])), r[1]))
		}
		slices.Sort(out)
		return out
	}
	s := openStore(t, t.TempDir(), Options{Shards: 2})
	defer s.Close()
	putGarbage(t, s)
	if n := len(liveRecords(t, s)); n != 12 {
		t.Fatalf("%d records written", n)
	}
	n, err := s.CollectGarbage(1 << 20)
	if err != nil || n != 3 {
		t.Fatalf("CollectGarbage = %d, %v; want 3 runs deleted", n, err)
	}
	if got, w := liveRecords(t, s), want(); !slices.Equal(got, w) {
		t.Fatalf("left %q\nwant %q", got, w)
	}
	if n, err := s.CollectGarbage(1 << 20); n != 0 || err != nil {
		t.Fatalf("second pass deleted %d (%v)", n, err)
	}

	// One record a pass: the passes go on from each other.
	s2 := openStore(t, t.TempDir(), Options{Shards: 2})
	defer s2.Close()
	putGarbage(t, s2)
	total := 0
	for range 20 {
		n, err := s2.CollectGarbage(1)
		if err != nil || n > 1 {
			t.Fatalf("a pass of one record deleted %d (%v)", n, err)
		}
		total += n
	}
	if got, w := liveRecords(t, s2), want(); total != 3 || !slices.Equal(got, w) {
		t.Fatalf("after passes of one: %d deleted, left %q", total, got)
	}
}
