package netcluster

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// breakerState reads node n's breaker called name from its admin server
// (GET /breakers on 127.0.0.1:9379 in its namespace).
func (c *Cluster) breakerState(t testing.TB, n int, name string) string {
	t.Helper()
	script := `exec 3<>/dev/tcp/127.0.0.1/9379 && printf 'GET /breakers HTTP/1.0\r\n\r\n' >&3 && cat <&3`
	out, err := exec.Command("ip", "netns", "exec", fmt.Sprintf("dorivo-n%d", n), "bash", "-c", script).Output()
	if err != nil {
		return "unreachable"
	}
	_, body, ok := strings.Cut(string(out), "\r\n\r\n")
	if !ok {
		return "unreadable"
	}
	var st struct {
		Breakers []struct{ Name, State string }
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("node %d GET /breakers: %v: %q", n, err, body)
	}
	for _, b := range st.Breakers {
		if b.Name == name {
			return b.State
		}
	}
	t.Fatalf("node %d has no breaker %q: %s", n, name, body)
	return ""
}

// waitBreaker polls until node n's breaker name is in state, and returns
// how long that took.
func (c *Cluster) waitBreaker(t testing.TB, n int, name, state string, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < limit {
		if c.breakerState(t, n, name) == state {
			return time.Since(start)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("node %d breaker %s not %s after %v (it is %s)", n, name, state, limit, c.breakerState(t, n, name))
	return 0
}

// TestPeerBreaker blackholes, then slows (100 ms each way), the node that
// leads a shard, under write load through another node: that node's
// breaker of the peer opens, writes go on succeeding through the healthy
// leaders once the shard fails over, and after the fault is healed the
// breaker closes by itself (cooldown, then probes).
func TestPeerBreaker(t *testing.T) {
	c := Up(t, "--loops 1 --peer-breaker-cooldown 500ms")
	// One key per shard, so that whichever shards the faulty node leads
	// after it recovers, the load reaches it.
	var keys []string
	for i := 0; len(keys) < shards; i++ {
		k := fmt.Sprintf("k%d", i)
		if shardOf(k) == len(keys) {
			keys = append(keys, k)
		}
	}
	lead := c.leaderOf(t, 0)
	via := lead%3 + 1 // another node, where the clients are
	peer := fmt.Sprintf("peer-%d", lead)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var acked atomic.Int64
	var paused atomic.Bool
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rdb := redis.NewClient(&redis.Options{Addr: c.Nodes[via-1].Addr, ReadTimeout: 3 * time.Second, MaxRetries: -1, PoolSize: 1})
			defer rdb.Close()
			for i := 0; ctx.Err() == nil; i++ {
				if paused.Load() {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				if rdb.Set(ctx, keys[(g+i)%len(keys)], i, 0).Err() == nil {
					acked.Add(1)
				} else {
					time.Sleep(5 * time.Millisecond)
				}
			}
		}()
	}
	defer wg.Wait()
	defer cancel()

	// leadAgain waits, with the load paused, until the faulty node leads its
	// shards again, so the load reaches it (and its breaker's probes): a
	// leader hands a shard back once its preferred node has the whole log,
	// which steady writes can put off.
	leadAgain := func() {
		paused.Store(true)
		c.settle()
		paused.Store(false)
	}
	for _, fault := range []struct {
		name   string
		inject func()
	}{
		{"blackhole", func() { c.Loss(lead, 100) }},
		{"100ms delay", func() { c.Delay(lead, 100*time.Millisecond) }},
	} {
		leadAgain()
		c.waitBreaker(t, via, peer, "closed", 30*time.Second)
		time.Sleep(300 * time.Millisecond)
		fault.inject()
		opened := c.waitBreaker(t, via, peer, "open", 10*time.Second)
		before := acked.Load()
		time.Sleep(time.Second)
		during := acked.Load() - before
		c.Heal(lead)
		healed := time.Now()
		leadAgain()
		// Slow probes (the first writes to a new leader wait for its keyspace
		// reload) double the cooldown up to its 30 s cap, so closing may take
		// a cap and a probe or two.
		c.waitBreaker(t, via, peer, "closed", 90*time.Second)
		closed := time.Since(healed)
		t.Logf("%s of node %d: node %d's %s opened %v after the fault; %d writes acknowledged in the next second; closed %v after the heal",
			fault.name, lead, via, peer, opened.Round(time.Millisecond), during, closed.Round(time.Millisecond))
		if during == 0 {
			t.Errorf("%s: no write acknowledged in the second after the breaker opened", fault.name)
		}
	}
}

// TestSlowDiskMovesLeadership delays every fsync of the node leading a
// shard by 200 ms: its disk breaker opens, it hands its shards to the
// others, writes go on, and every acknowledged write reads back.
func TestSlowDiskMovesLeadership(t *testing.T) {
	dir := t.TempDir()
	for n := 1; n <= 3; n++ {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("n%d", n)), []byte("0"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("DORIVO_TEST_SLOW_FSYNC_DIR", dir)
	c := Up(t, "--loops 1")
	sick := c.leaderOf(t, 0)
	via := sick%3 + 1
	rdb := redis.NewClient(&redis.Options{Addr: c.Nodes[via-1].Addr, ReadTimeout: 3 * time.Second, MaxRetries: -1})
	defer rdb.Close()
	ctx := context.Background()
	acked := map[string]int{}
	write := func(i int) {
		k := fmt.Sprintf("w%d", i%200)
		if rdb.Set(ctx, k, i, 0).Err() == nil {
			acked[k] = i
		}
	}
	for i := range 200 {
		write(i)
	}
	if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("n%d", sick)), []byte("200ms"), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	i := 200
	for ; time.Since(start) < 20*time.Second; i++ {
		write(i)
		if i%10 == 0 && c.leaderOf(t, 0) != sick {
			break
		}
	}
	moved := time.Since(start)
	if c.leaderOf(t, 0) == sick {
		t.Fatalf("node %d still leads shard 0 20s after its fsyncs slowed; its log:\n%s", sick, c.Log(sick))
	}
	if st := c.breakerState(t, sick, "disk"); st != "open" && st != "half-open" {
		t.Errorf("node %d's disk breaker is %s after leadership moved", sick, st)
	}
	// Writes keep flowing through the new leaders: time 200 of them.
	t0, n0 := time.Now(), len(acked)
	for j := range 200 {
		write(i + j)
	}
	t.Logf("fsyncs of node %d slowed by 200 ms: its disk breaker open and shard 0 moved in %v; then 200 writes took %v",
		sick, moved.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
	if len(acked) < n0 {
		t.Fatal("lost track of writes")
	}
	for k, v := range acked {
		got, err := rdb.Get(ctx, k).Int()
		if err != nil || got != v {
			t.Errorf("%s = %d, %v; acknowledged %d", k, got, err, v)
		}
	}
}
