package netcluster

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// BenchmarkFailover kills the leader of one shard with kill -9, 20 times,
// under steady writes from clients on every node, and reports the time
// from each kill to the first acknowledged write issued after it; then it
// reads back every acknowledged write. Each trial waits until the node
// killed before is back and caught up: a kill while it still catches up
// would be a second failure of three. Run it once:
//
//	go test -run '^$' -bench Failover -benchtime 1x ./shardstore/replica/internal/netcluster/
//
// DORIVO_FAILOVER_FLAGS adds agent flags (e.g. "--election-ticks 10").
func BenchmarkFailover(b *testing.B) {
	c := Up(b, "--loops 1 --admin-addr 0.0.0.0:"+raftAdminPort+" "+os.Getenv("DORIVO_FAILOVER_FLAGS"))
	const trials = 20
	shard := shardOf("f0")
	var keys []string
	for i := 0; len(keys) < 64; i++ {
		if k := "f" + strconv.Itoa(i); shardOf(k) == shard {
			keys = append(keys, k)
		}
	}
	var mu sync.Mutex
	var killAt, firstAck atomic.Int64 // unix ns
	var acks []write                  // every write issued
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 6 {
		addr := c.Addrs()[w%3]
		wg.Add(1)
		go func() {
			defer wg.Done()
			rdb := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 100 * time.Millisecond,
				ReadTimeout: 300 * time.Millisecond, WriteTimeout: 300 * time.Millisecond, MaxRetries: -1, PoolSize: 1})
			defer rdb.Close()
			for i := 0; ctx.Err() == nil; i++ {
				k, v := keys[(w*7+i)%len(keys)], fmt.Sprintf("%d-%d", w, i)
				wr := write{issued: time.Now(), key: k, val: v}
				err := rdb.Set(ctx, k, v, 0).Err()
				if err == nil {
					wr.acked = time.Now()
					// The first write issued after the kill to be acked.
					if k := killAt.Load(); k != 0 && wr.issued.UnixNano() > k {
						firstAck.CompareAndSwap(0, wr.acked.UnixNano())
					}
				}
				mu.Lock()
				acks = append(acks, wr)
				mu.Unlock()
				if err != nil {
					time.Sleep(2 * time.Millisecond)
				}
			}
		}()
	}
	var took []time.Duration
	var trialLog []string // killed node:time, in trial order
	for range b.N {
		for trial := range trials {
			// Each trial starts from a recovered cluster: the node killed
			// last is back and caught up, and leadership has settled.
			c.waitViews(b, "recovery from the last kill", []int{1, 2, 3}, healthy(256))
			time.Sleep(300 * time.Millisecond) // steady load
			lead := c.leaderOf(b, shard)
			firstAck.Store(0)
			kill := time.Now()
			killAt.Store(kill.UnixNano())
			c.Kill(lead)
			var first time.Duration
			for first == 0 && time.Since(kill) < 10*time.Second {
				time.Sleep(5 * time.Millisecond)
				if a := firstAck.Load(); a != 0 {
					first = time.Unix(0, a).Sub(kill)
				}
			}
			killAt.Store(0)
			if first == 0 {
				b.Fatalf("trial %d: no write acknowledged within 10s of killing leader %d", trial, lead)
			}
			if first > 60*time.Millisecond {
				b.Logf("trial %d took %v; the other nodes' logs since the kill:%s", trial, first.Round(time.Millisecond), c.logsSince(lead, kill))
			}
			took = append(took, first)
			trialLog = append(trialLog, fmt.Sprintf("%d:%v", lead, first.Round(time.Millisecond)))
			c.Start(lead)
		}
	}
	cancel()
	wg.Wait()
	lost := lostWrites(b, c, acks)
	slices.Sort(took)
	q := func(p float64) time.Duration { return took[min(len(took)-1, int(p*float64(len(took))))] }
	b.ReportMetric(float64(q(0.5).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(q(0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lost), "lost-writes")
	b.Logf("trials (node killed:first ack): %s", strings.Join(trialLog, " "))
	b.Logf("failover over %d kills of the leader: min %v, median %v, p99 %v, max %v; %d writes issued, %d keys checked, %d lost",
		len(took), took[0], q(0.5), q(0.99), took[len(took)-1], len(acks), len(keys), lost)
}

// logsSince returns the lines the nodes other than skip logged since t
// (slog's time= field), to explain a slow trial.
func (c *Cluster) logsSince(skip int, t time.Time) string {
	var out strings.Builder
	for n := 1; n <= 3; n++ {
		if n == skip {
			continue
		}
		for _, line := range strings.Split(c.Log(n), "\n") {
			ts, _, ok := strings.Cut(strings.TrimPrefix(line, "time="), " ")
			if at, err := time.Parse(time.RFC3339Nano, ts); ok && err == nil && !at.Before(t) {
				fmt.Fprintf(&out, "\n  node %d: %s", n, line)
			}
		}
	}
	return out.String()
}

// write is one SET the failover benchmark issued; acked is zero when it
// got no reply (it may or may not have been applied).
type write struct {
	issued, acked time.Time
	key, val      string
}

// lostWrites reads every key back: its value must come from a write that
// was not acknowledged before the key's last acknowledged write was
// issued (that one must have replaced it). It returns the keys that fail.
func lostWrites(b *testing.B, c *Cluster, writes []write) int {
	b.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: c.Nodes[0].Addr, ReadTimeout: time.Second, MaxRetries: 10})
	defer rdb.Close()
	last := map[string]write{}
	byVal := map[string]write{}
	for _, w := range writes {
		byVal[w.val] = w
		if !w.acked.IsZero() && w.acked.After(last[w.key].acked) {
			last[w.key] = w
		}
	}
	lost := 0
	for k, w := range last {
		var got string
		var err error
		for range 100 {
			if got, err = rdb.Get(context.Background(), k).Result(); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			b.Fatalf("read back %s: %v", k, err)
		}
		x, ok := byVal[got]
		if !ok || x.key != k || (!x.acked.IsZero() && x.acked.Before(w.issued)) {
			lost++
			b.Errorf("key %s reads %q: the write of %q acknowledged at %v is lost", k, got, w.val, w.acked)
		}
	}
	return lost
}
