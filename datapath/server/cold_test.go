package server

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dorivo/dorivo/datapath/wire"
	"github.com/dorivo/dorivo/internal/testenv"
	"github.com/dorivo/dorivo/shardstore/durable"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// coldSums adds up the loops' cold-value counters.
func coldSums(s *Server) (hot, cold, fetches, evictions uint64) {
	for _, ls := range s.Stats() {
		hot += ls.HotBytes
		cold += ls.ColdKeys
		fetches += ls.Fetches
		evictions += ls.Evictions
	}
	return
}

// coldOf returns the keys of ks that are cold on their owner loop.
func coldOf(t *testing.T, s *Server, ks []string) []string {
	t.Helper()
	var out []string
	for _, k := range ks {
		o := s.cfg.Table.Owner(slot.Of([]byte(k)))
		var cold bool
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := s.RunOnLoop(ctx, o, func() { cold = s.loops[o].core.Keyspace().IsCold([]byte(k)) })
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if cold {
			out = append(out, k)
		}
	}
	return out
}

// 4000 values of 512 bytes (2 MB) through loops allowed 64 KiB of values
// between them: once the writes are durable the loops hold no more than
// that, most keys are cold, and every value still reads back exactly, over
// RESP (GET, cross-loop MGET, APPEND) and datagrams. After a restart with
// the same budget the keys load cold and read back again.
func TestColdValuesStayWithinBudget(t *testing.T) {
	ns := testenv.NewNetns(t, "coldmem")
	dir := t.TempDir()
	const addr = "127.0.0.1:7191"
	const budget = 64 << 10
	var tenants []string
	for i := range 50 {
		tenants = append(tenants, fmt.Sprintf("t%d", i))
	}
	// Signed datagrams: an unsigned reply may be no longer than its request.
	cfg := Config{TCPAddr: addr, UDPAddr: addr, Loops: 2, HotValueBytes: budget, Auth: authFor(tenants...)}
	opts := durable.Options{CacheBytes: 256 << 10}
	n := startDurable(t, ns, dir, opts, cfg)
	c := dialIn(t, ns, addr, 0)

	rng := rand.New(rand.NewPCG(3, 4))
	want := map[string]string{}
	var keys []string
	const total = 4000
	for batch := 0; batch < total; batch += 200 {
		var b []byte
		for i := batch; i < batch+200; i++ {
			k := fmt.Sprintf("{t%d}key%d", i%50, i)
			v := make([]byte, 512)
			for j := range v {
				v[j] = 'a' + byte(rng.IntN(26))
			}
			want[k] = string(v)
			keys = append(keys, k)
			b = append(b, cmd("SET", k, string(v))...)
		}
		c.send(b)
		for range 200 {
			if r := c.read(); r != "+OK" {
				t.Fatalf("SET = %q", r)
			}
		}
	}
	testenv.WaitFor(t, "the loops to drop values down to the budget", func() bool {
		hot, _, _, _ := coldSums(n.srv)
		return hot <= budget
	})
	hot, cold, _, evictions := coldSums(n.srv)
	if cold < total/2 || evictions < total/2 {
		t.Fatalf("%d hot bytes, %d cold keys, %d evictions: the values did not go cold", hot, cold, evictions)
	}
	t.Logf("after the writes: %d hot bytes, %d cold keys, %d evictions", hot, cold, evictions)

	readBack := func(what string) {
		t.Helper()
		order := rng.Perm(len(keys))
		for start := 0; start < len(order); start += 250 {
			var b []byte
			end := min(start+250, len(order))
			for _, i := range order[start:end] {
				b = append(b, cmd("GET", keys[i])...)
			}
			c.send(b)
			for _, i := range order[start:end] {
				if r, w := c.read(), fmt.Sprintf("$%d|%s", len(want[keys[i]]), want[keys[i]]); r != w {
					t.Fatalf("%s: GET %s = %.40q…, want %.40q…", what, keys[i], r, w)
				}
			}
		}
		// A cross-loop MGET of cold keys of both loops.
		mget := append([]string{"MGET"}, keys[:40]...)
		var sb strings.Builder
		sb.WriteString("*40")
		for _, k := range keys[:40] {
			fmt.Fprintf(&sb, "|$%d|%s", len(want[k]), want[k])
		}
		if r := c.do(mget...); r != sb.String() {
			t.Fatalf("%s: MGET of 40 keys = %.60q…", what, r)
		}
	}
	readBack("before restart")
	_, _, fetches, _ := coldSums(n.srv)
	if fetches < total/2 {
		t.Fatalf("%d values read back from the store for %d cold keys", fetches, cold)
	}

	// Read-modify-write of a cold key, and a datagram GET of one.
	testenv.WaitFor(t, "the values read back to go cold again", func() bool {
		hot, _, _, _ := coldSums(n.srv)
		return hot <= budget
	})
	k := keys[len(keys)-1]
	expect(t, c, ":515", "APPEND", k, "xyz")
	want[k] += "xyz"
	u := udpDialIn(t, ns, addr)
	u.key = testKey
	for _, k := range keys[:20] {
		if r := u.do(wire.OpGet, k, ""); r.Status != wire.StatusOK || string(r.Body) != want[k] {
			t.Fatalf("datagram GET %s = status %v, %.40q…", k, r.Status, r.Body)
		}
	}
	t.Logf("store: %+v", n.store.Stats())

	n.stop(t)
	n = startDurable(t, ns, dir, opts, cfg)
	c = dialIn(t, ns, addr, 0)
	hot, cold, _, _ = coldSums(n.srv)
	if hot > budget || cold < total/2 {
		t.Fatalf("after restart: %d hot bytes, %d cold keys", hot, cold)
	}
	if r := c.do("DBSIZE"); r != fmt.Sprintf(":%d", total) {
		t.Fatalf("DBSIZE after restart = %q", r)
	}
	// Only reads after the restart: the values they fetch go cold again.
	readBack("after restart")
	testenv.WaitFor(t, "the loops to drop the values read back", func() bool {
		hot, _, _, _ := coldSums(n.srv)
		return hot <= budget
	})
	if _, _, fetches, _ := coldSums(n.srv); fetches < total/2 {
		t.Fatalf("%d values fetched reading %d keys after restart", fetches, total)
	}

	// Commands that do not read a value run on cold keys without a fetch;
	// those that do fetch it.
	coldSet := coldOf(t, n.srv, keys[:200])
	if len(coldSet) < 20 {
		t.Fatalf("only %d of 200 keys cold", len(coldSet))
	}
	_, _, f0, _ := coldSums(n.srv)
	expect(t, c, ":1", "EXISTS", coldSet[0])
	expect(t, c, ":-1", "TTL", coldSet[0])
	expect(t, c, "+string", "TYPE", coldSet[0])
	expect(t, c, ":1", "DEL", coldSet[1])
	expect(t, c, "+OK", "SET", coldSet[2], "new")
	expect(t, c, "+OK", "SET", coldSet[3], "kept", "XX", "KEEPTTL")
	expect(t, c, ":0", "SETNX", coldSet[4], "no")
	expect(t, c, "+OK", "MSET", coldSet[5], "m5", coldSet[6], "m6")
	if _, _, f1, _ := coldSums(n.srv); f1 != f0 {
		t.Fatalf("%d fetches for commands that read no value", f1-f0)
	}
	expect(t, c, "$3|new", "GET", coldSet[2])
	expect(t, c, "$-1", "GET", coldSet[1])
	expect(t, c, "$512|"+want[coldSet[7]], "SET", coldSet[7], "x", "GET")
	if _, _, f2, _ := coldSums(n.srv); f2 != f0+1 {
		t.Fatalf("SET ... GET of a cold key: %d fetches, want 1", f2-f0)
	}
}

