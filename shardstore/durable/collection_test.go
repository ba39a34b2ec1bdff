package durable

import (
	"fmt"
	"testing"

	"github.com/dorivo/dorivo/shardstore/slot"
)

// collRecs reads every collection record of the store's slots.
func collRecs(t *testing.T, s *Store, lo, hi []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := s.ScanCollections(0, uint16(slot.Count-1), lo, hi, func(sl uint16, rk, v []byte) error {
		out[fmt.Sprintf("%d/%s", sl, rk)] = string(v)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCollectionRecords: collection records commit with string writes,
// survive a restart (log replay), scan by slot and key range, and go with
// FLUSHALL's slot ranges.
func TestCollectionRecords(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{Shards: 2})
	put := func(key string, recs ...string) {
		t.Helper()
		sl := slot.Of([]byte(key))
		var rec []byte
		for i := 0; i < len(recs); i += 2 {
			if recs[i+1] == "<del>" {
				rec = AppendCollDel(rec, sl, []byte(recs[i]))
			} else {
				rec = AppendCollPut(rec, sl, []byte(recs[i]), []byte(recs[i+1]))
			}
		}
		rec = AppendSet(rec, []byte(key+"-str"), []byte("s"), 0)
		if r := wait(t, proposeAsync(s, []byte(key), rec)); r.err != nil {
			t.Fatal(r.err)
		}
	}
	ka, kb := "{a}", "{b}"
	sa, sb := slot.Of([]byte(ka)), slot.Of([]byte(kb))
	put(ka, "ma", "meta-a", "ea1", "1", "ea2", "2")
	put(kb, "mb", "meta-b", "eb1", "x")
	put(ka, "ea2", "<del>", "ea3", "3")
	want := fmt.Sprint(map[string]string{
		fmt.Sprintf("%d/ma", sa): "meta-a", fmt.Sprintf("%d/ea1", sa): "1", fmt.Sprintf("%d/ea3", sa): "3",
		fmt.Sprintf("%d/mb", sb): "meta-b", fmt.Sprintf("%d/eb1", sb): "x",
	})
	if got := fmt.Sprint(collRecs(t, s, nil, nil)); got != want {
		t.Fatalf("records %s, want %s", got, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, Options{Shards: 3}) // replayed, and resharded
	defer s.Close()
	if got := fmt.Sprint(collRecs(t, s, nil, nil)); got != want {
		t.Fatalf("after restart: records %s, want %s", got, want)
	}
	metas := fmt.Sprint(collRecs(t, s, []byte("m"), []byte("n")))
	if want := fmt.Sprint(map[string]string{fmt.Sprintf("%d/ma", sa): "meta-a", fmt.Sprintf("%d/mb", sb): "meta-b"}); metas != want {
		t.Fatalf("metadata records %s, want %s", metas, want)
	}
	if v, ok := mustGet(t, s, ka+"-str"); !ok || v != "s" {
		t.Fatalf("string beside the records: %q %v", v, ok)
	}
	// FLUSHALL of a's slot range takes its records, not b's.
	rec := AppendDeleteSlots(nil, sa, sa)
	if r := wait(t, proposeAsync(s, []byte(ka), rec)); r.err != nil {
		t.Fatal(r.err)
	}
	if got := len(collRecs(t, s, nil, nil)); got != 2 {
		t.Fatalf("%d records after deleting slot %d, want b's 2", got, sa)
	}
	// A truncated collection record applies nothing.
	bad := AppendCollPut(nil, sb, []byte("mb"), []byte("new"))
	if r := wait(t, proposeAsync(s, []byte(kb), bad[:len(bad)-2])); r.err == nil {
		t.Fatal("truncated record applied")
	}
	if err := s.ScanCollections(5, 4, nil, nil, nil); err == nil {
		t.Fatal("bad slot range scanned")
	}
}

// TestCollectionRangeDelete: a range deletion takes the records of its
// slot in [lo, hi) only, in the same record as other writes, and stays
// applied after a restart; an empty range is refused.
func TestCollectionRangeDelete(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{Shards: 2})
	ka, kb := "{a}", "{b}"
	sa, sb := slot.Of([]byte(ka)), slot.Of([]byte(kb))
	var rec []byte
	for _, rk := range []string{"ma", "ea1", "ea2", "ea3", "eb1", "f"} {
		rec = AppendCollPut(rec, sa, []byte(rk), []byte("v"))
	}
	rec = AppendCollPut(rec, sb, []byte("ea2"), []byte("other slot"))
	if r := wait(t, proposeAsync(s, []byte(ka), rec)); r.err != nil {
		t.Fatal(r.err)
	}
	rec = AppendCollDel(nil, sa, []byte("ma"))
	rec = AppendCollDelRange(rec, sa, []byte("ea"), []byte("eb"))
	if r := wait(t, proposeAsync(s, []byte(ka), rec)); r.err != nil {
		t.Fatal(r.err)
	}
	want := fmt.Sprint(map[string]string{
		fmt.Sprintf("%d/eb1", sa): "v", fmt.Sprintf("%d/f", sa): "v", fmt.Sprintf("%d/ea2", sb): "other slot",
	})
	if got := fmt.Sprint(collRecs(t, s, nil, nil)); got != want {
		t.Fatalf("records %s, want %s", got, want)
	}
	bad := AppendCollDelRange(nil, sa, []byte("f"), []byte("f"))
	if r := wait(t, proposeAsync(s, []byte(ka), bad)); r.err == nil {
		t.Fatal("empty range applied")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, Options{Shards: 2})
	defer s.Close()
	if got := fmt.Sprint(collRecs(t, s, nil, nil)); got != want {
		t.Fatalf("after restart: records %s, want %s", got, want)
	}
}
