package durable

import (
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// cached reports what ristretto holds for key, bypassing the staleness
// check.
func cached(s *Store, key string) (string, bool) {
	s.cache.c.Wait()
	e, ok := s.cache.c.Get(key)
	if !ok {
		return "", false
	}
	return string(e.value), true
}

func TestCacheServesHitsAndWritesInvalidate(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{CacheBytes: 1 << 20})
	defer s.Close()
	mustSet(t, s, "k", "v1", 0)
	mustGet(t, s, "k")
	if v, ok := cached(s, "k"); !ok || v != "v1" {
		t.Fatalf("cache holds %q, %v after a read", v, ok)
	}
	// Remove the value under the cache: a hit still serves it, which
	// proves reads go through the cache.
	if err := s.db.Delete(dataKey(nil, slot.Of([]byte("k")), []byte("k")), pebble.NoSync); err != nil {
		t.Fatal(err)
	}
	if v, ok := mustGet(t, s, "k"); !ok || v != "v1" {
		t.Fatalf("cache hit = %q, %v", v, ok)
	}
	// A write through the store makes the cached entry stale at once.
	mustSet(t, s, "k", "v2", 0)
	if v, ok := mustGet(t, s, "k"); !ok || v != "v2" {
		t.Fatalf("after write Get = %q, %v, want v2", v, ok)
	}
	// Absence is cached too, and a later write also beats it.
	if _, ok := mustGet(t, s, "missing"); ok {
		t.Fatal("missing key found")
	}
	mustSet(t, s, "missing", "now", 0)
	if v, ok := mustGet(t, s, "missing"); !ok || v != "now" {
		t.Fatalf("after write to a cached absence Get = %q, %v", v, ok)
	}
}

// The classic fill race, forced deterministically: a reader reads the old
// value from pebble, the write commits and applies, then the reader's fill
// lands in the cache. The stale entry must never be served.
func TestCacheStaleFillNeverServed(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{CacheBytes: 1 << 20})
	defer s.Close()
	for attempt := range 20 {
		key := fmt.Sprint("k", attempt)
		mustSet(t, s, key, "old", 0)
		fired := false
		s.testHookBeforeFill = func(k []byte) {
			if !fired && string(k) == key {
				fired = true
				mustSet(t, s, key, "new", 0)
			}
		}
		if v, ok := mustGet(t, s, key); !ok || v != "old" {
			t.Fatalf("racing read = %q, %v, want the value it read, old", v, ok)
		}
		s.testHookBeforeFill = nil
		if v, ok := cached(s, key); !ok || v != "old" {
			continue // ristretto dropped the fill; the race did not happen
		}
		// The stale value sits in ristretto; Get must not serve it.
		if v, ok := mustGet(t, s, key); !ok || v != "new" {
			t.Fatalf("Get = %q, %v after the write was acknowledged: stale fill served", v, ok)
		}
		return
	}
	t.Fatal("ristretto dropped every stale fill; the race was never set up")
}
