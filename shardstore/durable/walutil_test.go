package durable

import (
	"sort"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// logRec locates one record of the raft log on disk.
type logRec struct {
	file      string
	off, size int
	seq       uint64
	blocks    []logBlock
}

// readLogRecords returns every valid record of the store's raft log in
// dir, segment by segment, stopping in each at the first invalid one.
func readLogRecords(t *testing.T, fs vfs.FS, dir string) []logRec {
	t.Helper()
	logDir := fs.PathJoin(dir, logDirName)
	names, err := fs.List(logDir)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	var out []logRec
	for _, n := range names {
		name := fs.PathJoin(logDir, n)
		data, err := readAll(fs, name)
		if err != nil {
			t.Fatal(err)
		}
		h, err := decodeSegmentHeader(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for off := segHeaderSize; ; {
			seq, payload, size, ok := parseRecord(data, off, h.salt)
			if !ok {
				break
			}
			blocks, err := decodeBlocks(payload)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, logRec{file: name, off: off, size: size, seq: seq, blocks: blocks})
			off += size
		}
	}
	return out
}

// recordWith returns the record holding shard's entry index.
func recordWith(t *testing.T, recs []logRec, shard uint32, index uint64) logRec {
	t.Helper()
	for _, r := range recs {
		for _, b := range r.blocks {
			for _, e := range b.ents {
				if b.shard == shard && e.GetIndex() == index {
					return r
				}
			}
		}
	}
	t.Fatalf("no log record holds shard %d entry %d", shard, index)
	return logRec{}
}

// patchFile overwrites file at off with p.
func patchFile(t *testing.T, fs vfs.FS, file string, off int, p []byte) {
	t.Helper()
	f, err := fs.OpenReadWrite(file, vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(p, int64(off)); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

// flipBytes inverts n bytes of file at off.
func flipBytes(t *testing.T, fs vfs.FS, file string, off, n int) {
	t.Helper()
	data, err := readAll(fs, file)
	if err != nil {
		t.Fatal(err)
	}
	p := append([]byte(nil), data[off:off+n]...)
	for i := range p {
		p[i] ^= 0xff
	}
	patchFile(t, fs, file, off, p)
}

func listSegmentFiles(t *testing.T, fs vfs.FS, dir string) []string {
	t.Helper()
	names, err := fs.List(fs.PathJoin(dir, logDirName))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	return names
}
