package netcluster

import (
	"context"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dorivo/dorivo/internal/lincheck"
	"github.com/dorivo/dorivo/shardstore/slot"
	"github.com/redis/go-redis/v9"
)

// shards is the store's shard count with --loops 1 (3 per loop).
const shards = 3

func shardOf(key string) int { return int(slot.Of([]byte(key))) * shards / slot.Count }

var shardLine = regexp.MustCompile(`(?m)^shard(\d+):.*leader=(\d+)`)

// leaderOf asks the running nodes, through INFO Cluster, which node leads
// shard, until they agree on one.
func (c *Cluster) leaderOf(t testing.TB, shard int) int {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		votes := map[int]int{}
		for _, n := range c.Nodes {
			rdb := redis.NewClient(&redis.Options{Addr: n.Addr, Password: c.Password, DialTimeout: 300 * time.Millisecond, ReadTimeout: 300 * time.Millisecond, MaxRetries: -1})
			info, err := rdb.Info(context.Background(), "cluster").Result()
			rdb.Close()
			if err != nil {
				continue
			}
			for _, m := range shardLine.FindAllStringSubmatch(info, -1) {
				if s, _ := strconv.Atoi(m[1]); s == shard {
					l, _ := strconv.Atoi(m[2])
					votes[l]++
				}
			}
		}
		for l, v := range votes {
			if l != 0 && v >= 2 {
				return l
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no leader of shard %d agreed on in 15s", shard)
	return 0
}

// TestLinearizableUnderFaults runs SET, GET, INCR and SET..GET from clients
// on all three nodes while the leader of the keys' shard is killed and
// restarted, a follower is killed, the leader is cut off and paused, and
// all three nodes restart. The history must be linearizable, and a final
// read of every key must be what one more read could return: every
// acknowledged write is there.
func TestLinearizableUnderFaults(t *testing.T) {
	c := Up(t, "--loops 1")
	keys := []string{"a", "b", "c"}
	rec := lincheck.NewRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var total lincheck.Stats
	for i, addr := range c.Addrs() {
		cl := rec.NewClient(&redis.Options{Addr: addr, DialTimeout: 500 * time.Millisecond,
			ReadTimeout: time.Second, WriteTimeout: time.Second, PoolSize: 1})
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cl.Close()
			st := cl.Run(ctx, rand.New(rand.NewPCG(uint64(i), 7)), keys, 1<<30)
			mu.Lock()
			total = total.Add(st)
			mu.Unlock()
		}()
	}
	fault := func(what string, do func()) {
		t0 := rec.Now()
		do()
		rec.Annotate(what, t0, rec.Now())
		t.Logf("fault: %s", what)
		time.Sleep(time.Second) // clients run on the healed cluster
	}
	shard := shardOf(keys[0])
	time.Sleep(time.Second)
	lead := c.leaderOf(t, shard)
	fault(fmt.Sprintf("kill -9 leader %d, restart", lead), func() {
		c.Kill(lead)
		time.Sleep(700 * time.Millisecond)
		c.Start(lead)
	})
	lead = c.leaderOf(t, shard)
	follower := lead%3 + 1
	fault(fmt.Sprintf("kill -9 follower %d, restart", follower), func() {
		c.Kill(follower)
		time.Sleep(500 * time.Millisecond)
		c.Start(follower)
	})
	lead = c.leaderOf(t, shard)
	fault(fmt.Sprintf("link of leader %d down 1s", lead), func() {
		c.Link(lead, false)
		time.Sleep(time.Second)
		c.Link(lead, true)
	})
	lead = c.leaderOf(t, shard)
	fault(fmt.Sprintf("SIGSTOP leader %d for 600ms", lead), func() {
		c.Signal(lead, syscall.SIGSTOP)
		time.Sleep(600 * time.Millisecond)
		c.Signal(lead, syscall.SIGCONT)
	})
	fault("kill -9 all three, restart", func() {
		for n := 1; n <= 3; n++ {
			c.Kill(n)
		}
		for n := 1; n <= 3; n++ {
			c.Start(n)
		}
	})
	cancel()
	wg.Wait()

	final := readFinal(t, c, keys)
	t.Logf("clients: %+v", total)
	if total.OK < 200 {
		t.Fatalf("only %d operations succeeded: the cluster hardly served (%+v)", total.OK, total)
	}
	lincheck.CheckFinal(t, rec.History(), final, 2*time.Minute, rec.Annotations()...)
}

// readFinal reads every key linearizably once the cluster serves again.
func readFinal(t *testing.T, c *Cluster, keys []string) []lincheck.FinalRead {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		rdb := redis.NewClient(&redis.Options{Addr: c.Nodes[0].Addr, ReadTimeout: time.Second, MaxRetries: -1})
		final, err := lincheck.ReadFinal(context.Background(), rdb, keys)
		rdb.Close()
		if err == nil {
			return final
		}
		if time.Now().After(deadline) {
			t.Fatalf("final reads: %v\nnode 1 log:\n%s", err, c.Log(1))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
