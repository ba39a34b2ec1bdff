package shed

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/dorivo/dorivo/breaker"
	"github.com/dorivo/dorivo/datapath/core"
	"github.com/dorivo/dorivo/internal/faultfs"
	"github.com/dorivo/dorivo/shardstore/durable"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// The disk breaker on a real store: fsyncs slowed to 100 ms open it, the
// loops' set then refuses writes (a writer obeying it, as the loops do,
// stops writing), and once the disk is fast again it closes by itself after
// its wait and five fast probes. Every acknowledged write is on disk.
// The figures: go test -run DiskBreaker -v ./userspace/shed/
func TestDiskBreakerOnSlowFsync(t *testing.T) {
	fs := faultfs.New(vfs.NewMem())
	cfg := DiskConfig()
	cfg.OpenWait = 500 * time.Millisecond // keep the test short; the default is 2 s
	disk, observe, err := NewDiskBreaker(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := durable.Open("/db", durable.Options{FS: ObserveSyncs(fs, RaftLogDir, observe), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	table, _ := slot.NewTable(1)
	var board core.ShedBoard
	mir, err := NewMirror(Options{Board: &board, Table: table, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	mir.Watch(disk, core.ShedDisk, nil)
	var states sync.Map // breaker.State -> time first entered
	disk.AddListener(func(tr breaker.Transition) { states.LoadOrStore(tr.To, time.Now()) })
	stop := make(chan struct{})
	runDone := make(chan struct{})
	go func() {
		defer close(runDone)
		mir.RunUntil(stop)
	}()

	// One closed-loop writer, refusing itself while the set sheds writes.
	var mu sync.Mutex
	acked := map[string]bool{}
	refused := 0
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if set := board.Current(); set != nil && set[0].Reasons&core.ShedDisk != 0 {
				mu.Lock()
				refused++
				mu.Unlock()
				time.Sleep(time.Millisecond)
				continue
			}
			k := fmt.Sprintf("k%d", i)
			done := make(chan error, 1)
			st.Propose(0, durable.AppendSet(nil, []byte(k), []byte("v"), 0), func(_ uint64, err error) { done <- err })
			if err := <-done; err == nil {
				mu.Lock()
				acked[k] = true
				mu.Unlock()
			}
		}
	}()
	waitState := func(s breaker.State, within time.Duration) time.Time {
		t.Helper()
		deadline := time.Now().Add(within)
		for time.Now().Before(deadline) {
			if v, ok := states.Load(s); ok {
				return v.(time.Time)
			}
			time.Sleep(time.Millisecond)
		}
		t.Fatalf("the disk breaker never went %v within %v (now %v)", s, within, disk.State())
		return time.Time{}
	}

	time.Sleep(50 * time.Millisecond) // healthy writes first
	fault := time.Now()
	fs.SetDelay(100 * time.Millisecond)
	opened := waitState(breaker.Open, 10*time.Second)
	// The loops see it: writes are refused while it is open.
	deadline := time.Now().Add(2 * time.Second)
	for board.Current() == nil && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if set := board.Current(); set == nil || set[0].Reasons&core.ShedDisk == 0 {
		t.Fatal("the loops' set does not shed writes with the disk breaker open")
	}
	recovered := time.Now()
	fs.SetDelay(0)
	closed := waitState(breaker.Closed, 10*time.Second)
	time.Sleep(20 * time.Millisecond)
	if board.Current() != nil {
		t.Error("the loops' set still sheds after the breaker closed")
	}
	close(stop)
	<-writerDone
	<-runDone
	mu.Lock()
	defer mu.Unlock()
	if refused == 0 {
		t.Error("no write was refused while the breaker was open")
	}
	for k := range acked {
		if _, _, found, err := st.Get(0, []byte(k)); err != nil || !found {
			t.Fatalf("acknowledged write %s lost (found %v, err %v)", k, found, err)
		}
	}
	t.Logf("fault -> open: %v; recovery -> closed: %v (open wait %v, then %d probes); %d writes acknowledged, %d refusals while open",
		opened.Sub(fault).Round(time.Millisecond), closed.Sub(recovered).Round(time.Millisecond), cfg.OpenWait, cfg.HalfOpenCalls, len(acked), refused)
}
