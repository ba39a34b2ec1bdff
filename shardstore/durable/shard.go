package durable

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// A fresh group's log starts after a synthetic truncated entry, as
// CockroachDB's raftInitialLogIndex/Term: raft's MemoryStorage needs a
// snapshot index above zero to carry the ConfState, and the gap costs nothing.
const (
	initialLogIndex = 10
	initialLogTerm  = 5
)

// shard is one raft group over a contiguous slot range. Every field except
// appliedPub belongs to the driver goroutine.
type shard struct {
	id                  uint32
	firstSlot, lastSlot uint16
	rn                  *raft.RawNode
	ms                  *raft.MemoryStorage
	applied             uint64
	appliedPub          atomic.Uint64
	conf                *pb.ConfState
	trunc               truncatedState
	lastPersisted       uint64 // last log index written to pebble
	soleVoter           bool
}

const layoutVersion = 1

func writeLayout(b *pebble.Batch, shards int) error {
	return b.Set(layoutKey, []byte{layoutVersion, byte(shards >> 24), byte(shards >> 16), byte(shards >> 8), byte(shards)}, nil)
}

// readLayout returns the shard count the store was created with.
func readLayout(db *pebble.DB) (shards int, ok bool, err error) {
	v, closer, err := db.Get(layoutKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("durable: read layout: %w", err)
	}
	defer closer.Close()
	if len(v) != 5 || v[0] != layoutVersion {
		return 0, false, fmt.Errorf("durable: unknown layout record %x", v)
	}
	return int(v[1])<<24 | int(v[2])<<16 | int(v[3])<<8 | int(v[4]), true, nil
}

// initShard writes the raft and applied state of a new, empty group whose
// only voter is nodeID.
func initShard(b *pebble.Batch, id uint32, nodeID uint64) error {
	hs, err := proto.Marshal(&pb.HardState{Term: new(uint64(initialLogTerm)), Vote: new(uint64(0)), Commit: new(uint64(initialLogIndex))})
	if err != nil {
		return fmt.Errorf("shard %d: encode initial hard state: %w", id, err)
	}
	as, err := appliedState{index: initialLogIndex, conf: &pb.ConfState{Voters: []uint64{nodeID}}}.encode()
	if err != nil {
		return fmt.Errorf("shard %d: encode initial applied state: %w", id, err)
	}
	_ = b.Set(hardStateKey(id), hs, nil)
	_ = b.Set(appliedKey(id), as, nil)
	_ = b.Set(truncatedKey(id), truncatedState{initialLogIndex, initialLogTerm}.encode(), nil)
	return nil
}

func getRequired(db *pebble.DB, id uint32, what string, key []byte) ([]byte, error) {
	v, closer, err := db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, fmt.Errorf("durable: shard %d: %s missing", id, what)
	}
	if err != nil {
		return nil, fmt.Errorf("durable: shard %d: read %s: %w", id, what, err)
	}
	defer closer.Close()
	return slices.Clone(v), nil
}