// A GET of a cold key whose value was read, but not yet handed back, when
// a FLUSHALL and a new SET of the key came in: the stale value must not be
// filled, and the GET never returns it. (The key cannot go cold again
// meanwhile: the waiting GET pins it; Fill's stamp check, tested in
// keyspace, would refuse the value even then.)
func TestColdFetchOvertakenByWrite(t *testing.T) {
	ns := testenv.NewNetns(t, "coldstale")
	const addr = "127.0.0.1:7192"
	st, err := durable.Open(t.TempDir(), durable.Options{Shards: 1, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s, err := New(Config{TCPAddr: addr, Loops: 1, Store: st, HotValueBytes: 1, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	const key = "{s}key"
	read, resume := make(chan struct{}, 1), make(chan struct{})
	var once sync.Once
	s.testHookFetched = func(k string) {
		if k == key {
			once.Do(func() { read <- struct{}{}; <-resume })
		}
	}
	ns.Do(t, func() { err = s.Start() })
	if err != nil {
		t.Fatal(err)
	}
	var release sync.Once
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Stop(ctx)
	})
	// Runs before Stop (cleanups run last first): a failed test must not
	// leave a fetcher blocked in the hook, which Stop waits for.
	t.Cleanup(func() { release.Do(func() { close(resume) }) })
	a, b := dialIn(t, ns, addr, 0), dialIn(t, ns, addr, 0)
	expect(t, b, "+OK", "SET", key, "old")
	// Nothing else happens on the loop: eviction must finish on its own
	// (the hand needs more than one pass: one turn clears the ref bit).
	testenv.WaitFor(t, key+" to go cold", func() bool { return len(coldOf(t, s, []string{key})) == 1 })
	a.send(cmd("GET", key))
	<-read // the fetcher holds "old"
	expect(t, b, "+OK", "FLUSHALL")
	expect(t, b, "+OK", "SET", key, "new")
	release.Do(func() { close(resume) })
	// The GET is concurrent with the FLUSHALL and the SET: it may see
	// either, never the value they replaced.
	if r := a.read(); r != "$-1" && r != "$3|new" {
		t.Fatalf("GET concurrent with a FLUSHALL and a rewrite = %q", r)
	}
	if r := b.do("GET", key); r != "$3|new" {
		t.Fatalf("GET = %q after the stale fetch came back", r)
	}
}
