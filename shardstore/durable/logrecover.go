package durable

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// logRecord is one valid record read back from the log.
type logRecord struct {
	seq    uint64
	blocks []logBlock
}

// logStop is where reading a segment stopped: the first offset holding no
// valid record with the expected seq.
type logStop struct {
	file   string
	off    int
	expect uint64 // seq the next record must have
	data   []byte // the segment
	clean  bool   // only zeros from off to the end
}

// recoveredLog is what readLog found.
type recoveredLog struct {
	records   []logRecord
	nextSeq   uint64 // seq of the next record to write
	nextIndex uint32 // index of the next segment to create
	segments  []uint32
	torn      *logStop // a torn tail that was cut off, or nil
	dropped   uint64   // entries dropped by TruncateCorrupt
}

// logReader reads every segment of one generation in order and decides,
// for the place each segment stops, whether it is the log's end, a torn
// tail, or damage to synced data.
//
// The writer writes record N only after record N-1 is synced (logWriter),
// so a valid record with a greater seq than the one expected at a stop
// proves the record at the stop was synced: that is damage, and Open
// refuses (or, with TruncateCorrupt, cuts the log there). A stop with no
// such witness after it is the unsynced end of the log: a torn tail, cut
// silently (logged and counted). A segment opened by a restart starts with
// the seq expected at the previous segment's stop, which it supersedes.
type logReader struct {
	fs       vfs.FS
	dir      string
	gen      uint64
	applied  []uint64 // per shard, pebble's applied index
	truncate bool     // Options.TruncateCorrupt
	log      *slog.Logger

	out     recoveredLog
	expect  uint64 // 0: any
	stop    *logStop
	salts   map[uint32]uint64
	indexes []uint32
}

func (r *logReader) read() (recoveredLog, error) {
	all, err := listSegments(r.fs, r.dir)
	if err != nil {
		return recoveredLog{}, err
	}
	r.salts = map[uint32]uint64{}
	for i := 0; i < len(all); i++ {
		idx := all[i]
		name := r.fs.PathJoin(r.dir, segmentName(idx))
		data, err := readAll(r.fs, name)
		if err != nil {
			return recoveredLog{}, fmt.Errorf("durable: read raft log %s: %w", name, err)
		}
		h, err := decodeSegmentHeader(data)
		if err != nil {
			return recoveredLog{}, corruptError{fmt.Errorf("durable: raft log %s is corrupt at offset 0 (%v): the whole segment is unreadable: refusing to open", name, err)}
		}
		if h.index != idx {
			return recoveredLog{}, fmt.Errorf("durable: raft log %s: header names segment %d: refusing to open", name, h.index)
		}
		r.out.nextIndex = idx + 1
		if h.gen != r.gen {
			// Left by a reshard that finished (the layout names the new
			// generation only once the old groups are flushed): obsolete.
			if err := r.fs.Remove(name); err != nil {
				return recoveredLog{}, fmt.Errorf("durable: remove obsolete raft log %s: %w", name, err)
			}
			continue
		}
		r.salts[idx] = h.salt
		r.indexes = append(r.indexes, idx)
		if err := r.segment(name, data, h.salt); errors.Is(err, errTruncated) {
			break // cut there: later segments are gone
		} else if err != nil {
			return recoveredLog{}, err
		}
	}
	if st := r.stop; st != nil && !st.clean {
		r.out.torn = st
		r.log.Warn("durable: torn raft log tail truncated", "file", st.file, "offset", st.off, "record", st.expect,
			"records_dropped", 1)
	}
	r.out.segments = r.indexes
	r.out.nextSeq = max(r.expect, 1)
	return r.out, nil
}

