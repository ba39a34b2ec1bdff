package durable

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/dorivo/dorivo/internal/slowfs"
)

// OnSync sees every raft log write with how long its sync took: a slowed
// disk shows in the durations, and nothing is acknowledged before the
// observer saw its sync.
func TestOnSyncObservesEverySync(t *testing.T) {
	fs := slowfs.New(vfs.NewMem())
	var mu sync.Mutex
	var took []time.Duration
	var errs int
	s := openStore(t, memDir, Options{FS: fs, OnSync: func(d time.Duration, err error) {
		mu.Lock()
		defer mu.Unlock()
		took = append(took, d)
		if err != nil {
			errs++
		}
	}})
	defer s.Close()
	seen := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(took)
	}
	mustSet(t, s, "fast", "1", 0)
	n := seen()
	if n == 0 {
		t.Fatal("a write was acknowledged before OnSync saw its sync")
	}
	const delay = 30 * time.Millisecond
	fs.SetDelay(delay)
	mustSet(t, s, "slow", "2", 0)
	fs.SetDelay(0)
	mu.Lock()
	defer mu.Unlock()
	if len(took) <= n {
		t.Fatalf("OnSync saw %d syncs after the slow write, want more than %d", len(took), n)
	}
	if longest := slices.Max(took[n:]); longest < delay {
		t.Errorf("the slowed syncs took at most %v, want at least %v", longest, delay)
	}
	if errs != 0 {
		t.Errorf("%d syncs reported errors, want none", errs)
	}
}
