package netcluster

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// infoInt reads the integer field name of INFO section on node n.
func (c *Cluster) infoInt(t testing.TB, n int, section, name string) int64 {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: c.Nodes[n-1].Addr, ReadTimeout: 2 * time.Second, MaxRetries: -1})
	defer rdb.Close()
	info, err := rdb.Info(context.Background(), section).Result()
	if err != nil {
		t.Fatalf("node %d INFO %s: %v", n, section, err)
	}
	m := regexp.MustCompile(`(?m)^` + name + `:(-?\d+)`).FindStringSubmatch(info)
	if m == nil {
		t.Fatalf("node %d INFO %s has no %s:\n%s", n, section, name, info)
	}
	v, _ := strconv.ParseInt(m[1], 10, 64)
	return v
}

// oneKeyPerShard returns keys[i] in shard i.
func oneKeyPerShard() []string {
	var keys []string
	for i := 0; len(keys) < shards; i++ {
		if k := fmt.Sprintf("k%d", i); shardOf(k) == len(keys) {
			keys = append(keys, k)
		}
	}
	return keys
}

// eventually polls fn until it returns nil, for at most limit.
func eventually(t testing.TB, limit time.Duration, what string, fn func() error) {
	t.Helper()
	start := time.Now()
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Since(start) > limit {
			t.Fatalf("%s: still %v after %v", what, err, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestShardBreakerFallback slows the node leading shard 0 by 100 ms each
// way under reads of the shard through another node. That node's shard-0
// breaker opens; reads and writes of the shard then fail fast with
// -TRYAGAIN while writes to shards with healthy leaders succeed. Once a
// reload lets the default user's reads be stale, they are served from the
// local replica (counted as fallbacks). After the delay is removed the
// breaker closes by itself.
func TestShardBreakerFallback(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "dorivo.json")
	writeFile(t, cfg, `{"stale_reads": []}`)
	// An election timeout of 500 ms outlasts the delay's onset (no message
	// for 200 ms), so node lead keeps leading: a slow leader, not a new one.
	c := Up(t, "--loops 1 --peer-breaker-cooldown 500ms --election-ticks 100 --config "+cfg)
	keys := oneKeyPerShard()
	lead := c.leaderOf(t, 0)
	via := lead%3 + 1
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rdb := redis.NewClient(&redis.Options{Addr: c.Nodes[via-1].Addr, ReadTimeout: 3 * time.Second, MaxRetries: -1})
	defer rdb.Close()
	for _, k := range keys {
		if err := rdb.Set(ctx, k, "v1", 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", k, err)
		}
	}

	// Reads of shard 0 through via, to trip its breaker and then probe it.
	var served, refused atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := redis.NewClient(&redis.Options{Addr: c.Nodes[via-1].Addr, ReadTimeout: 3 * time.Second, MaxRetries: -1, PoolSize: 1})
			defer r.Close()
			for ctx.Err() == nil {
				if v, err := r.Get(ctx, keys[0]).Result(); err == nil && v == "v1" {
					served.Add(1)
				} else {
					refused.Add(1)
					time.Sleep(5 * time.Millisecond)
				}
			}
		}()
	}
	defer wg.Wait()
	defer cancel()

	c.Delay(lead, 100*time.Millisecond)
	opened := c.waitBreaker(t, via, "shard-0", "open", 10*time.Second)

	// No stale reads allowed: reads and writes of the shard fail fast.
	for _, op := range []func() error{
		func() error { return rdb.Get(ctx, keys[0]).Err() },
		func() error { return rdb.Set(ctx, keys[0], "v2", 0).Err() },
	} {
		t0 := time.Now()
		err := op()
		t.Logf("shard 0's breaker open: %v after %v", err, time.Since(t0).Round(time.Microsecond))
		if err == nil || !strings.HasPrefix(err.Error(), "TRYAGAIN") {
			if c.breakerState(t, via, "shard-0") == "open" {
				t.Errorf("with shard 0's breaker open: %v, want -TRYAGAIN", err)
			}
		}
	}
	// Writes to the shards that healthy nodes lead go on.
	for i, k := range keys {
		if i != 0 && c.leaderOf(t, i) != lead {
			if err := rdb.Set(ctx, k, "v3", 0).Err(); err != nil {
				t.Errorf("SET %s (shard %d, healthy leader): %v", k, i, err)
			}
		}
	}

	writeFile(t, cfg, `{"stale_reads": ["default"]}`)
	c.Signal(via, syscall.SIGHUP)
	fallbacks := func() int64 { return c.infoInt(t, via, "datapath", "total_stale_fallbacks") }
	eventually(t, 10*time.Second, "stale reads of shard 0 after the reload", func() error {
		if n := fallbacks(); n == 0 {
			return fmt.Errorf("%d fallbacks", n)
		}
		return nil
	})
	before := served.Load()
	time.Sleep(500 * time.Millisecond)
	during := served.Load() - before

	// A new leader would have reset the breaker: its calls were the old one's.
	state, leadNow := c.breakerState(t, via, "shard-0"), c.leaderOf(t, 0)
	if state == "closed" && leadNow == lead {
		t.Errorf("shard-0 breaker closed while its leader, node %d, was still slow", lead)
	}
	c.Heal(lead)
	// Probes that failed while it was slow doubled the cooldown (up to its
	// 30 s cap): closing may take a cap and a probe or two.
	closed := c.waitBreaker(t, via, "shard-0", "closed", 90*time.Second)
	t.Logf("100 ms delay on node %d (leads shard 0): node %d's shard-0 breaker opened %v after the fault; with stale reads allowed, %d reads of shard 0 served in 0.5 s (%d fallbacks so far, %d refused in all); %s with node %d leading at the heal; closed %v after it",
		lead, via, opened.Round(time.Millisecond), during, fallbacks(), refused.Load(), state, leadNow, closed.Round(time.Millisecond))
	if during == 0 {
		t.Errorf("no read of shard 0 served in the 0.5 s after stale reads were allowed")
	}
}

