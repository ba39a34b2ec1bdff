package durable

import (
	"fmt"
	"sync"
)

// defaultMaxStagedSnapshotBytes is Options.MaxStagedSnapshotBytes's default.
const defaultMaxStagedSnapshotBytes = 1 << 30

// snapIntake bounds the memory of received raft snapshots: the buffers
// being read, those held until the driver steps them (at most one per
// shard) and the one the driver staged for raft's next Ready all count
// against max. A snapshot past it is refused, and the sender's raft
// retries later (ReportSnapshot(SnapshotFailure)).
type snapIntake struct {
	mu   sync.Mutex
	max  int64
	used int64
	held map[uint32]*snapshotData // received, not taken by the driver yet
}

func newSnapIntake(max int64) *snapIntake {
	return &snapIntake{max: max, held: map[uint32]*snapshotData{}}
}

// reserve counts n more bytes, or refuses them past the cap.
func (in *snapIntake) reserve(n int64) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.used+n > in.max {
		return fmt.Errorf("received snapshots would hold %d bytes, over Options.MaxStagedSnapshotBytes %d", in.used+n, in.max)
	}
	in.used += n
	return nil
}

func (in *snapIntake) release(n int64) {
	in.mu.Lock()
	in.used -= n
	in.mu.Unlock()
}

// check refuses a snapshot at index for shard that the held one covers.
func (in *snapIntake) check(shard uint32, index uint64) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if h := in.held[shard]; h != nil && index <= h.index {
		return fmt.Errorf("snapshot at %d refused: one at %d is waiting to be applied", index, h.index)
	}
	return nil
}

// hold keeps d (its bytes reserved) as shard's received snapshot: it
// replaces, and frees, an older one; an older or equal one is refused and
// its bytes released.
func (in *snapIntake) hold(shard uint32, d *snapshotData) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	h := in.held[shard]
	if h != nil && d.index <= h.index {
		in.used -= d.size
		return fmt.Errorf("snapshot at %d refused: one at %d is waiting to be applied", d.index, h.index)
	}
	if h != nil {
		in.used -= h.size
		h.chunks = nil
	}
	in.held[shard] = d
	return nil
}

// take hands shard's held snapshot at index to the driver (nil: a newer
// one replaced it); its bytes stay reserved until the driver releases them.
func (in *snapIntake) take(shard uint32, index uint64) *snapshotData {
	in.mu.Lock()
	defer in.mu.Unlock()
	h := in.held[shard]
	if h == nil || h.index != index {
		return nil
	}
	delete(in.held, shard)
	return h
}