// loadShard rebuilds shard id's raft storage from pebble, validating every
// log entry. A corrupt last entry is a torn tail: it is deleted (synced) and
// a warning is logged. Any other corruption is an error naming the entry.
func loadShard(db *pebble.DB, id uint32, opts *Options, log *slog.Logger) (*shard, error) {
	hsRaw, err := getRequired(db, id, "hard state", hardStateKey(id))
	if err != nil {
		return nil, err
	}
	hs := &pb.HardState{}
	if err := proto.Unmarshal(hsRaw, hs); err != nil {
		return nil, fmt.Errorf("durable: shard %d: decode hard state: %w", id, err)
	}
	tRaw, err := getRequired(db, id, "truncated state", truncatedKey(id))
	if err != nil {
		return nil, err
	}
	trunc, err := decodeTruncatedState(tRaw)
	if err != nil {
		return nil, fmt.Errorf("durable: shard %d: %w", id, err)
	}
	aRaw, err := getRequired(db, id, "applied state", appliedKey(id))
	if err != nil {
		return nil, err
	}
	as, err := decodeAppliedState(aRaw)
	if err != nil {
		return nil, fmt.Errorf("durable: shard %d: %w", id, err)
	}

	ents, err := readLog(db, id, trunc, as.index, hs, log)
	if err != nil {
		return nil, err
	}
	last := trunc.index + uint64(len(ents))
	if as.index < trunc.index || as.index > last {
		return nil, fmt.Errorf("durable: shard %d: applied index %d outside the log (%d,%d]", id, as.index, trunc.index, last)
	}
	if hs.GetCommit() > last {
		// Only reachable through a truncated torn tail (readLog warned).
		hs.Commit = new(last)
	}
	if hs.GetCommit() < as.index {
		// Applied entries were committed; the HardState is written in the
		// same batch, so this only repairs a HardState from an older format.
		hs.Commit = new(as.index)
	}

	ms := raft.NewMemoryStorage()
	snap := &pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: new(trunc.index), Term: new(trunc.term), ConfState: as.conf}}
	if err := ms.ApplySnapshot(snap); err != nil {
		return nil, fmt.Errorf("durable: shard %d: load truncated state: %w", id, err)
	}
	if err := ms.Append(ents); err != nil {
		return nil, fmt.Errorf("durable: shard %d: load log: %w", id, err)
	}
	if err := ms.SetHardState(hs); err != nil {
		return nil, fmt.Errorf("durable: shard %d: load hard state: %w", id, err)
	}
	rn, err := raft.NewRawNode(&raft.Config{
		ID:                        opts.NodeID,
		ElectionTick:              10,
		HeartbeatTick:             1,
		Storage:                   ms,
		Applied:                   as.index,
		MaxSizePerMsg:             1 << 20,
		MaxInflightMsgs:           256,
		MaxCommittedSizePerReady:  64 << 20,
		MaxUncommittedEntriesSize: 256 << 20,
		CheckQuorum:               true,
		PreVote:                   true,
		Logger:                    raftLogger{log: log, shard: id},
	})
	if err != nil {
		return nil, fmt.Errorf("durable: shard %d: start raft: %w", id, err)
	}
	sh := &shard{
		id:            id,
		rn:            rn,
		ms:            ms,
		applied:       as.index,
		conf:          as.conf,
		trunc:         trunc,
		lastPersisted: last,
		soleVoter:     len(as.conf.Voters) == 1 && as.conf.Voters[0] == opts.NodeID && len(as.conf.VotersOutgoing) == 0,
	}
	sh.appliedPub.Store(as.index)
	return sh, nil
}

// readLog reads and checks shard id's log after trunc. A corrupt last entry
// is removed; it must not be applied already (its effect would then be in
// the state while its term is lost).
func readLog(db *pebble.DB, id uint32, trunc truncatedState, applied uint64, hs *pb.HardState, log *slog.Logger) ([]*pb.Entry, error) {
	it, err := db.NewIter(&pebble.IterOptions{
		LowerBound: logKey(id, trunc.index+1),
		UpperBound: shardKey(id, suffixLog+"\xff"),
	})
	if err != nil {
		return nil, fmt.Errorf("durable: shard %d: read raft log: %w", id, err)
	}
	defer it.Close()
	var ents []*pb.Entry
	expect := trunc.index + 1
	var badIndex uint64
	var badErr error
	for ok := it.First(); ok; ok = it.Next() {
		idx, err := logKeyIndex(id, it.Key())
		if err != nil {
			return nil, fmt.Errorf("durable: %w", err)
		}
		if badErr != nil {
			return nil, fmt.Errorf("durable: shard %d: raft log entry %d is corrupt (%v) and entry %d follows it: refusing to open", id, badIndex, badErr, idx)
		}
		if idx != expect {
			return nil, fmt.Errorf("durable: shard %d: raft log entry %d missing (next entry is %d): refusing to open", id, expect, idx)
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, fmt.Errorf("durable: shard %d: read raft log entry %d: %w", id, idx, err)
		}
		e, err := decodeEntry(v)
		if err == nil && e.GetIndex() != idx {
			err = fmt.Errorf("entry claims index %d", e.GetIndex())
		}
		if err != nil {
			badIndex, badErr = idx, err
		} else {
			ents = append(ents, e)
		}
		expect++
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("durable: shard %d: read raft log: %w", id, err)
	}
	if badErr == nil {
		return ents, nil
	}
	if badIndex <= applied {
		return nil, fmt.Errorf("durable: shard %d: last raft log entry %d is corrupt (%v) but was already applied (applied index %d): refusing to open", id, badIndex, badErr, applied)
	}
	b := db.NewBatch()
	defer b.Close()
	_ = b.Delete(logKey(id, badIndex), nil)
	mayBeAcked := hs.GetCommit() >= badIndex
	if mayBeAcked {
		hs.Commit = new(badIndex - 1)
		v, err := proto.Marshal(hs)
		if err != nil {
			return nil, fmt.Errorf("durable: shard %d: encode hard state: %w", id, err)
		}
		_ = b.Set(hardStateKey(id), v, nil)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return nil, fmt.Errorf("durable: shard %d: truncate torn raft log tail at %d: %w", id, badIndex, err)
	}
	log.Warn("durable: torn raft log tail truncated", "shard", id, "index", badIndex, "err", badErr,
		"last_good", badIndex-1, "was_committed", mayBeAcked)
	return ents, nil
}
