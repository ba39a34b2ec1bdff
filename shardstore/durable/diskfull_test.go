package durable

import (
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/dorivo/dorivo/internal/fullfs"
	"github.com/dorivo/dorivo/internal/testenv"
)

// A full disk refuses new writes with an error naming the disk problem,
// keeps reads working, holds the write already in flight until space is
// back, and loses nothing acknowledged.
func TestDiskFullRefusesWritesAndRecovers(t *testing.T) {
	fs := fullfs.New(vfs.NewMem())
	s := openStore(t, memDir, Options{FS: fs, CacheBytes: 1 << 20})
	mustSet(t, s, "before", "1", 0)

	fs.SetFull(true)
	inflight := proposeAsync(s, []byte("a"), AppendSet(nil, []byte("a"), []byte("2"), 0))
	testenv.WaitFor(t, "the store to report the full disk", func() bool { return s.DiskError() != nil })
	if !errors.Is(s.DiskError(), syscall.ENOSPC) {
		t.Fatalf("DiskError = %v, want ENOSPC", s.DiskError())
	}

	r := wait(t, proposeAsync(s, []byte("b"), AppendSet(nil, []byte("b"), []byte("3"), 0)))
	if !errors.Is(r.err, ErrDiskFull) || !errors.Is(r.err, syscall.ENOSPC) ||
		!strings.Contains(r.err.Error(), "no space left on device") {
		t.Fatalf("write on a full disk: index %d err %v, want ErrDiskFull wrapping ENOSPC", r.index, r.err)
	}
	if v, ok := mustGet(t, s, "before"); !ok || v != "1" {
		t.Fatalf("read on a full disk: %q, %v", v, ok)
	}
	select {
	case r := <-inflight:
		t.Fatalf("in-flight write answered (%d, %v) while its batch could not be written", r.index, r.err)
	default:
	}

	fs.SetFull(false)
	if r := wait(t, inflight); r.err != nil {
		t.Fatalf("in-flight write after space came back: %v", r.err)
	}
	testenv.WaitFor(t, "the disk error to clear", func() bool { return s.DiskError() == nil })
	mustSet(t, s, "after", "4", 0)
	if st := s.Stats(); st.Stalls == 0 {
		t.Fatalf("stats %+v count no stall", st)
	}
	s.Close()

	s = openStore(t, memDir, Options{FS: fs})
	defer s.Close()
	for k, want := range map[string]string{"before": "1", "a": "2", "after": "4"} {
		if v, ok := mustGet(t, s, k); !ok || v != want {
			t.Fatalf("after reopen Get(%s) = %q, %v", k, v, ok)
		}
	}
	if _, ok := mustGet(t, s, "b"); ok {
		t.Fatal("the refused write was applied")
	}
}