// segment reads one segment's records onto r.out.
func (r *logReader) segment(name string, data []byte, salt uint64) error {
	off := segHeaderSize
	for n := 0; ; n++ {
		seq, payload, size, ok := parseRecord(data, off, salt)
		if !ok {
			break
		}
		if n == 0 && r.stop != nil {
			// seq == expect: the next segment after a full one, or a
			// restart superseding a torn tail. The writer never writes a
			// seq below the one expected.
			if seq < r.stop.expect {
				return r.damage(r.stop, fmt.Sprintf("segment %s restarts at record %d", name, seq))
			}
			if seq > r.stop.expect {
				if err := r.gap(seq); err != nil {
					return err
				}
			}
		} else if n > 0 && seq != r.expect {
			break // not written after the record before it: see witness
		}
		blocks, err := decodeBlocks(payload)
		if err != nil {
			return r.damage(&logStop{file: name, off: off, expect: seq, data: data}, fmt.Sprintf("record %d undecodable: %v", seq, err))
		}
		r.out.records = append(r.out.records, logRecord{seq: seq, blocks: blocks})
		r.expect, r.stop = seq+1, nil
		off += size
	}
	st := &logStop{file: name, off: off, expect: max(r.expect, 1), data: data, clean: allZero(data[min(off, len(data)):])}
	if off == segHeaderSize && r.stop != nil {
		st.expect = r.stop.expect // an empty segment continues the stop before it
	}
	if w, ok := witness(data, off, salt, st.expect); ok {
		return r.damage(st, fmt.Sprintf("record %d unreadable, record %d follows it at offset %d", st.expect, w.seq, w.off))
	}
	r.stop = st
	return nil
}

// gap handles a segment whose first record skips seqs after a stop: the
// missing records were synced (a later record exists) unless every record
// read so far only holds entries pebble already has (segments deleted
// after a flush whose removal a crash partly undid).
func (r *logReader) gap(seq uint64) error {
	for _, rec := range r.out.records {
		for _, b := range rec.blocks {
			for _, e := range b.ents {
				if int(b.shard) >= len(r.applied) || e.GetIndex() > r.applied[b.shard] {
					return r.damage(r.stop, fmt.Sprintf("records %d..%d missing, the log resumes at record %d", r.stop.expect, seq-1, seq))
				}
			}
		}
	}
	r.out.records = r.out.records[:0]
	return nil
}

type witnessRec struct {
	seq uint64
	off int
}

// witness looks for a valid record with a seq above expect anywhere after
// off (8-byte aligned, as records are).
func witness(data []byte, off int, salt, expect uint64) (witnessRec, bool) {
	for p := off; p+recHeaderSize <= len(data); p += 8 {
		if end := p + 4096; end <= len(data) && allZero(data[p:end]) {
			p = end - 16 // no record starts in a zeroed stretch
			continue
		}
		if seq, _, _, ok := parseRecord(data, p, salt); ok && seq > expect {
			return witnessRec{seq, p}, true
		}
	}
	return witnessRec{}, false
}

var zeroPage [4096]byte

