package netcluster

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// BenchmarkReads measures GETs of one shard's keys, 32 clients for 3 s
// each way: linearizable reads on the shard's leader (a ReadIndex per
// batch), linearizable reads on a follower (a ReadIndex, then its own
// replica), and READONLY reads on a follower (its own replica, no round
// trip). It reports throughput and p50/p99 per way. Run it once:
//
//	go test -run '^$' -bench Reads -benchtime 1x ./shardstore/replica/internal/netcluster/
func BenchmarkReads(b *testing.B) {
	c := Up(b, "--loops 1")
	var keys []string
	for i := 0; len(keys) < 1000; i++ {
		if k := fmt.Sprintf("r%d", i); shardOf(k) == 0 {
			keys = append(keys, k)
		}
	}
	lead := c.leaderOf(b, 0)
	follower := lead%3 + 1
	ctx := context.Background()
	w := redis.NewClient(&redis.Options{Addr: c.Nodes[lead-1].Addr})
	for _, k := range keys {
		if err := w.Set(ctx, k, "v", 0).Err(); err != nil {
			b.Fatal(err)
		}
	}
	w.Close()
	for range b.N {
		for _, way := range []struct {
			name     string
			node     int
			readonly bool
		}{
			{"leader", lead, false},
			{"follower-readindex", follower, false},
			{"follower-readonly", follower, true},
		} {
			n, lat := readLoad(b, c.Nodes[way.node-1].Addr, way.readonly, keys, 32, 3*time.Second)
			slices.Sort(lat)
			q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
			b.Logf("%-19s node %d: %7.0f reads/s, p50 %v, p99 %v", way.name, way.node, float64(n)/3, q(0.5).Round(time.Microsecond), q(0.99).Round(time.Microsecond))
			b.ReportMetric(float64(n)/3, way.name+"-reads/s")
			b.ReportMetric(float64(q(0.99).Microseconds())/1000, way.name+"-p99-ms")
		}
	}
}

// readLoad runs clients GET loops against addr for d and returns how many
// succeeded and their latencies.
func readLoad(b *testing.B, addr string, readonly bool, keys []string, clients int, d time.Duration) (int, []time.Duration) {
	var mu sync.Mutex
	var all []time.Duration
	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	for g := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			opts := &redis.Options{Addr: addr, PoolSize: 1, MaxRetries: -1}
			if readonly {
				opts.OnConnect = func(ctx context.Context, cn *redis.Conn) error { return cn.ReadOnly(ctx).Err() }
			}
			r := redis.NewClient(opts)
			defer r.Close()
			var lat []time.Duration
			for i := g; time.Now().Before(stop); i++ {
				t0 := time.Now()
				if err := r.Get(context.Background(), keys[i%len(keys)]).Err(); err != nil {
					b.Errorf("GET on %s: %v", addr, err)
					return
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return len(all), all
}
