package netcluster

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dorivo/dorivo/shardstore/replica/internal/logdamage"
	"github.com/redis/go-redis/v9"
)

// TestCorruptNodeRejoins kills a node with -9, damages its raft log in the
// middle and starts it again: the agent moves its store aside, rejoins
// every shard from its peers, serves every acknowledged write from its own
// replica (READONLY), and its vote counts again: with another node killed,
// writes go on.
func TestCorruptNodeRejoins(t *testing.T) {
	c := Up(t, "--loops 1")
	ctx := context.Background()
	w := redis.NewClient(&redis.Options{Addr: c.Nodes[0].Addr, ReadTimeout: 3 * time.Second, MaxRetries: -1})
	defer w.Close()
	const n = 3000
	for i := 0; i < n; i += 100 {
		pipe := w.Pipeline()
		for j := i; j < i+100; j++ {
			pipe.Set(ctx, fmt.Sprintf("rejoin:%d", j), j, 0)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatalf("SETs %d..: %v", i, err)
		}
	}
	c.Kill(3)
	data := filepath.Join(c.NodeDir(3), "data")
	logdamage.FlipMiddle(t, filepath.Join(data, "raftlog"), 64<<10)
	c.Start(3)
	if aside, _ := filepath.Glob(data + ".corrupt-*"); len(aside) != 1 {
		t.Fatalf("node 3's corrupt store not moved aside (%v); its log:\n%s", aside, c.Log(3))
	}
	if log := c.Log(3); !strings.Contains(log, "store is corrupt: moving it aside") {
		t.Errorf("node 3 logged no line about its corrupt store:\n%s", log)
	}

	r := redis.NewClient(&redis.Options{Addr: c.Nodes[2].Addr, ReadTimeout: 3 * time.Second, MaxRetries: -1, PoolSize: 1,
		OnConnect: func(ctx context.Context, cn *redis.Conn) error { return cn.ReadOnly(ctx).Err() }})
	defer r.Close()
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; i < n; {
		got, err := r.Get(ctx, fmt.Sprintf("rejoin:%d", i)).Result()
		if err == nil && got == fmt.Sprint(i) {
			i++
			continue
		}
		if time.Now().After(deadline) {
			t.Fatalf("node 3's own replica, READONLY GET rejoin:%d: %q, %v; its log:\n%s", i, got, err, c.Log(3))
		}
		time.Sleep(10 * time.Millisecond)
	}

	c.Kill(1)
	w2 := redis.NewClient(&redis.Options{Addr: c.Nodes[1].Addr, ReadTimeout: 3 * time.Second, MaxRetries: -1})
	defer w2.Close()
	for _, key := range oneKeyPerShard() {
		for {
			err := w2.Set(ctx, key, "after", 0).Err()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("SET %s through node 2 with node 1 killed: %v (node 3 must vote again); node 3's log:\n%s", key, err, c.Log(3))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for i := range n {
		if got, err := w2.Get(ctx, fmt.Sprintf("rejoin:%d", i)).Result(); err != nil || got != fmt.Sprint(i) {
			t.Fatalf("acknowledged write rejoin:%d read back as %q, %v", i, got, err)
		}
	}
}