// TestReadOnlyReplicaReads reads through a READONLY connection on a node
// that does not lead the keys' shards: strings and a hash come from its
// replica (counted in INFO), also while the leader of shard 0 is
// blackholed; INFO Cluster reports the replica's lag.
func TestReadOnlyReplicaReads(t *testing.T) {
	c := Up(t, "--loops 1")
	keys := oneKeyPerShard()
	lead := c.leaderOf(t, 0)
	via := lead%3 + 1
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: c.Nodes[via-1].Addr, ReadTimeout: 3 * time.Second, MaxRetries: -1})
	defer rdb.Close()
	hash := "{" + keys[0] + "}:h"
	for _, k := range keys {
		if err := rdb.Set(ctx, k, "v1", 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", k, err)
		}
	}
	if err := rdb.HSet(ctx, hash, "f1", "a", "f2", "b").Err(); err != nil {
		t.Fatalf("HSET: %v", err)
	}
	ro := redis.NewClient(&redis.Options{Addr: c.Nodes[via-1].Addr, ReadTimeout: time.Second, MaxRetries: -1, PoolSize: 1,
		OnConnect: func(ctx context.Context, cn *redis.Conn) error { return cn.ReadOnly(ctx).Err() }})
	defer ro.Close()
	remote := 0 // reads of shards another node leads
	for i := range keys {
		if c.leaderOf(t, i) != via {
			remote++
		}
	}
	before := c.infoInt(t, via, "datapath", "total_replica_reads")
	for _, k := range keys {
		eventually(t, 5*time.Second, "READONLY GET "+k, func() error {
			if v, err := ro.Get(ctx, k).Result(); err != nil || v != "v1" {
				return fmt.Errorf("%q, %v", v, err)
			}
			return nil
		})
	}
	eventually(t, 5*time.Second, "READONLY HGETALL", func() error {
		if m, err := ro.HGetAll(ctx, hash).Result(); err != nil || len(m) != 2 || m["f1"] != "a" || m["f2"] != "b" {
			return fmt.Errorf("%v, %v", m, err)
		}
		return nil
	})
	if got := c.infoInt(t, via, "datapath", "total_replica_reads") - before; got < int64(remote)+1 {
		t.Errorf("%d replica reads counted for %d GETs and an HGETALL of shards led elsewhere", got, remote)
	}
	// READWRITE: reads go to the leaders again.
	if err := ro.ReadWrite(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	mid := c.infoInt(t, via, "datapath", "total_replica_reads")
	if v, err := ro.Get(ctx, keys[0]).Result(); err != nil || v != "v1" {
		t.Errorf("READWRITE GET: %q, %v", v, err)
	}
	if n := c.infoInt(t, via, "datapath", "total_replica_reads"); n != mid {
		t.Errorf("a read after READWRITE was served by the replica (%d -> %d)", mid, n)
	}
	if err := ro.ReadOnly(ctx).Err(); err != nil {
		t.Fatal(err)
	}

	// The leader cut off: READONLY reads of its shard go on, at once.
	c.Loss(lead, 100)
	defer c.Heal(lead)
	var slowest time.Duration
	for range 50 {
		t0 := time.Now()
		v, err := ro.Get(ctx, keys[0]).Result()
		if err != nil || v != "v1" {
			t.Fatalf("READONLY GET with shard 0's leader blackholed: %q, %v", v, err)
		}
		slowest = max(slowest, time.Since(t0))
		time.Sleep(10 * time.Millisecond)
	}
	info, err := rdb.Info(ctx, "cluster").Result()
	if err != nil {
		t.Fatal(err)
	}
	line := regexp.MustCompile(`(?m)^shard0:.*$`).FindString(info)
	t.Logf("node %d blackholed: 50 READONLY GETs on node %d, slowest %v; %s", lead, via, slowest.Round(time.Microsecond), line)
	if !strings.Contains(line, "leader=") || (c.leaderOf(t, 0) != via && !strings.Contains(line, "replica_lag=")) {
		t.Errorf("INFO cluster shard0 line without the replica's lag: %q", line)
	}
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestForwardedRESP3: a RESP3 client of a node that does not lead its
// key's shard gets RESP3 replies (a map for HGETALL), as from the leader.
func TestForwardedRESP3(t *testing.T) {
	c := Up(t, "--loops 1")
	key := "{" + oneKeyPerShard()[0] + "}:h"
	via := c.leaderOf(t, 0)%3 + 1
	conn, err := net.DialTimeout("tcp", c.Nodes[via-1].Addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	send := func(args ...string) string {
		t.Helper()
		var b []byte
		b = fmt.Appendf(b, "*%d\r\n", len(args))
		for _, a := range args {
			b = fmt.Appendf(b, "$%d\r\n%s\r\n", len(a), a)
		}
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		return line
	}
	if got := send("HELLO", "3"); !strings.HasPrefix(got, "%") {
		t.Fatalf("HELLO 3: %q", got)
	}
	time.Sleep(100 * time.Millisecond) // the rest of HELLO's map, written at once
	for br.Buffered() > 0 {
		br.ReadString('\n')
	}
	eventually(t, 5*time.Second, "HSET through node "+strconv.Itoa(via), func() error {
		if got := send("HSET", key, "f", "v"); !strings.HasPrefix(got, ":") {
			return fmt.Errorf("%q", got)
		}
		return nil
	})
	if got := send("HGETALL", key); got != "%1\r\n" {
		t.Errorf("HGETALL through node %d (forwarded to %d) began %q, want the RESP3 map %%1", via, c.leaderOf(t, 0), got)
	}
}
