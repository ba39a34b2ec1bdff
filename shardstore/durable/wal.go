package durable

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// The raft log lives outside pebble, in <dir>/raftlog, as numbered segment
// files <index:016x>.log. A segment is created (header, first record and a
// first stretch of zeros, synced) under a .tmp name and renamed into place,
// so a segment under its final name always has a synced header. It grows
// by zeroChunk of zeros ahead of the records, so most fdatasyncs cover
// data only, not a file size or extent change.
//
//	segment header (segHeaderSize bytes):
//	  magic(8) generation(8) salt(8) index(4) crc32c(4, of the 28 bytes before)
//	record, 8-byte aligned:
//	  crc32c(4) length(4) seq(8) payload(length) zero padding
//
// A record's CRC covers the segment's salt, length, seq and payload. The
// salt is random per segment, so bytes a client wrote (a value that looks
// like a record) can never pass for one. seq numbers records across
// segments: each record is seq+1 of the one before it, except that the
// first record of a segment opened by a restart repeats the seq of the
// torn record it replaces.
const (
	zeroChunk     = 1 << 20
	segMagic      = "DRVRLOG1"
	segHeaderSize = 32
	recHeaderSize = 16
	logDirName    = "raftlog"
)

// segmentHeader is a decoded segment header.
type segmentHeader struct {
	gen, salt uint64
	index     uint32
}

func (h segmentHeader) encode() []byte {
	b := make([]byte, segHeaderSize)
	copy(b, segMagic)
	binary.LittleEndian.PutUint64(b[8:], h.gen)
	binary.LittleEndian.PutUint64(b[16:], h.salt)
	binary.LittleEndian.PutUint32(b[24:], h.index)
	binary.LittleEndian.PutUint32(b[28:], crc32.Checksum(b[:28], castagnoli))
	return b
}

func decodeSegmentHeader(b []byte) (segmentHeader, error) {
	if len(b) < segHeaderSize {
		return segmentHeader{}, fmt.Errorf("segment of %d bytes is shorter than its header", len(b))
	}
	if string(b[:8]) != segMagic {
		return segmentHeader{}, fmt.Errorf("bad segment magic %q", b[:8])
	}
	if got, want := crc32.Checksum(b[:28], castagnoli), binary.LittleEndian.Uint32(b[28:]); got != want {
		return segmentHeader{}, fmt.Errorf("segment header checksum mismatch: stored %08x, computed %08x", want, got)
	}
	return segmentHeader{
		gen:   binary.LittleEndian.Uint64(b[8:]),
		salt:  binary.LittleEndian.Uint64(b[16:]),
		index: binary.LittleEndian.Uint32(b[24:]),
	}, nil
}

func pad8(n int) int { return (n + 7) &^ 7 }

// recordSize is the framed size of a payload of n bytes.
func recordSize(n int) int64 { return int64(recHeaderSize + pad8(n)) }

func recordCRC(salt uint64, hdr, payload []byte) uint32 {
	var s [8]byte
	binary.LittleEndian.PutUint64(s[:], salt)
	c := crc32.Update(0, castagnoli, s[:])
	c = crc32.Update(c, castagnoli, hdr[4:recHeaderSize])
	return crc32.Update(c, castagnoli, payload)
}

// appendRecord frames payload as record seq of a segment with salt.
func appendRecord(dst []byte, salt, seq uint64, payload []byte) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, recHeaderSize)...)
	hdr := dst[start:]
	binary.LittleEndian.PutUint32(hdr[4:], uint32(len(payload)))
	binary.LittleEndian.PutUint64(hdr[8:], seq)
	binary.LittleEndian.PutUint32(hdr[0:], recordCRC(salt, hdr, payload))
	dst = append(dst, payload...)
	return append(dst, make([]byte, pad8(len(payload))-len(payload))...)
}

// parseRecord reads the record at data[off:]. ok is false when no valid
// record starts there (zeros, a torn write, or damage).
func parseRecord(data []byte, off int, salt uint64) (seq uint64, payload []byte, size int, ok bool) {
	if off+recHeaderSize > len(data) {
		return 0, nil, 0, false
	}
	hdr := data[off : off+recHeaderSize]
	n := int(binary.LittleEndian.Uint32(hdr[4:]))
	if n > len(data)-off-recHeaderSize {
		return 0, nil, 0, false
	}
	seq = binary.LittleEndian.Uint64(hdr[8:])
	if seq == 0 { // zeros: the preallocated rest of a segment
		return 0, nil, 0, false
	}
	payload = data[off+recHeaderSize : off+recHeaderSize+n]
	if recordCRC(salt, hdr, payload) != binary.LittleEndian.Uint32(hdr) {
		return 0, nil, 0, false
	}
	return seq, payload, int(recordSize(n)), true
}

func segmentName(index uint32) string { return fmt.Sprintf("%016x.log", index) }

// listSegments returns the segment indexes in logDir, ascending, and
// removes leftover .tmp files of segments whose creation never finished.
func listSegments(fs vfs.FS, logDir string) ([]uint32, error) {
	names, err := fs.List(logDir)
	if err != nil {
		return nil, fmt.Errorf("durable: list raft log %s: %w", logDir, err)
	}
	var out []uint32
	for _, n := range names {
		if strings.HasSuffix(n, ".tmp") {
			if err := fs.Remove(fs.PathJoin(logDir, n)); err != nil {
				return nil, fmt.Errorf("durable: remove unfinished segment %s: %w", n, err)
			}
			continue
		}
		base, ok := strings.CutSuffix(n, ".log")
		if !ok {
			continue
		}
		i, err := strconv.ParseUint(base, 16, 32)
		if err != nil || len(base) != 16 {
			return nil, fmt.Errorf("durable: raft log %s: unexpected file %s", logDir, n)
		}
		out = append(out, uint32(i))
	}
	sort.Slice(out, func(a, b int) bool { return out[a] < out[b] })
	return out, nil
}

