package durable

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Observability hooks, read from any goroutine while the store runs: the
// syncer's record latency and size (recorded by logWriter.run, the only
// writer, so no locks and no atomic read-modify-writes) and each shard's
// raft status (copied out of its RawNode by the driver on every tick).

// NumSyncBuckets is the number of finite bounds of the sync histograms.
const NumSyncBuckets = 17

// SyncLatencyBounds are the upper bounds, in seconds, of the sync
// latency histogram: 64 µs × 2^i, up to about 4.2 s.
var SyncLatencyBounds = func() (b [NumSyncBuckets]float64) {
	for i := range b {
		b[i] = 64e-6 * float64(uint64(1)<<i)
	}
	return b
}()

// SyncBatchBounds are the upper bounds, in entries, of the record-size
// histogram: 2^i, 1 to 65536.
var SyncBatchBounds = func() (b [NumSyncBuckets]float64) {
	for i := range b {
		b[i] = float64(uint64(1) << i)
	}
	return b
}()

// syncHist is a histogram with NumSyncBuckets bounds and +Inf, written by
// one goroutine.
type syncHist struct {
	counts [NumSyncBuckets + 1]atomic.Uint64
	sum    atomic.Uint64
}

func (h *syncHist) add(bucket int, v uint64) {
	c := &h.counts[min(bucket, NumSyncBuckets)]
	c.Store(c.Load() + 1)
	h.sum.Store(h.sum.Load() + v)
}

// log2Ceil is the smallest i with v <= 2^i (0 for v <= 1).
func log2Ceil(v uint64) int {
	if v <= 1 {
		return 0
	}
	return bits.Len64(v - 1)
}

// syncObs is what the syncer records per record.
type syncObs struct {
	latency syncHist // nanoseconds: write and fdatasync of one record
	entries syncHist // raft log entries in the record
}

func (o *syncObs) record(d time.Duration, entries int) {
	ns := uint64(max(d, 0))
	// 64 µs × 2^i >= ns  ⇔  2^i >= ceil(ns / 64 µs)
	o.latency.add(log2Ceil((ns+63_999)/64_000), ns)
	o.entries.add(log2Ceil(uint64(max(entries, 0))), uint64(max(entries, 0)))
}

// SyncHistogram is a histogram read at one moment: per-bucket counts (not
// cumulative; the last is +Inf) and the sum (seconds or entries).
type SyncHistogram struct {
	Counts [NumSyncBuckets + 1]uint64
	Sum    float64
}

func (h *syncHist) snapshot(scale float64) SyncHistogram {
	var s SyncHistogram
	for i := range s.Counts {
		s.Counts[i] = h.counts[i].Load()
	}
	s.Sum = float64(h.sum.Load()) * scale
	return s
}

// SyncStats are the raft log syncer's histograms.
type SyncStats struct {
	// Latency is the time to write and fdatasync one log record, in
	// seconds (SyncLatencyBounds): the floor of every write's latency.
	Latency SyncHistogram
	// Entries is the raft log entries per record (SyncBatchBounds): the
	// group-commit batch size.
	Entries SyncHistogram
}

// SyncStats reads the syncer's histograms; any goroutine may call it.
func (s *Store) SyncStats() SyncStats {
	o := &s.obs.sync
	return SyncStats{Latency: o.latency.snapshot(1e-9), Entries: o.entries.snapshot(1)}
}

// RaftStatus is one shard's raft state as the driver last saw it.
type RaftStatus struct {
	Shard         uint32
	ID, Leader    uint64 // this node's raft ID and the leader's (0: none known)
	Term          uint64
	Commit        uint64 // commit index
	Applied       uint64 // applied index
	State         string // StateLeader, StateFollower, StateCandidate, StatePreCandidate
	LeaderChanges uint64 // times the known leader changed since Open
}

// storeObs holds the store's observability state.
type storeObs struct {
	sync syncObs
}

// RaftStatus returns every shard's raft status as of the driver's last
// tick (nil before the first); any goroutine may call it. It is Status's
// publication (replicate.go), for every shard.
func (s *Store) RaftStatus() []RaftStatus {
	out := make([]RaftStatus, 0, s.nData())
	for _, sh := range s.shards[:s.nData()] {
		p := sh.statusPub.Load()
		if p == nil {
			return nil
		}
		out = append(out, RaftStatus{Shard: p.Shard, ID: s.opts.NodeID, Leader: p.Leader, Term: p.Term,
			Commit: p.Commit, Applied: p.Applied, State: p.State, LeaderChanges: p.LeaderChanges})
	}
	return out
}
