package durable

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
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
	appliedTerm         uint64
	appliedPub          atomic.Uint64
	conf                *pb.ConfState
	soleVoter           bool
	// hs is the latest HardState raft asked to persist; hsDirty is set
	// until a log record carries it.
	hs      *pb.HardState
	hsDirty bool

	// Replication (replicate.go). lead is the leader raft last reported;
	// leadPub publishes it (and the term) to other goroutines.
	lead uint64
	// leaderTerm is the term this node leads in (0: not leading);
	// orphanTerm the term it lost with proposals possibly pending, since
	// the driver's tick orphanSince (settleOrphans).
	leaderTerm, orphanTerm, orphanSince uint64
	leadTerm                            uint64 // the term lead was last seen in
	knownLead, leadChanges              uint64 // the last non-zero leader, and how often it changed
	leadPub                             atomic.Pointer[LeaderInfo]
	// handBacks counts the hand-backs to the preferred leader tried since
	// this node last stopped leading the shard; the next waits until the
	// driver's tick handBackAt (rebalance).
	handBacks  int
	handBackAt uint64
	// goneCampaigns are the campaigns left after PeerGone reported the
	// leader gone (leadergone.go), the next at tick goneNextTick.
	goneCampaigns int
	goneNextTick  uint64
	statusPub     atomic.Pointer[ShardStatus]
	// leaderHeard is when a message from the leader last arrived (unix
	// ns; a follower's staleness, ShardStatus.LeaderHeard).
	leaderHeard int64
	reads       []pendingRead            // ReadIndexes raft has not answered, oldest first
	readBatch   [2][]func(uint64, error) // this cycle's reads, not stepped yet: [0] ReadIndex, [1] LeaderReadIndex
	confirmed   []pendingRead            // answered, waiting for applied to reach their index
	snapping    map[uint64]bool          // peers a snapshot is streaming to
	staged      *snapshotData            // the snapshot stepped into raft, until its Ready (snapshot.go)
	// layoutGroup: this is the layout group (clusterlayout.go), which has
	// no slots; bootTerm is the term it last proposed version 1 in.
	layoutGroup bool
	bootTerm    uint64
	// rejoining: this node lost its copy of the group and has not been
	// made a learner yet (rejoin.go); it asks again at tick rejoinAskAt.
	// rejoinNonce tags its removal request; rejoinRemoved is set once
	// that removal applied here.
	rejoining, rejoinRemoved bool
	rejoinAskAt              uint64
	rejoinNonce              []byte
}

// layoutVersion 2: raft log in <dir>/raftlog, pebble without its WAL.
// Version 1 kept the raft log and HardState in pebble.
const layoutVersion = 2

// layout is the store-wide record: the shard count and the generation of
// the raft log that goes with it (bumped when the shard count changes).
type layout struct {
	shards int
	gen    uint64
}

func writeLayout(b *pebble.Batch, l layout) error {
	v := []byte{layoutVersion, byte(l.shards >> 24), byte(l.shards >> 16), byte(l.shards >> 8), byte(l.shards)}
	return b.Set(layoutKey, binary.BigEndian.AppendUint64(v, l.gen), nil)
}

// readLayout returns the layout the store was created with.
func readLayout(db *pebble.DB) (l layout, ok bool, err error) {
	v, closer, err := db.Get(layoutKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return layout{}, false, nil
	}
	if err != nil {
		return layout{}, false, fmt.Errorf("durable: read layout: %w", err)
	}
	defer closer.Close()
	if len(v) == 5 && v[0] == 1 {
		return layout{}, false, errors.New("durable: this store has layout version 1 (raft log inside pebble), which this build does not read; replay it with the build that wrote it, or start from an empty --data-dir")
	}
	if len(v) != 13 || v[0] != layoutVersion {
		return layout{}, false, fmt.Errorf("durable: unknown layout record %x", v)
	}
	return layout{shards: int(v[1])<<24 | int(v[2])<<16 | int(v[3])<<8 | int(v[4]), gen: binary.BigEndian.Uint64(v[5:])}, true, nil
}

