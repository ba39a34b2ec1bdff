package durable

import (
	"fmt"
	"sync"
	"testing"

	"github.com/dorivo/dorivo/shardstore/slot"
)

// Many concurrent proposals share fsyncs: the counters, not the clock, show
// that the driver groups them.
func TestGroupCommitSharesFsyncs(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{Shards: 4})
	defer s.Close()
	before := s.Stats()

	const writers, each = 16, 250
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			var inner sync.WaitGroup
			for i := range each {
				k := fmt.Sprintf("{w%d}:%d", w, i)
				inner.Add(1)
				ch := proposeAsync(s, []byte(k), AppendSet(nil, []byte(k), []byte("v"), 0))
				go func() {
					defer inner.Done()
					if r := <-ch; r.err != nil {
						errs <- r.err
					}
				}()
			}
			inner.Wait()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := s.Stats()
	entries, fsyncs := st.Entries-before.Entries, st.Fsyncs-before.Fsyncs
	if st.Acked-before.Acked != writers*each {
		t.Fatalf("acked %d, want %d", st.Acked-before.Acked, writers*each)
	}
	if entries < writers*each {
		t.Fatalf("%d log entries for %d writes", entries, writers*each)
	}
	// One fsync per write would be 4000; grouping must cut that at least
	// tenfold.
	if fsyncs == 0 || fsyncs*10 > entries {
		t.Fatalf("%d fsyncs for %d entries: writes are not group-committed", fsyncs, entries)
	}
	t.Logf("%d entries in %d fsyncs (%.1f per fsync), %d batches", entries, fsyncs, float64(entries)/float64(fsyncs), st.Batches-before.Batches)
}

// A lone proposer gets one fsync per write: the counter counts what it
// claims to, so the test above is able to fail.
func TestSerialWritesFsyncEach(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{})
	defer s.Close()
	before := s.Stats()
	for i := range 20 {
		mustSet(t, s, fmt.Sprint(i), "v", 0)
	}
	st := s.Stats()
	if got := st.Fsyncs - before.Fsyncs; got != 20 {
		t.Fatalf("20 serial writes took %d fsyncs, want 20", got)
	}
}

// Writes to different shards that meet in one driver cycle share one fsync:
// one pebble batch carries every shard's entries.
func TestShardsShareOneFsync(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{Shards: 4})
	defer s.Close()
	release := stallDriver(t, s)
	before := s.Stats()
	var chs []<-chan result
	seen := map[uint32]bool{}
	for i := 0; len(seen) < 4; i++ {
		k := []byte(fmt.Sprintf("{s%d}", i))
		if sh := s.ShardOf(slot.Of(k)); !seen[sh] {
			seen[sh] = true
			chs = append(chs, proposeAsync(s, k, AppendSet(nil, k, []byte("v"), 0)))
		}
	}
	release()
	for _, ch := range chs {
		if r := wait(t, ch); r.err != nil {
			t.Fatal(r.err)
		}
	}
	st := s.Stats()
	if f, e := st.Fsyncs-before.Fsyncs, st.Entries-before.Entries; f != 1 || e != 4 {
		t.Fatalf("writes to 4 shards in one cycle took %d fsyncs for %d entries, want 1 for 4", f, e)
	}
}
