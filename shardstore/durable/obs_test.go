package durable

import (
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/dorivo/dorivo/internal/faultfs"
	"github.com/dorivo/dorivo/shardstore/slot"
)

func histCount(h SyncHistogram) (n uint64) {
	for _, c := range h.Counts {
		n += c
	}
	return n
}

// The syncer's histograms agree with the counters, and a disk whose syncs
// take 20 ms moves the latency histogram past the 16 ms bound.
func TestSyncStatsFollowTheSyncer(t *testing.T) {
	fs := faultfs.New(vfs.NewMem())
	s := openStore(t, t.TempDir(), Options{Shards: 2, FS: fs})
	defer s.Close()
	for i := range 20 {
		mustSet(t, s, fmt.Sprintf("k%d", i), "v", 0)
	}
	st, ss := s.Stats(), s.SyncStats()
	if n := histCount(ss.Latency); n != st.Fsyncs || histCount(ss.Entries) != st.Fsyncs {
		t.Fatalf("latency histogram counts %d, entries %d, store synced %d records", n, histCount(ss.Entries), st.Fsyncs)
	}
	if uint64(ss.Entries.Sum) != st.Entries {
		t.Errorf("entries histogram sums %v, store wrote %d entries", ss.Entries.Sum, st.Entries)
	}
	slowBucket := 0 // first bound above 16 ms
	for SyncLatencyBounds[slowBucket] < 0.016 {
		slowBucket++
	}
	var slowBefore uint64
	for _, c := range ss.Latency.Counts[slowBucket:] {
		slowBefore += c
	}
	fs.SetDelay(20 * time.Millisecond)
	for i := range 5 {
		mustSet(t, s, fmt.Sprintf("slow%d", i), "v", 0)
	}
	after := s.SyncStats()
	var slow uint64
	for _, c := range after.Latency.Counts[slowBucket:] {
		slow += c
	}
	if slow-slowBefore < 5 {
		t.Errorf("%d records above %v s after 5 writes on a 20 ms disk: %+v", slow-slowBefore, SyncLatencyBounds[slowBucket], after.Latency)
	}
	if after.Latency.Sum-ss.Latency.Sum < 5*0.020 {
		t.Errorf("latency sum grew %v s for 5 syncs of 20 ms", after.Latency.Sum-ss.Latency.Sum)
	}
}

func TestSyncBuckets(t *testing.T) {
	var o syncObs
	o.record(64*time.Microsecond, 1)   // bucket 0, 0
	o.record(65*time.Microsecond, 2)   // bucket 1, 1
	o.record(time.Hour, 1<<20)         // +Inf, +Inf
	o.record(10*time.Millisecond, 100) // 64µs·2^8=16.4ms: bucket 8; 128: bucket 7
	l, e := o.latency.snapshot(1e-9), o.entries.snapshot(1)
	if l.Counts[0] != 1 || l.Counts[1] != 1 || l.Counts[8] != 1 || l.Counts[NumSyncBuckets] != 1 {
		t.Errorf("latency buckets %v", l.Counts)
	}
	if e.Counts[0] != 1 || e.Counts[1] != 1 || e.Counts[7] != 1 || e.Counts[NumSyncBuckets] != 1 {
		t.Errorf("entries buckets %v", e.Counts)
	}
}

// Every shard reports its raft status: a single node leads each group, the
// commit and applied indexes follow the writes.
func TestRaftStatusPublished(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{Shards: 3, FS: vfs.NewMem(), TickInterval: 10 * time.Millisecond})
	defer s.Close()
	idx := mustSet(t, s, "k", "v", 0)
	sh := s.ShardOf(slot.Of([]byte("k")))
	var rs []RaftStatus
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		rs = s.RaftStatus()
		if len(rs) == 3 && rs[sh].Applied >= idx {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("raft status %+v never showed index %d applied on shard %d", rs, idx, sh)
		}
	}
	for i, r := range rs {
		if r.Shard != uint32(i) || r.Leader == 0 || r.Leader != r.ID || r.State != "StateLeader" || r.Term == 0 || r.Commit < r.Applied || r.LeaderChanges != 0 {
			t.Errorf("shard %d: %+v", i, r)
		}
	}
}
