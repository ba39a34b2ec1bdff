// Package faultfs is a pebble vfs.FS whose syncs can be slowed down or made
// to fail on command, for tests of what the agent does when the disk is
// slow (its disk circuit breaker, the fsync latency series and the anomaly
// detector), as internal/fullfs does for ENOSPC. The agent wraps its store
// in it only when a test-only environment variable names a control file
// (Control).
package faultfs

import (
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// FS delays every Sync and SyncData of the files it opens by the current
// delay (0 by default), and fails them with the current error (nil).
type FS struct {
	vfs.FS
	delay atomic.Int64
	fail  atomic.Pointer[error]
	syncs atomic.Uint64
}

// New wraps fs, at full speed.
func New(fs vfs.FS) *FS { return &FS{FS: fs} }

// SetDelay makes every later sync take d longer; 0 restores full speed.
func (fs *FS) SetDelay(d time.Duration) { fs.delay.Store(int64(d)) }

// Delay is the current delay.
func (fs *FS) Delay() time.Duration { return time.Duration(fs.delay.Load()) }

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

// SetError makes every later sync fail with err (after the delay); nil
// lets them succeed again.
func (fs *FS) SetError(err error) {
	if err == nil {
		fs.fail.Store(nil)
		return
	}
	fs.fail.Store(&err)
}

// Syncs counts the syncs made through FS so far.
func (fs *FS) Syncs() uint64 { return fs.syncs.Load() }

func (fs *FS) sync() error {
	fs.syncs.Add(1)
	if d := time.Duration(fs.delay.Load()); d > 0 {
		time.Sleep(d)
	}
	if err := fs.fail.Load(); err != nil {
		return *err
	}
	return nil
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

func (fs *FS) Open(name string, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := fs.FS.Open(name, opts...)
	if err != nil {
		return nil, err
	}
	return &file{File: f, fs: fs}, nil // directories are opened to be synced
}

func (fs *FS) OpenReadWrite(name string, cat vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := fs.FS.OpenReadWrite(name, cat, opts...)
	if err != nil {
		return nil, err
	}
	return &file{File: f, fs: fs}, nil
}

type file struct {
	vfs.File
	fs *FS
}

func (f *file) Sync() error {
	if err := f.fs.sync(); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *file) SyncData() error {
	if err := f.fs.sync(); err != nil {
		return err
	}
	return f.File.SyncData()
}

func (f *file) SyncTo(length int64) (fullSync bool, err error) {
	if err := f.fs.sync(); err != nil {
		return false, err
	}
	return f.File.SyncTo(length)
}
