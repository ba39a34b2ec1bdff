package durable

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/dorivo/dorivo/internal/fullfs"
)

// A store opened on a full disk opens at once (it used to stall until
// space was back): it serves every acknowledged write, those in pebble
// and those only in the log (a power cut took pebble's memtable), reports
// the full disk, and refuses writes with ErrDiskFull. With space, the next
// Open takes writes again and has lost nothing.
func TestOpenOnFullDiskServesReadsRefusesWrites(t *testing.T) {
	mem := vfs.NewCrashableMem()
	s := openStore(t, memDir, Options{FS: mem, Shards: 2})
	mustSet(t, s, "flushed", "1", 0)
	if err := s.db.Flush(); err != nil {
		t.Fatal(err)
	}
	mustSet(t, s, "logged", "2", 0)
	proposeUsers(t, s, 4, "user default on nopass ~* &* +@all\n")
	crashed := mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})
	s.Close()

	fs := fullfs.New(crashed)
	fs.SetFull(true)
	opened := make(chan *Store, 1)
	go func() {
		s, err := Open(memDir, Options{FS: fs, Shards: 2, Logger: testLogger(nil)})
		if err != nil {
			t.Error(err)
		}
		opened <- s
	}()
	select {
	case s = <-opened:
	case <-time.After(30 * time.Second):
		fs.SetFull(false)
		t.Fatal("Open on a full disk did not return in 30 s")
	}
	if s == nil {
		t.FailNow()
	}
	for k, want := range map[string]string{"flushed": "1", "logged": "2"} {
		if v, ok := mustGet(t, s, k); !ok || v != want {
			t.Fatalf("Get(%s) on a full disk = %q %v, want %q", k, v, ok, want)
		}
	}
	if n := len(scanAll(t, s)); n != 2 {
		t.Fatalf("Scan found %d keys, want 2", n)
	}
	wantUsers(t, s, 4, "user default on nopass ~* &* +@all\n")
	if err := s.DiskError(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("DiskError = %v, want ENOSPC", err)
	}
	r := wait(t, proposeAsync(s, []byte("new"), AppendSet(nil, []byte("new"), []byte("3"), 0)))
	if !errors.Is(r.err, ErrDiskFull) {
		t.Fatalf("write on a full disk: %v, want ErrDiskFull", r.err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	fs.SetFull(false)
	s = openStore(t, memDir, Options{FS: fs, Shards: 2})
	defer s.Close()
	mustSet(t, s, "new", "3", 0)
	for k, want := range map[string]string{"flushed": "1", "logged": "2", "new": "3"} {
		if v, ok := mustGet(t, s, k); !ok || v != want {
			t.Fatalf("after space came back Get(%s) = %q %v", k, v, ok)
		}
	}
}