// initShard writes the applied state of a new, empty group of voters. Every
// replica starts from this same state, so raft needs no bootstrap entries.
func initShard(b *pebble.Batch, id uint32, voters []uint64) error {
	as, err := appliedState{index: initialLogIndex, term: initialLogTerm, conf: &pb.ConfState{Voters: slices.Clone(voters)}}.encode()
	if err != nil {
		return fmt.Errorf("shard %d: encode initial applied state: %w", id, err)
	}
	return b.Set(appliedKey(id), as, nil)
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

func readApplied(db *pebble.DB, id uint32) (appliedState, error) {
	raw, err := getRequired(db, id, "applied state", appliedKey(id))
	if err != nil {
		return appliedState{}, err
	}
	as, err := decodeAppliedState(raw)
	if err != nil {
		return appliedState{}, fmt.Errorf("durable: shard %d: %w", id, err)
	}
	return as, nil
}

// shardLog is one shard's part of the recovered log.
type shardLog struct {
	hs   *pb.HardState
	ents []*pb.Entry // contiguous
}

// add appends ents, replacing any suffix they overlap (raft's log rule).
// applied is pebble's applied index: a gap that ends at or below it was
// covered by a raft snapshot (snapshot.go), so the log restarts there.
func (l *shardLog) add(id uint32, ents []*pb.Entry, applied uint64) error {
	if len(ents) == 0 {
		return nil
	}
	first := ents[0].GetIndex()
	if n := len(l.ents); n > 0 {
		base := l.ents[0].GetIndex()
		last := l.ents[n-1].GetIndex()
		switch {
		case first > last+1 && first <= applied+1:
			l.ents = l.ents[:0]
		case first > last+1:
			return fmt.Errorf("durable: shard %d: raft log entries %d..%d missing: refusing to open", id, last+1, first-1)
		case first <= base:
			l.ents = l.ents[:0]
		default:
			l.ents = l.ents[:first-base]
		}
	}
	l.ents = append(l.ents, ents...)
	return nil
}

// loadShard starts shard id's raft group from pebble's applied state and
// the log entries after it.
func loadShard(id uint32, as appliedState, sl *shardLog, opts *Options, log *slog.Logger) (*shard, error) {
	// Entries at or below the applied index are in pebble already.
	ents := sl.ents
	for len(ents) > 0 && ents[0].GetIndex() <= as.index {
		ents = ents[1:]
	}
	if len(ents) > 0 && ents[0].GetIndex() != as.index+1 {
		return nil, corruptError{fmt.Errorf("durable: shard %d: raft log resumes at entry %d but pebble has applied only up to %d: entries %d..%d missing: refusing to open",
			id, ents[0].GetIndex(), as.index, as.index+1, ents[0].GetIndex()-1)}
	}
	last := as.index + uint64(len(ents))
	hs := &pb.HardState{Term: new(as.term), Vote: new(uint64(0)), Commit: new(as.index)}
	if sl.hs != nil {
		hs = &pb.HardState{Term: new(max(sl.hs.GetTerm(), as.term)), Vote: new(sl.hs.GetVote()), Commit: new(sl.hs.GetCommit())}
	}
	// Applied entries were committed; a commit beyond the log's end can only
	// follow a torn tail (its commit index was not synced either).
	hs.Commit = new(min(max(hs.GetCommit(), as.index), last))

	ms := raft.NewMemoryStorage()
	snap := &pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: new(as.index), Term: new(as.term), ConfState: as.conf}}
	if err := ms.ApplySnapshot(snap); err != nil {
		return nil, fmt.Errorf("durable: shard %d: load applied state: %w", id, err)
	}
	if err := ms.Append(ents); err != nil {
		return nil, fmt.Errorf("durable: shard %d: load log: %w", id, err)
	}
	if err := ms.SetHardState(hs); err != nil {
		return nil, fmt.Errorf("durable: shard %d: load hard state: %w", id, err)
	}
	rn, err := raft.NewRawNode(&raft.Config{
		ID:                        opts.NodeID,
		ElectionTick:              opts.ElectionTicks,
		HeartbeatTick:             opts.HeartbeatTicks,
		DisableProposalForwarding: true, // a follower refuses: the datapath forwards requests instead
		Storage:                   ms,
		Applied:                   as.index,
		AsyncStorageWrites:        true,
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
		id:          id,
		rn:          rn,
		ms:          ms,
		applied:     as.index,
		appliedTerm: as.term,
		conf:        as.conf,
		hs:          hs,
		hsDirty:     true, // the first record of the new segment carries it
		soleVoter:   soleVoter(as.conf, opts.NodeID),
	}
	sh.appliedPub.Store(as.index)
	return sh, nil
}

// soleVoter reports whether node alone votes in conf: its group commits
// every entry it logs.
func soleVoter(conf *pb.ConfState, node uint64) bool {
	v := conf.GetVoters()
	return len(v) == 1 && v[0] == node && len(conf.GetVotersOutgoing()) == 0
}
