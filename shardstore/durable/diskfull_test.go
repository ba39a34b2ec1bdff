package durable

import (
	"errors"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// fullFS is a disk that can be filled on command: while full, every write,
// preallocation and file creation fails with ENOSPC, as ext4 does.
type fullFS struct {
	vfs.FS
	full atomic.Bool
}

func (fs *fullFS) enospc(op, name string) error {
	if fs.full.Load() {
		return &os.PathError{Op: op, Path: name, Err: syscall.ENOSPC}
	}
	return nil
}

func (fs *fullFS) Create(name string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	if err := fs.enospc("create", name); err != nil {
		return nil, err
	}
	f, err := fs.FS.Create(name, cat)
	if err != nil {
		return nil, err
	}
	return &fullFile{File: f, fs: fs, name: name}, nil
}

func (fs *fullFS) ReuseForWrite(oldname, newname string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	if err := fs.enospc("create", newname); err != nil {
		return nil, err
	}
	f, err := fs.FS.ReuseForWrite(oldname, newname, cat)
	if err != nil {
		return nil, err
	}
	return &fullFile{File: f, fs: fs, name: newname}, nil
}

func (fs *fullFS) OpenReadWrite(name string, cat vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := fs.FS.OpenReadWrite(name, cat, opts...)
	if err != nil {
		return nil, err
	}
	return &fullFile{File: f, fs: fs, name: name}, nil
}

type fullFile struct {
	vfs.File
	fs   *fullFS
	name string
}

func (f *fullFile) Write(p []byte) (int, error) {
	if err := f.fs.enospc("write", f.name); err != nil {
		return 0, err
	}
	return f.File.Write(p)
}

func (f *fullFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.fs.enospc("write", f.name); err != nil {
		return 0, err
	}
	return f.File.WriteAt(p, off)
}

func (f *fullFile) Preallocate(off, n int64) error {
	if err := f.fs.enospc("fallocate", f.name); err != nil {
		return err
	}
	return f.File.Preallocate(off, n)
}

// waitFor polls cond; the deadline only keeps a broken store from hanging
// the run, it asserts nothing about speed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// A full disk refuses new writes with an error naming the disk problem,
// keeps reads working, holds the write already in flight until space is
// back, and loses nothing acknowledged.
func TestDiskFullRefusesWritesAndRecovers(t *testing.T) {
	fs := &fullFS{FS: vfs.NewMem()}
	s := openStore(t, memDir, Options{FS: fs, CacheBytes: 1 << 20})
	mustSet(t, s, "before", "1", 0)

	fs.full.Store(true)
	inflight := proposeAsync(s, []byte("a"), AppendSet(nil, []byte("a"), []byte("2"), 0))
	waitFor(t, "the store to report the full disk", func() bool { return s.DiskError() != nil })
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

	fs.full.Store(false)
	if r := wait(t, inflight); r.err != nil {
		t.Fatalf("in-flight write after space came back: %v", r.err)
	}
	waitFor(t, "the disk error to clear", func() bool { return s.DiskError() == nil })
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
