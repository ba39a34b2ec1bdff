package durable

import (
	"fmt"
	"sync"
	"testing"
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
