package shed

import (
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// RaftLogDir is the store's raft log directory name (shardstore/durable
// keeps its log in <data dir>/raftlog): the syncs the disk breaker judges.
const RaftLogDir = "raftlog"

// SyncObserver sees one fsync: how long it took and how it ended.
type SyncObserver func(took time.Duration, err error)

// ObserveSyncs wraps fs so that every Sync and SyncData of a file whose
// path has a directory named dir (RaftLogDir for the store's log) is timed
// and reported to observe, on the goroutine that synced (the store's
// syncer: observe must be quick). The store needs no hook of its own:
// durable.Options.FS takes the wrapped FS, and the disk breaker sees each
// log fsync as the syncer makes it.
func ObserveSyncs(fs vfs.FS, dir string, observe SyncObserver) vfs.FS {
	return &syncFS{FS: fs, dir: dir, observe: observe}
}

type syncFS struct {
	vfs.FS
	dir     string
	observe SyncObserver
}

// wrap times f's syncs when it is a file in dir, or dir itself (isDir).
func (fs *syncFS) wrap(name string, isDir bool, f vfs.File, err error) (vfs.File, error) {
	in := fs.PathBase(fs.PathDir(name)) == fs.dir
	if isDir {
		in = fs.PathBase(name) == fs.dir
	}
	if err != nil || !in {
		return f, err
	}
	return &syncFile{File: f, observe: fs.observe}, nil
}

func (fs *syncFS) Create(name string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, cat)
	return fs.wrap(name, false, f, err)
}

func (fs *syncFS) ReuseForWrite(oldname, newname string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, cat)
	return fs.wrap(newname, false, f, err)
}

func (fs *syncFS) OpenReadWrite(name string, cat vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := fs.FS.OpenReadWrite(name, cat, opts...)
	return fs.wrap(name, false, f, err)
}

func (fs *syncFS) Open(name string, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := fs.FS.Open(name, opts...)
	return fs.wrap(name, false, f, err)
}

func (fs *syncFS) OpenDir(name string) (vfs.File, error) {
	f, err := fs.FS.OpenDir(name)
	return fs.wrap(name, true, f, err)
}

type syncFile struct {
	vfs.File
	observe SyncObserver
}

func (f *syncFile) Sync() error {
	start := time.Now()
	err := f.File.Sync()
	f.observe(time.Since(start), err)
	return err
}

func (f *syncFile) SyncData() error {
	start := time.Now()
	err := f.File.SyncData()
	f.observe(time.Since(start), err)
	return err
}
