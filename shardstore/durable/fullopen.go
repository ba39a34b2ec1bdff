package durable

import (
	"errors"
	"fmt"
	"math"
	"syscall"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	pb "go.etcd.io/raft/v3/raftpb"
)

// Opening on a full disk. Open writes (pebble's files, the flush after
// replay, a fresh log segment), and with the disk full those writes would
// stall until space is back, so an agent restarted on a full disk served
// nothing. Instead Open's writes fail at once (stallFS.failFast) and a
// write failing with ENOSPC makes Open fall back to a read-only store:
// pebble opened read-only, the raft log's committed entries after pebble's
// applied indexes replayed into an in-memory indexed batch that Get and
// Scan read through (on a single node every acknowledged write; on a
// replica its committed writes, maybe stale: committedEntries), DiskError
// reporting the full disk, and every Propose refused with ErrDiskFull.
// Nothing is written, so nothing can be lost; the store takes writes again
// after a restart with space available.

// isDiskFull reports whether err comes from a full disk.
func isDiskFull(err error) bool { return errors.Is(err, syscall.ENOSPC) }

// openFull opens the store in dir read-only after Open found the disk
// full (cause).
func openFull(dir string, opts Options, cause error) (_ *Store, err error) {
	s := &Store{opts: opts, log: opts.Logger, disk: &diskState{}, readOnly: true}
	s.fs = newStallFS(opts.FS, s.disk, s.log)
	s.fs.(*stallFS).failFast.Store(true)
	s.logDir = s.fs.PathJoin(dir, logDirName)
	s.disk.publish(cause)
	s.disk.stalled.Add(1) // for good: DiskError reports the full disk
	lock, err := pebble.LockDirectory(dir, s.fs)
	if err != nil {
		return nil, fmt.Errorf("durable: lock %s: %w", dir, err)
	}
	db, err := pebble.Open(dir, &pebble.Options{FS: s.fs, Logger: pebbleLogger{s.log}, Lock: lock, ReadOnly: true, DisableWAL: true})
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("durable: open pebble read-only at %s (disk full): %w", dir, err)
	}
	s.db, s.lock = db, lock
	defer func() {
		recoverCorrupt(&err, "open %s read-only", dir)
		if err != nil {
			s.closeResources()
		}
	}()
	if err := s.loadUsers(); err != nil {
		return nil, err
	}
	l, ok, err := readLayout(s.db)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("durable: disk full and no store in %s yet: %w", dir, cause)
	}
	s.gen = l.gen
	if err := s.replayReadOnly(l.shards); err != nil {
		return nil, err
	}
	s.log.Error("durable: disk full at start: serving reads, refusing writes until a restart with free space", "dir", dir, "err", cause)
	return s, nil
}

// replayReadOnly applies the groups' committed log entries after pebble's
// applied indexes into the overlay batch and sets up the shards' slot
// ranges and the layout group (its stored layout, then its log's).
func (s *Store) replayReadOnly(shards int) error {
	n := shards + 1
	applied := make([]appliedState, n)
	idx := make([]uint64, n)
	for i := range n {
		as, err := readApplied(s.db, uint32(i))
		if err != nil && i < shards {
			return err
		}
		applied[i], idx[i] = as, as.index // the layout group's is missing in a store from a build without one
	}
	r := &logReader{fs: s.fs, dir: s.logDir, gen: s.gen, applied: idx, log: s.log}
	rec, err := r.read()
	if err != nil {
		return err
	}
	logs, err := groupLogs(rec, idx)
	if err != nil {
		return err
	}
	if err := s.loadLayout(); err != nil {
		return err
	}
	s.overlay = s.db.NewIndexedBatch()
	var written [][]byte
	for i := range n {
		layoutGroup := i == shards
		for _, e := range committedEntries(&logs[i], applied[i], s.opts.NodeID) {
			_, data, err := decodeProposal(e.Data)
			switch {
			case err != nil:
			case layoutGroup:
				err = s.applyLayout(s.overlay, data)
			default:
				err = s.opts.Apply(data, &Writer{b: s.overlay, users: &s.users, keys: &written})
			}
			if err != nil {
				s.log.Error("durable: committed record not applied", "group", i, "index", e.GetIndex(), "err", err)
			}
		}
		if layoutGroup {
			s.shards = append(s.shards, &shard{id: uint32(i), layoutGroup: true})
		} else {
			s.shards = append(s.shards, &shard{id: uint32(i), firstSlot: uint16(firstSlot(i, shards)), lastSlot: uint16(firstSlot(i+1, shards) - 1)})
		}
	}
	if l := s.d.layoutStaged; l != nil {
		s.d.layoutStaged = nil
		s.setLayout(l)
	}
	return nil
}

// committedEntries returns the normal, non-empty entries of sl after the
// applied index that its group committed. A group this node alone votes in
// committed its whole log; a replicated one only up to its last logged
// commit index, since the entries after it may be replaced by another
// leader's and showing them would be a dirty read. A commit index reaches
// the log with the next record, so a replica may show less than it had
// applied before the restart: stale, never dirty.
func committedEntries(sl *shardLog, as appliedState, nodeID uint64) []*pb.Entry {
	end := uint64(math.MaxUint64)
	if !soleVoter(as.conf, nodeID) {
		end = as.index
		if sl.hs != nil {
			end = max(end, sl.hs.GetCommit())
		}
	}
	var out []*pb.Entry
	for _, e := range sl.ents {
		if e.GetIndex() <= as.index || e.GetIndex() > end || e.GetType() != pb.EntryNormal || len(e.Data) == 0 {
			continue
		}
		out = append(out, e)
	}
	return out
}

// reader is what Get and Scan read: the overlay over pebble when read-only.
func (s *Store) reader() pebble.Reader {
	if s.overlay != nil {
		return s.overlay
	}
	return s.db
}

// probeBytes is what Open writes before starting: a new segment's
// zero-filled chunk and a memtable flush fit in it. pebble treats a failed
// write while opening (a new MANIFEST) as fatal, so a disk without this
// much room is caught here, before pebble writes anything.
const probeBytes = zeroChunk + memTableBytes

// probeSpace writes, syncs and removes probeBytes in dir, returning the
// ENOSPC of a full disk (other errors are left to Open to meet).
func probeSpace(fs vfs.FS, dir string) error {
	if err := mkdirDurable(fs, dir); err != nil {
		return nil
	}
	name := fs.PathJoin(dir, "space-probe.tmp")
	defer fs.Remove(name)
	f, err := fs.Create(name, vfs.WriteCategoryUnspecified)
	if err != nil {
		return probeErr(err)
	}
	defer f.Close()
	if err := writeZeros(f, probeBytes); err != nil {
		return probeErr(err)
	}
	return probeErr(f.Sync())
}

func probeErr(err error) error {
	if isDiskFull(err) {
		return fmt.Errorf("durable: disk full: %w", err)
	}
	return nil
}