// mkdirDurable creates dir and any missing parents, and syncs the parent
// of dir and of each directory it created, so that their entries survive a
// power cut: syncing the files inside a directory does not make the
// directory itself durable (pebble's mkdirAllAndSyncParents does the same
// for its dir). dir's parent is synced even when dir exists, since a crash
// may have come between its creation and that sync.
func mkdirDurable(fs vfs.FS, dir string) error {
	for len(dir) > 1 && strings.HasSuffix(dir, "/") {
		dir = dir[:len(dir)-1] // PathDir("a/b/") is "a/b"
	}
	missing := []string{dir} // dir, then its missing parents
	for d := dir; ; d = fs.PathDir(d) {
		if _, err := fs.Stat(d); err == nil {
			break
		} else if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("durable: create %s: %w", dir, err)
		}
		if d != dir {
			missing = append(missing, d)
		}
		if fs.PathDir(d) == d {
			break
		}
	}
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("durable: create %s: %w", dir, err)
	}
	for _, d := range missing {
		if err := syncDir(fs, fs.PathDir(d)); err != nil {
			return err
		}
	}
	return nil
}

// syncDir makes the directory's entries (creates, renames, removes) durable.
func syncDir(fs vfs.FS, dir string) error {
	d, err := fs.OpenDir(dir)
	if err != nil {
		return fmt.Errorf("durable: open dir %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("durable: sync dir %s: %w", dir, err)
	}
	return nil
}

// writeZeros appends n zero bytes to f. The buffer is fresh for every
// write: a vfs.File may scribble on what it was given (MemFS does, in
// invariants builds).
func writeZeros(f vfs.File, n int64) error {
	for n > 0 {
		k := min(n, zeroChunk)
		if _, err := f.Write(make([]byte, k)); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// createSegment creates segment h.index in logDir with first (a framed
// record) written after the header and zeros up to zeroChunk, synced, and
// returns it open for writing at the offset after first, with its length.
func createSegment(fs vfs.FS, logDir string, h segmentHeader, first []byte) (f vfs.File, off, length int64, err error) {
	name := fs.PathJoin(logDir, segmentName(h.index))
	tmp := name + ".tmp"
	f, err = fs.Create(tmp, vfs.WriteCategoryUnspecified)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("durable: create raft log segment %s: %w", tmp, err)
	}
	fail := func(what string, err error) (vfs.File, int64, int64, error) {
		f.Close()
		return nil, 0, 0, fmt.Errorf("durable: %s raft log segment %s: %w", what, tmp, err)
	}
	head := append(h.encode(), first...)
	off = int64(len(head))
	length = max(zeroChunk, off)
	if _, err := f.Write(head); err != nil {
		return fail("write", err)
	}
	if err := writeZeros(f, length-off); err != nil {
		return fail("zero-fill", err)
	}
	if err := f.Sync(); err != nil {
		return fail("sync", err)
	}
	if err := fs.Rename(tmp, name); err != nil {
		return fail("rename", err)
	}
	if err := syncDir(fs, logDir); err != nil {
		f.Close()
		return nil, 0, 0, err
	}
	return f, off, length, nil
}

// logRequest is one record for the syncer: written at the current
// segment's end, or first in a new segment when rotate is set.
type logRequest struct {
	b      *logBatch
	rec    []byte // framed
	rotate *segmentHeader
}

// logWriter is the syncer goroutine's state: it owns the open segment.
type logWriter struct {
	fs     vfs.FS
	dir    string
	f      vfs.File
	off    int64 // where the next record goes
	length int64 // of the file: zeros from off to length
	reqc   chan logRequest
	donec  chan *logBatch
	exited chan struct{}
	obs    *syncObs // nil: not recorded
}

// run writes and fdatasyncs one record at a time: a record is only written
// once the one before it is synced, so at most the last record of the log
// can be torn by a crash (the invariant recovery relies on).
func (w *logWriter) run() {
	defer close(w.exited)
	for req := range w.reqc {
		t0 := time.Now()
		req.b.err = w.write(req)
		if w.obs != nil {
			w.obs.record(time.Since(t0), req.b.entries)
		}
		w.donec <- req.b
	}
	if w.f != nil {
		w.f.Close()
	}
}

func (w *logWriter) write(req logRequest) error {
	if req.rotate != nil {
		f, off, length, err := createSegment(w.fs, w.dir, *req.rotate, req.rec)
		if err != nil {
			return err
		}
		if w.f != nil {
			w.f.Close()
		}
		w.f, w.off, w.length = f, off, length
		return nil // written and synced with the segment
	}
	if end := w.off + int64(len(req.rec)); end > w.length {
		// Grow by zeros first; this record's fdatasync covers them too.
		n := max(zeroChunk, end-w.length)
		if _, err := w.f.WriteAt(make([]byte, n), w.length); err != nil {
			return fmt.Errorf("durable: extend raft log: %w", err)
		}
		w.length += n
	}
	if _, err := w.f.WriteAt(req.rec, w.off); err != nil {
		return fmt.Errorf("durable: write raft log: %w", err)
	}
	if err := w.f.SyncData(); err != nil {
		return fmt.Errorf("durable: sync raft log: %w", err)
	}
	w.off += int64(len(req.rec))
	return nil
}

// readAll reads a whole file.
func readAll(fs vfs.FS, name string) ([]byte, error) {
	f, err := fs.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

var errLogCorrupt = errors.New("raft log corrupt")
