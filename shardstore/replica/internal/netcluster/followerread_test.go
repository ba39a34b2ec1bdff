package netcluster

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestFollowerReadsSeeAcknowledgedWrites writes a key through its shard's
// leader and reads it at once through a follower, 300 times: every read
// sees the write just acknowledged (a replica read without a ReadIndex
// would lag the leader's commit). The follower serves the reads itself
// (INFO total_follower_reads), and forwards none of them.
func TestFollowerReadsSeeAcknowledgedWrites(t *testing.T) {
	c := Up(t, "--loops 1")
	key := oneKeyPerShard()[0]
	lead := c.leaderOf(t, 0)
	via := lead%3 + 1
	ctx := context.Background()
	opts := func(n int) *redis.Options {
		return &redis.Options{Addr: c.Nodes[n-1].Addr, ReadTimeout: 3 * time.Second, MaxRetries: -1, PoolSize: 1}
	}
	w, r := redis.NewClient(opts(lead)), redis.NewClient(opts(via))
	defer w.Close()
	defer r.Close()
	if err := r.Get(ctx, key).Err(); err != nil && err != redis.Nil { // the follower's connections up
		t.Fatalf("first GET through node %d: %v", via, err)
	}
	reads0 := c.infoInt(t, via, "datapath", "total_follower_reads")
	fwd0 := c.infoInt(t, via, "datapath", "total_forwarded")
	const n = 300
	for i := range n {
		v := strconv.Itoa(i)
		if err := w.Set(ctx, key, v, 0).Err(); err != nil {
			t.Fatalf("SET %d on the leader, node %d: %v", i, lead, err)
		}
		got, err := r.Get(ctx, key).Result()
		if err != nil || got != v {
			t.Fatalf("GET through follower node %d right after SET %q was acknowledged: %q, %v", via, v, got, err)
		}
	}
	reads := c.infoInt(t, via, "datapath", "total_follower_reads") - reads0
	fwd := c.infoInt(t, via, "datapath", "total_forwarded") - fwd0
	t.Logf("node %d: %d follower reads, %d forwarded, for %d GETs of a shard node %d leads", via, reads, fwd, n, lead)
	if reads < n || fwd != 0 {
		t.Errorf("node %d counted %d follower reads and %d forwards for %d GETs, want %d and 0", via, reads, fwd, n, n)
	}
}
