package replica

import (
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/dorivo/dorivo/shardstore/replica/internal/logdamage"
)

// A replica that finds its raft log corrupt at start moves its store
// aside, rejoins every group as a learner, catches up (from the leaders'
// logs, or from snapshots once they compacted them), is promoted back to
// voter, and its vote then counts: with another node down, writes commit.
func TestCorruptReplicaRejoins(t *testing.T) {
	t.Run("from the log", func(t *testing.T) { testCorruptReplicaRejoins(t, 0) })
	t.Run("from snapshots", func(t *testing.T) { testCorruptReplicaRejoins(t, 50) })
}

func testCorruptReplicaRejoins(t *testing.T, keep uint64) {
	c := newCluster(t, 2)
	c.keep = keep
	c.startAll()
	c.waitLayouts(1)
	type kv struct {
		shard uint32
		key   []byte
		val   string
	}
	var acked []kv
	for i := range 400 {
		shard := uint32(i % 2)
		k := keyIn(c.nodes[1].Store, shard, i)
		v := "v" + strconv.Itoa(i)
		if r := c.write(shard, k, []byte(v)); r.err != nil {
			t.Fatalf("write %d: %v", i, r.err)
		}
		acked = append(acked, kv{shard, k, v})
	}
	c.stop(3)
	logdamage.FlipMiddle(t, filepath.Join(c.dir, "3", "raftlog"), 4096)

	n3 := c.start(3)
	if aside, _ := filepath.Glob(filepath.Join(c.dir, "3.corrupt-*")); len(aside) != 1 {
		t.Fatalf("corrupt store not moved aside: %v", aside)
	}
	if got := n3.Store.Stats().Rejoins; got != 3 {
		t.Fatalf("Stats.Rejoins = %d, want 3 (2 shards and the layout group)", got)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, a := range acked {
		for {
			v, _, ok, err := n3.Store.Get(a.shard, a.key)
			if err == nil && ok && string(v) == a.val {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node 3 after rejoining: get %s = %q, %v, %v; want %q", a.key, v, ok, err, a.val)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	for shard := range uint32(2) {
		for {
			st := n3.Store.Status(shard)
			if len(st.Learners) == 0 && !st.Rejoining && st.Leader != 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node 3 shard %d not a voter again: %+v", shard, st)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	if snaps := c.nodes[3].Store.Stats().SnapshotsApplied; keep != 0 && snaps == 0 || keep == 0 && snaps != 0 {
		t.Errorf("node 3 applied %d snapshots with LogKeepEntries %d", snaps, keep)
	}
	c.stop(1)
	for shard := range uint32(2) {
		if r := c.write(shard, keyIn(c.nodes[2].Store, shard, 9999), []byte("after")); r.err != nil {
			t.Fatalf("shard %d write with node 1 down: %v (node 3's vote must count)", shard, r.err)
		}
	}
}
