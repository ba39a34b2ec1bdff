// Package slowfs is a pebble vfs.FS whose syncs can be made slow on
// command, for tests of what notices a slow disk (the store's fsync
// latency series and the anomaly detector). It is test-only: the agent
// wraps its store's filesystem in it only when the test-only environment
// variable DORIVO_TEST_SLOW_FSYNC_FILE names a control file (Control).
package slowfs

import (
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// FS delays every Sync, SyncData and SyncTo of its files by the current
// delay (0: none) before passing it through.
type FS struct {
	vfs.FS
	delay atomic.Int64 // nanoseconds
}

// New wraps fs with no delay.
func New(fs vfs.FS) *FS { return &FS{FS: fs} }

// SetDelay makes every later sync wait d first.
func (fs *FS) SetDelay(d time.Duration) { fs.delay.Store(int64(d)) }

// Delay is the current delay.
func (fs *FS) Delay() time.Duration { return time.Duration(fs.delay.Load()) }

func (fs *FS) wait() {
	if d := fs.delay.Load(); d > 0 {
		time.Sleep(time.Duration(d))
	}
}

// Control sets the delay from the file at path every poll: its content is a
// Go duration ("50ms"); a missing or empty file, or "0", is no delay, and
// content that does not parse leaves the delay as it was. It returns a
// function that stops polling.
func (fs *FS) Control(path string, poll time.Duration) (stop func()) {
	done := make(chan struct{})
	read := func() {
		b, err := os.ReadFile(path)
		s := strings.TrimSpace(string(b))
		if err != nil || s == "" {
			fs.SetDelay(0)
			return
		}
		if d, err := time.ParseDuration(s); err == nil {
			fs.SetDelay(d)
		}
	}
	read()
	go func() {
		t := time.NewTicker(poll)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				read()
			}
		}
	}()
	return func() { close(done) }
}

func (fs *FS) Create(name string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, cat)
	if err != nil {
		return nil, err
	}
	return &file{File: f, fs: fs}, nil
}

func (fs *FS) ReuseForWrite(oldname, newname string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, cat)
	if err != nil {
		return nil, err
	}
	return &file{File: f, fs: fs}, nil
}

func (fs *FS) OpenReadWrite(name string, cat vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := fs.FS.OpenReadWrite(name, cat, opts...)
	if err != nil {
		return nil, err
	}
	return &file{File: f, fs: fs}, nil
}

func (fs *FS) Open(name string, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := fs.FS.Open(name, opts...)
	if err != nil {
		return nil, err
	}
	return &file{File: f, fs: fs}, nil // directories are opened to be synced
}

type file struct {
	vfs.File
	fs *FS
}

func (f *file) Sync() error {
	f.fs.wait()
	return f.File.Sync()
}

func (f *file) SyncData() error {
	f.fs.wait()
	return f.File.SyncData()
}

func (f *file) SyncTo(length int64) (fullSync bool, err error) {
	f.fs.wait()
	return f.File.SyncTo(length)
}
