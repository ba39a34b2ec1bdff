package durable

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/dorivo/dorivo/shardstore/collection"
)

// Garbage collection of collection records. A drop deletes its version's
// element records in the same record (collection.Drop, a range deletion),
// so this collects only what that misses: records of versions dropped
// before drops deleted them. A background pass (gcLoop) walks the
// collection records a bounded batch at a time, from where the last pass
// stopped, and for each run of element or score records of one (key,
// version) checks the key's metadata record in the same pebble snapshot:
// absent, or naming another version, the run is garbage and goes in one
// range deletion.
//
// Safe without the log: versions only grow, so a version that is dead in
// a snapshot of the applied state stays dead in every later state, and no
// later record (nor a replay of an earlier one past the applied index)
// writes it; pebble keeps a prefix of its batches through a crash, so the
// deletion never survives without the drop before it. Each replica
// collects its own; a deletion lost in a crash is found again. Expired
// collections are not collected: their metadata names their version, and
// deciding they are gone takes a clock, which only a logged write may use.

const (
	gcInterval = time.Minute
	gcBatch    = 1 << 14 // records a pass examines
)

// gc is the collector's state.
type gc struct {
	stop, exited chan struct{}
	mu           sync.Mutex // one pass at a time
	cursor       []byte     // the pebble key the next pass starts at (nil: the start)
}

func newGC() *gc { return &gc{stop: make(chan struct{}), exited: make(chan struct{})} }

// gcLoop runs a pass every gcInterval until Close.
func (s *Store) gcLoop() {
	defer close(s.gc.exited)
	t := time.NewTicker(gcInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-s.gc.stop:
			return
		}
		if s.DiskError() != nil {
			continue // deletions take room until compacted
		}
		if _, err := s.collectGarbage(gcBatch); err != nil {
			s.log.Warn("durable: collecting garbage collection records failed", "err", err)
		}
	}
}

// CollectGarbage runs one pass over at most n collection records (the
// background collector's, at once) and returns how many runs of garbage
// records it deleted. A pass continues from where the last one stopped,
// wrapping around.
func (s *Store) CollectGarbage(n int) (deleted int, err error) {
	if s.closed.Load() || s.gc == nil {
		return 0, ErrClosed
	}
	return s.collectGarbage(n)
}

func (s *Store) collectGarbage(n int) (deleted int, err error) {
	defer recoverCorrupt(&err, "collect garbage collection records")
	s.gc.mu.Lock()
	defer s.gc.mu.Unlock()
	snap := s.db.NewSnapshot()
	defer snap.Close()
	lo, hi := collSpan(0, 0xffff)
	start := lo
	if s.gc.cursor != nil {
		start = s.gc.cursor
	}
	it, err := snap.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return 0, fmt.Errorf("durable: collect garbage: %w", err)
	}
	defer it.Close()
	b := s.db.NewBatch()
	defer b.Close()
	seen := 0
	for ok := it.SeekGE(start); ok && seen < n; seen++ {
		k := it.Key()
		end, garbage, err := s.gcRun(snap, k)
		if err != nil {
			return deleted, err
		}
		if garbage {
			_ = b.DeleteRange(k, end, nil)
			deleted++
		}
		ok = it.SeekGE(end)
	}
	if it.Valid() {
		s.gc.cursor = append(s.gc.cursor[:0], it.Key()...)
	} else {
		s.gc.cursor = nil // wrap
	}
	if err := it.Error(); err != nil {
		return deleted, fmt.Errorf("durable: collect garbage: %w", err)
	}
	if b.Empty() {
		return deleted, nil
	}
	// Unsynced: a deletion lost in a crash is found again.
	if err := b.Commit(pebble.NoSync); err != nil {
		return 0, fmt.Errorf("durable: collect garbage: %w", err)
	}
	return deleted, nil
}

// gcRun looks at the collection record at pebble key k: for an element or
// score record, end is past its (key, version) run and garbage says
// whether no metadata record names that version; for any other record,
// end is the next key.
func (s *Store) gcRun(snap *pebble.Snapshot, k []byte) (end []byte, garbage bool, err error) {
	next := append(append([]byte(nil), k...), 0)
	rk := k[3:]
	if len(rk) == 0 || rk[0] != 'e' && rk[0] != 's' {
		return next, false, nil
	}
	ekey, version, err := versionOf(rk)
	if err != nil {
		return next, false, nil // not this layout: leave it
	}
	sl := binary.BigEndian.Uint16(k[1:])
	end = collection.PrefixEnd(collKey(nil, sl, rk[:1+4+len(ekey)+8])) // past the run's prefix
	mk := collKey(nil, sl, collection.MetaKey(ekey))
	v, closer, err := snap.Get(mk)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		return end, true, nil
	case err != nil:
		return nil, false, fmt.Errorf("durable: collect garbage: metadata of %q: %w", ekey, err)
	}
	defer closer.Close()
	m, err := collection.DecodeMeta(v)
	if err != nil {
		return end, false, nil // reported where it is loaded
	}
	return end, collection.IsGarbage(version, m, true), nil
}

// versionOf decodes the user key and version of an element or score
// record key ('e' or 's', len(key)₄, key, version₈, ...).
func versionOf(rk []byte) (key []byte, version uint64, err error) {
	if rk[0] == 'e' {
		key, version, _, err = collection.DecodeElemKey(rk)
		return key, version, err
	}
	key, version, _, _, err = collection.DecodeScoreKey(rk)
	return key, version, err
}
