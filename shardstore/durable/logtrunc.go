package durable

import (
	"sync"
	"sync/atomic"
)

// sealedSegment is a full segment and, per shard, the last entry index it
// holds.
type sealedSegment struct {
	index uint32
	max   map[uint32]uint64
}

// truncator removes sealed log segments once pebble has flushed past them.
// pebble runs without its WAL, so an apply is durable only once the
// memtable holding it is flushed; until then the log is what replays it.
// The rule: read every shard's applied index, Flush (every apply committed
// before the Flush call is then in an sstable, synced), and only then remove
// the oldest segments whose entries are all at or below those indexes.
type truncator struct {
	mu      sync.Mutex
	sealed  []sealedSegment
	kick    chan struct{}
	stop    chan struct{}
	exited  chan struct{}
	removed atomic.Uint64
}

func newTruncator() *truncator {
	return &truncator{kick: make(chan struct{}, 1), stop: make(chan struct{}), exited: make(chan struct{})}
}

func (t *truncator) seal(seg sealedSegment) {
	t.mu.Lock()
	t.sealed = append(t.sealed, seg)
	t.mu.Unlock()
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

// truncateLoop runs until Close; each kick is one flush-then-remove pass.
func (s *Store) truncateLoop() {
	defer close(s.trunc.exited)
	for {
		select {
		case <-s.trunc.kick:
		case <-s.trunc.stop:
			return
		}
		if err := s.truncateLog(); err != nil {
			s.log.Error("durable: raft log truncation failed (the log keeps growing until it succeeds)", "err", err)
		}
	}
}

// truncateLog flushes pebble and removes the sealed segments it covers.
func (s *Store) truncateLog() error {
	t := s.trunc
	t.mu.Lock()
	segs := append([]sealedSegment(nil), t.sealed...)
	t.mu.Unlock()
	if len(segs) == 0 {
		return nil
	}
	applied := make([]uint64, len(s.shards))
	for i, sh := range s.shards {
		applied[i] = sh.appliedPub.Load() // published after the apply commit
	}
	if s.testHookBeforeFlush != nil {
		s.testHookBeforeFlush()
	}
	if err := s.db.Flush(); err != nil {
		return err
	}
	n := 0
	for _, seg := range segs {
		covered := true
		for sh, idx := range seg.max {
			if int(sh) >= len(applied) || idx > applied[sh] {
				covered = false
			}
		}
		if !covered {
			break // segments go in order: the log stays a suffix
		}
		if err := s.opts.FS.Remove(s.opts.FS.PathJoin(s.logDir, segmentName(seg.index))); err != nil {
			return err
		}
		n++
	}
	if n == 0 {
		return nil
	}
	if err := syncDir(s.opts.FS, s.logDir); err != nil {
		return err
	}
	t.mu.Lock()
	t.sealed = t.sealed[n:]
	t.mu.Unlock()
	t.removed.Add(uint64(n))
	return nil
}
