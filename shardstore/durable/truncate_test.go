package durable

import (
	"fmt"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/dorivo/dorivo/internal/testenv"
)

// The log is truncated by whole segments behind pebble's flushes, so it
// stays bounded, and a store restarts (after a power cut too) from the
// truncated log.
func TestLogTruncationBoundsLogAndSurvivesPowerLoss(t *testing.T) {
	fs := vfs.NewCrashableMem()
	opts := Options{FS: fs, SegmentBytes: 4096}
	s := openStore(t, memDir, opts)
	for i := range 600 {
		mustSet(t, s, fmt.Sprint("k", i), fmt.Sprint(i), 0)
	}
	testenv.WaitFor(t, "sealed segments to be removed", func() bool { return len(listSegmentFiles(t, fs, memDir)) <= 3 })
	if st := s.Stats(); st.SegmentsRemoved < 5 {
		t.Fatalf("%d segments removed after 600 writes into 4 KiB segments", st.SegmentsRemoved)
	}
	crashed := fs.CrashClone(vfs.CrashCloneCfg{})
	s.Close()

	opts.FS = crashed
	s = openStore(t, memDir, opts)
	defer s.Close()
	for i := range 600 {
		if v, ok := mustGet(t, s, fmt.Sprint("k", i)); !ok || v != fmt.Sprint(i) {
			t.Fatalf("k%d = %q, %v after restart from a truncated log", i, v, ok)
		}
	}
	mustSet(t, s, "more", "x", 0)
}

// A sealed segment is removed only after pebble has flushed the applies of
// every entry in it: while the flush is held, nothing is removed, and a
// power cut then still finds every write (in the log); once the flush is
// done the segments go, and a power cut finds every write in pebble.
func TestTruncationOnlyAfterFlush(t *testing.T) {
	fs := vfs.NewCrashableMem()
	opts := Options{FS: fs, SegmentBytes: 4096}
	s := openStore(t, memDir, opts)
	entered, gate := make(chan struct{}), make(chan struct{})
	var once sync.Once
	s.testHookBeforeFlush = func() {
		once.Do(func() { close(entered) })
		<-gate
	}
	for i := range 200 {
		mustSet(t, s, fmt.Sprint("k", i), fmt.Sprint(i), 0)
	}
	<-entered
	held := len(listSegmentFiles(t, fs, memDir))
	if held < 3 || s.Stats().SegmentsRemoved != 0 {
		t.Fatalf("%d segments on disk, %d removed while the flush is held", held, s.Stats().SegmentsRemoved)
	}
	check := func(fs vfs.FS, when string) {
		s2 := openStore(t, memDir, Options{FS: fs, SegmentBytes: 4096})
		defer s2.Close()
		for i := range 200 {
			if v, ok := mustGet(t, s2, fmt.Sprint("k", i)); !ok || v != fmt.Sprint(i) {
				t.Fatalf("%s: k%d = %q, %v", when, i, v, ok)
			}
		}
	}
	check(fs.CrashClone(vfs.CrashCloneCfg{}), "power cut while the flush is held")

	close(gate)
	testenv.WaitFor(t, "segments to be removed after the flush", func() bool { return s.Stats().SegmentsRemoved > 0 })
	// Removed segments are gone for good only with pebble flushed: a power
	// cut now must find every write even though its records are gone.
	check(fs.CrashClone(vfs.CrashCloneCfg{}), "power cut after truncation")
	s.Close()
}
