package shed

import (
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/dorivo/dorivo/internal/faultfs"
	"github.com/dorivo/dorivo/shardstore/durable"
)

// ObserveSyncs sees the store's raft log fsyncs, with their durations, and
// nothing of pebble's files; a write is acknowledged only after its fsync
// was observed.
func TestObserveSyncsSeesRaftLogSyncs(t *testing.T) {
	slow := faultfs.New(vfs.NewMem())
	var mu sync.Mutex
	var took []time.Duration
	fs := ObserveSyncs(slow, RaftLogDir, func(d time.Duration, err error) {
		if err != nil {
			t.Errorf("sync error %v", err)
		}
		mu.Lock()
		took = append(took, d)
		mu.Unlock()
	})
	st, err := durable.Open("/db", durable.Options{FS: fs, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	seen := func() int { mu.Lock(); defer mu.Unlock(); return len(took) }
	set := func(k string) {
		done := make(chan error, 1)
		st.Propose(0, durable.AppendSet(nil, []byte(k), []byte("v"), 0), func(_ uint64, err error) { done <- err })
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	before := seen()
	allBefore := slow.Syncs()
	set("a")
	if seen() <= before {
		t.Fatal("a write was acknowledged before its fsync was observed")
	}
	const delay = 30 * time.Millisecond
	slow.SetDelay(delay)
	n := seen()
	set("b")
	slow.SetDelay(0)
	mu.Lock()
	longest := time.Duration(0)
	for _, d := range took[n:] {
		longest = max(longest, d)
	}
	mu.Unlock()
	if longest < delay {
		t.Errorf("the slowed fsyncs took at most %v, want at least %v", longest, delay)
	}
	// Pebble syncs too (its manifest and options on open): not the log's.
	if all, log := slow.Syncs()-allBefore, uint64(seen()-before); log > all {
		t.Errorf("%d syncs observed of %d made", log, all)
	}
	if slow.Syncs() <= uint64(seen()) {
		t.Errorf("all %d syncs were observed: pebble's are not the log's", seen())
	}
}
