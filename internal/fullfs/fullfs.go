// Package fullfs is a pebble vfs.FS whose disk can be filled on command,
// for tests of what a store does when writes fail with ENOSPC.
package fullfs

import (
	"os"
	"sync/atomic"
	"syscall"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// FS is a disk that can be filled on command: while full, every write,
// preallocation and file creation fails with ENOSPC, as ext4 does.
type FS struct {
	vfs.FS
	full atomic.Bool
}

// New wraps fs, not full.
func New(fs vfs.FS) *FS { return &FS{FS: fs} }

// SetFull fills (true) or frees (false) the disk.
func (fs *FS) SetFull(full bool) { fs.full.Store(full) }

func (fs *FS) enospc(op, name string) error {
	if fs.full.Load() {
		return &os.PathError{Op: op, Path: name, Err: syscall.ENOSPC}
	}
	return nil
}

func (fs *FS) Create(name string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	if err := fs.enospc("create", name); err != nil {
		return nil, err
	}
	f, err := fs.FS.Create(name, cat)
	if err != nil {
		return nil, err
	}
	return &file{File: f, fs: fs, name: name}, nil
}

func (fs *FS) ReuseForWrite(oldname, newname string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	if err := fs.enospc("create", newname); err != nil {
		return nil, err
	}
	f, err := fs.FS.ReuseForWrite(oldname, newname, cat)
	if err != nil {
		return nil, err
	}
	return &file{File: f, fs: fs, name: newname}, nil
}

func (fs *FS) OpenReadWrite(name string, cat vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := fs.FS.OpenReadWrite(name, cat, opts...)
	if err != nil {
		return nil, err
	}
	return &file{File: f, fs: fs, name: name}, nil
}

type file struct {
	vfs.File
	fs   *FS
	name string
}

func (f *file) Write(p []byte) (int, error) {
	if err := f.fs.enospc("write", f.name); err != nil {
		return 0, err
	}
	return f.File.Write(p)
}

func (f *file) WriteAt(p []byte, off int64) (int, error) {
	if err := f.fs.enospc("write", f.name); err != nil {
		return 0, err
	}
	return f.File.WriteAt(p, off)
}

func (f *file) Preallocate(off, n int64) error {
	if err := f.fs.enospc("fallocate", f.name); err != nil {
		return err
	}
	return f.File.Preallocate(off, n)
}
