package durable

import (
	"errors"
	"log/slog"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// diskState is what the stalling FS reports to the store: the error of the
// writes currently stalled on a full disk.
type diskState struct {
	stalled atomic.Int32
	err     atomic.Pointer[error]
	stalls  atomic.Uint64 // writes that hit ENOSPC, for metrics and tests
}

// publish records err for DiskError. It stores a pointer to a copy: the
// caller's variable is overwritten by the next attempt while readers may
// still dereference the published pointer.
func (d *diskState) publish(err error) { d.err.Store(&err) }

// current returns the disk error while any write is stalled, else nil.
func (d *diskState) current() error {
	if d.stalled.Load() == 0 {
		return nil
	}
	if p := d.err.Load(); p != nil {
		return *p
	}
	return nil
}

// stallFS turns ENOSPC on writes into a stall: the write is retried with
// backoff until it succeeds. pebble's commit pipeline treats a failed WAL
// write as fatal (db.go: "pebble: fatal commit error"), and a failed write
// cannot be reported to a proposer as "not written" anyway once pebble has
// applied the batch to its memtable; holding the write instead keeps every
// invariant: the batch is either synced later or never acknowledged. Only
// writes are retried: a failed fsync leaves the page cache undefined on Linux
// and must stay fatal.
type stallFS struct {
	vfs.FS
	disk *diskState
	log  *slog.Logger
	// failFast, set while Open runs, returns ENOSPC at once instead of
	// stalling: Open then falls back to a read-only store (fullopen.go).
	failFast atomic.Bool
}

func newStallFS(fs vfs.FS, disk *diskState, log *slog.Logger) vfs.FS {
	return &stallFS{FS: fs, disk: disk, log: log}
}

// Unwrap returns the wrapped FS, as vfs.Root expects of wrapping filesystems.
func (fs *stallFS) Unwrap() vfs.FS { return fs.FS }

const (
	minStallBackoff = time.Millisecond
	maxStallBackoff = 100 * time.Millisecond
)

// retry runs op until it does not fail with ENOSPC.
func (fs *stallFS) retry(what string, op func() error) error {
	err := op()
	if !errors.Is(err, syscall.ENOSPC) || fs.failFast.Load() {
		return err
	}
	fs.disk.stalls.Add(1)
	fs.disk.publish(err)
	fs.disk.stalled.Add(1)
	defer fs.disk.stalled.Add(-1)
	fs.log.Warn("durable: disk full, holding write until space is back", "op", what, "err", err)
	backoff := minStallBackoff
	for {
		time.Sleep(backoff)
		backoff = min(2*backoff, maxStallBackoff)
		if err = op(); !errors.Is(err, syscall.ENOSPC) {
			if err == nil {
				fs.log.Info("durable: disk space is back, write resumed", "op", what)
			}
			return err
		}
		fs.disk.publish(err)
	}
}

func (fs *stallFS) Create(name string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	var f vfs.File
	err := fs.retry("create "+name, func() (err error) {
		f, err = fs.FS.Create(name, cat)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &stallFile{File: f, fs: fs, name: name}, nil
}

func (fs *stallFS) OpenReadWrite(name string, cat vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := fs.FS.OpenReadWrite(name, cat, opts...)
	if err != nil {
		return nil, err
	}
	return &stallFile{File: f, fs: fs, name: name}, nil
}

func (fs *stallFS) ReuseForWrite(oldname, newname string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	var f vfs.File
	err := fs.retry("reuse "+newname, func() (err error) {
		f, err = fs.FS.ReuseForWrite(oldname, newname, cat)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &stallFile{File: f, fs: fs, name: newname}, nil
}

type stallFile struct {
	vfs.File
	fs   *stallFS
	name string
}

// Write retries the unwritten remainder of p: a short write reports how much
// reached the file, and only the rest is written again.
func (f *stallFile) Write(p []byte) (int, error) {
	total := 0
	err := f.fs.retry("write "+f.name, func() error {
		n, err := f.File.Write(p[total:])
		total += n
		return err
	})
	return total, err
}

func (f *stallFile) WriteAt(p []byte, off int64) (int, error) {
	total := 0
	err := f.fs.retry("write "+f.name, func() error {
		n, err := f.File.WriteAt(p[total:], off+int64(total))
		total += n
		return err
	})
	return total, err
}

func (f *stallFile) Preallocate(off, n int64) error {
	return f.fs.retry("preallocate "+f.name, func() error { return f.File.Preallocate(off, n) })
}