func allZero(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeroPage))
		if !bytes.Equal(b[:n], zeroPage[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}

// damage reports synced records lost at st: an error naming the file, the
// offset and the entries that would be lost, or with TruncateCorrupt a cut
// of the log at st (logged, counted).
func (r *logReader) damage(st *logStop, what string) error {
	lost, entries, records := r.lostAfter(st)
	if !r.truncate {
		return corruptError{fmt.Errorf("durable: raft log %s is corrupt at offset %d (%s): synced records after it would be lost (%s; %d entries in %d readable records, plus the unreadable one): refusing to open; Options.TruncateCorrupt cuts the log there instead",
			st.file, st.off, what, lost, entries, records)}
	}
	if err := r.cut(st); err != nil {
		return err
	}
	r.out.dropped += entries
	r.log.Error("durable: corrupt raft log truncated (TruncateCorrupt): acknowledged writes dropped", "file", st.file, "offset", st.off,
		"what", what, "lost", lost, "entries_dropped", entries, "records_dropped", records+1)
	r.stop = &logStop{file: st.file, off: st.off, expect: st.expect, clean: true}
	r.expect = st.expect
	return errTruncated
}

var errTruncated = fmt.Errorf("%w: truncated", errLogCorrupt)

// lostAfter summarizes the readable records from st on: per shard the
// entry range, the entry count and the record count.
func (r *logReader) lostAfter(st *logStop) (string, uint64, int) {
	type span struct{ lo, hi uint64 }
	spans := map[uint32]*span{}
	var entries uint64
	records := 0
	add := func(payload []byte) {
		blocks, err := decodeBlocks(payload)
		if err != nil {
			return
		}
		records++
		for _, b := range blocks {
			for _, e := range b.ents {
				entries++
				sp := spans[b.shard]
				if sp == nil {
					sp = &span{e.GetIndex(), e.GetIndex()}
					spans[b.shard] = sp
				}
				sp.lo, sp.hi = min(sp.lo, e.GetIndex()), max(sp.hi, e.GetIndex())
			}
		}
	}
	scan := func(data []byte, from int, salt uint64) {
		for p := pad8(from); p+recHeaderSize <= len(data); p += 8 {
			if _, payload, size, ok := parseRecord(data, p, salt); ok {
				add(payload)
				p += size - 8
			}
		}
	}
	if st.data != nil {
		scan(st.data, st.off+8, r.salts[r.indexOf(st.file)])
	}
	names, _ := listSegments(r.fs, r.dir)
	for _, idx := range names {
		name := r.fs.PathJoin(r.dir, segmentName(idx))
		if name <= st.file {
			continue
		}
		data, err := readAll(r.fs, name)
		if err != nil {
			continue
		}
		if h, err := decodeSegmentHeader(data); err == nil {
			scan(data, segHeaderSize, h.salt)
		}
	}
	var parts []string
	shards := make([]uint32, 0, len(spans))
	for sh := range spans {
		shards = append(shards, sh)
	}
	sort.Slice(shards, func(a, b int) bool { return shards[a] < shards[b] })
	for _, sh := range shards {
		parts = append(parts, fmt.Sprintf("shard %d entries %d..%d", sh, spans[sh].lo, spans[sh].hi))
	}
	if len(parts) == 0 {
		parts = append(parts, "entries unknown")
	}
	return strings.Join(parts, ", "), entries, records
}

func (r *logReader) indexOf(file string) uint32 {
	for _, idx := range r.indexes {
		if r.fs.PathJoin(r.dir, segmentName(idx)) == file {
			return idx
		}
	}
	return 0
}

// cut zeroes st's segment from st.off and removes every later segment, so
// the next Open reads the log as it is left now.
func (r *logReader) cut(st *logStop) error {
	f, err := r.fs.OpenReadWrite(st.file, vfs.WriteCategoryUnspecified)
	if err != nil {
		return fmt.Errorf("durable: truncate raft log %s: %w", st.file, err)
	}
	defer f.Close()
	size := int64(len(st.data))
	if st.data == nil {
		fi, err := f.Stat()
		if err != nil {
			return fmt.Errorf("durable: truncate raft log %s: %w", st.file, err)
		}
		size = fi.Size()
	}
	for off := int64(st.off); off < size; {
		n := min(zeroChunk, size-off)
		if _, err := f.WriteAt(make([]byte, n), off); err != nil {
			return fmt.Errorf("durable: truncate raft log %s: %w", st.file, err)
		}
		off += n
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("durable: truncate raft log %s: %w", st.file, err)
	}
	names, err := listSegments(r.fs, r.dir)
	if err != nil {
		return err
	}
	for _, idx := range names {
		if name := r.fs.PathJoin(r.dir, segmentName(idx)); name > st.file {
			if err := r.fs.Remove(name); err != nil {
				return fmt.Errorf("durable: truncate raft log: remove %s: %w", name, err)
			}
		}
	}
	if st.data != nil {
		copy(st.data[st.off:], make([]byte, len(st.data)-st.off))
	}
	return syncDir(r.fs, r.dir)
}
