// Package faultfs is a pebble vfs.FS whose syncs can be slowed down or made
// to fail on command, for tests of what the agent does when the disk is
// slow (its disk circuit breaker), as internal/fullfs does for ENOSPC.
package faultfs

import (
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
