package server

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dorivo/dorivo/datapath/internal/difftest"
	"github.com/dorivo/dorivo/internal/redistest"
	"github.com/dorivo/dorivo/internal/testenv"
	"github.com/dorivo/dorivo/shardstore/collection"
	"github.com/dorivo/dorivo/shardstore/durable"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// TestCollCasesCold runs the collection differential cases, in RESP2 and
// RESP3, on three loops over a durable store that keeps 3 bytes of values
// per loop: every collection goes cold once its writes are durable, the
// commands fetch it back (or run on it cold: TYPE, EXISTS, TTL, DEL), and
// the replies still match redis-server's.
func TestCollCasesCold(t *testing.T) {
	withValueStores(t, Config{Loops: 3}, func(t *testing.T, cfg Config) {
		if cfg.Store == nil {
			return // the memory variant runs in TestDifftestCases
		}
		s, addr := startRoot(t, cfg)
		difftest.Run(t, redistest.Start(t).Addr, addr, difftest.WithRESP3(difftest.CollCases))
		var fetches, evictions uint64
		for _, st := range s.Stats() {
			fetches += st.Fetches
			evictions += st.Evictions
		}
		if fetches < 100 || evictions < 100 {
			t.Errorf("%d collections fetched back, %d evicted: they did not go cold", fetches, evictions)
		}
	})
}

// TestDifftestCasesCold runs the whole differential table cold (values
// and collections fetched back nearly every command), but for CONFIG's
// cases: with a store, appendonly is yes.
func TestDifftestCasesCold(t *testing.T) {
	var cases []difftest.Case
	for _, c := range difftest.Cases {
		if !strings.HasPrefix(c.Name, "config") {
			cases = append(cases, c)
		}
	}
	withValueStores(t, Config{Loops: 3}, func(t *testing.T, cfg Config) {
		if cfg.Store == nil {
			return // TestDifftestCases
		}
		_, addr := startRoot(t, cfg)
		difftest.Run(t, redistest.Start(t).Addr, addr, cases)
	})
}

// coldStore opens a store for a cold-collection test.
func coldStore(t *testing.T, dir string, shards int) *durable.Store {
	t.Helper()
	st, err := durable.Open(dir, durable.Options{Shards: shards, CacheBytes: 64 << 10, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// startCold starts a server of two loops allowed budget bytes of values
// over a store in dir; stop stops both.
func startCold(t *testing.T, dir string, budget int64) (s *Server, c *client, stop func()) {
	t.Helper()
	st := coldStore(t, dir, 2)
	addr := fmt.Sprintf("127.0.0.1:%d", redistest.FreePort(t))
	s, err := New(Config{TCPAddr: addr, Loops: 2, HotValueBytes: budget, Store: st, Logger: quiet})
	if err == nil {
		err = s.Start()
	}
	if err != nil {
		st.Close()
		t.Fatalf("start server: %v", err)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	}
	t.Cleanup(stop)
	return s, dialRoot(t, addr), stop
}

// 2000 hashes of about 1 KB (2 MB) through loops allowed 64 KiB of values
// between them: once the writes are durable the loops hold about that
// much, most hashes are cold, and every hash reads back exactly. TYPE,
// EXISTS and TTL of a cold hash fetch nothing; HSET, LPUSH and SADD on
// cold keys fetch them first and keep every element. After a restart with
// the same budget the hashes load cold, unread, and read back again.
func TestColdCollectionsStayWithinBudget(t *testing.T) {
	const budget = 64 << 10
	dir := t.TempDir()
	s, c, stop := startCold(t, dir, budget)

	rng := rand.New(rand.NewPCG(5, 6))
	want := map[string][]string{} // key → sorted "field|value"
	var keys []string
	const total = 2000
	for batch := 0; batch < total; batch += 100 {
		var b []byte
		for i := batch; i < batch+100; i++ {
			k := fmt.Sprintf("h%d", i)
			args := []string{"HSET", k}
			for f := range 8 {
				v := make([]byte, 120)
				for j := range v {
					v[j] = 'a' + byte(rng.IntN(26))
				}
				args = append(args, fmt.Sprintf("f%d", f), string(v))
				want[k] = append(want[k], fmt.Sprintf("$2|f%d|$120|%s", f, v))
			}
			slices.Sort(want[k])
			keys = append(keys, k)
			b = append(b, cmd(args...)...)
		}
		c.send(b)
		for range 100 {
			if r := c.read(); r != ":8" {
				t.Fatalf("HSET = %q", r)
			}
		}
	}
	// The evictions run once the writes are durable; nudge the loops.
	testenv.WaitFor(t, "the loops to drop hashes down to the budget", func() bool {
		c.do("PING")
		hot, cold, _, _ := coldSums(s)
		return hot <= budget && cold >= total/2
	})
	hot, cold, fetches0, evictions := coldSums(s)
	t.Logf("after the writes: %d hot bytes, %d cold keys, %d evictions", hot, cold, evictions)

	// No value needed: no fetch.
	for _, k := range keys[:200] {
		c.send(slices.Concat(cmd("TYPE", k), cmd("EXISTS", k), cmd("TTL", k)))
		if r := c.read() + c.read() + c.read(); r != "+hash:1:-1" {
			t.Fatalf("TYPE, EXISTS, TTL of %s = %q", k, r)
		}
	}
	if _, _, f, _ := coldSums(s); f != fetches0 {
		t.Fatalf("TYPE, EXISTS and TTL of cold hashes fetched %d of them", f-fetches0)
	}

	readBack := func(what string) {
		t.Helper()
		order := rng.Perm(len(keys))
		for start := 0; start < len(order); start += 100 {
			var b []byte
			end := min(start+100, len(order))
			for _, i := range order[start:end] {
				b = append(b, cmd("HGETALL", keys[i])...)
			}
			c.send(b)
			for _, i := range order[start:end] {
				r := c.read()
				if got, w := sortedPairs(r), "*16|"+strings.Join(want[keys[i]], "|"); got != w {
					t.Fatalf("%s: HGETALL %s = %.80q…, want %.80q…", what, keys[i], got, w)
				}
			}
		}
	}
	t0 := time.Now()
	readBack("cold")
	_, _, f, _ := coldSums(s)
	t.Logf("read %d hashes back (HGETALL, pipelines of 100) in %v: %d fetches", total, time.Since(t0), f-fetches0)
	if f-fetches0 < total/2 {
		t.Fatalf("%d hashes read back from the store for %d cold keys", f-fetches0, cold)
	}

	// Writes to cold collections of every kind.
	expect(t, c, ":3", "RPUSH", "l", "a", "b", "c")
	expect(t, c, ":3", "SADD", "s", "x", "y", "z")
	expect(t, c, ":1", "ZADD", "z", "1", "m")
	// Reads of other hashes push them out.
	pressure := func() {
		for range 50 {
			c.do("HLEN", keys[1+rng.IntN(len(keys)-1)])
		}
	}
	testenv.WaitFor(t, "the new keys to go cold", func() bool {
		pressure()
		return len(coldOf(t, s, []string{"l", "s", "z", keys[0]})) == 4
	})
	expect(t, c, ":0", "HSET", keys[0], "f0", "new")
	want[keys[0]][0] = "$2|f0|$3|new"
	expect(t, c, ":4", "LPUSH", "l", "0")
	expect(t, c, ":1", "SADD", "s", "w")
	expect(t, c, ":0", "ZADD", "z", "2", "m")
	testenv.WaitFor(t, "the written keys to go cold again", func() bool {
		pressure()
		return len(coldOf(t, s, []string{"l", "s", "z", keys[0]})) == 4
	})
	if hot, _, _, _ := coldSums(s); hot > budget+budget/4 {
		t.Fatalf("%d hot bytes for a budget of %d", hot, budget)
	}
	expect(t, c, "$3|new", "HGET", keys[0], "f0")
	expect(t, c, "*4|$1|0|$1|a|$1|b|$1|c", "LRANGE", "l", "0", "-1")
	if r := sortedReply(c.do("SMEMBERS", "s")); r != "*4|$1|w|$1|x|$1|y|$1|z" {
		t.Fatalf("SMEMBERS s = %q", r)
	}
	expect(t, c, "*2|$1|m|$1|2", "ZRANGE", "z", "0", "-1", "WITHSCORES")
	// DEL of a cold key drops it without reading it.
	_, _, f1, _ := coldSums(s)
	expect(t, c, ":1", "DEL", "l")
	expect(t, c, ":0", "EXISTS", "l")
	if _, _, f, _ := coldSums(s); f != f1 {
		t.Fatalf("DEL of a cold list fetched it")
	}

	stop()
	s, c, _ = startCold(t, dir, budget)
	hot, cold, _, _ = coldSums(s)
	if hot > budget || cold < total/2 {
		t.Fatalf("after restart: %d hot bytes, %d cold keys", hot, cold)
	}
	if r := c.do("DBSIZE"); r != fmt.Sprintf(":%d", total+2) { // the hashes, s and z
		t.Fatalf("DBSIZE after restart = %q", r)
	}
	readBack("after restart")
	if hot, _, f, _ := coldSums(s); f < total/2 || hot > budget+budget/4 {
		t.Fatalf("after restart: %d fetches reading every hash, %d hot bytes", f, hot)
	}
}

// sortedPairs sorts the field-value pairs of a flat map reply
// ("*n|$l|f|$l|v|...") as "$l|f|$l|v" strings.
func sortedPairs(r string) string {
	parts := strings.Split(r, "|")
	if len(parts) < 5 {
		return r
	}
	var pairs []string
	for i := 1; i+3 < len(parts); i += 4 {
		pairs = append(pairs, strings.Join(parts[i:i+4], "|"))
	}
	slices.Sort(pairs)
	return parts[0] + "|" + strings.Join(pairs, "|")
}

// elemRecords counts the element and score-index records in st, all
// versions.
func elemRecords(t *testing.T, st *durable.Store) (n int) {
	t.Helper()
	for _, p := range []byte{'e', 's'} {
		err := st.ScanCollections(0, uint16(slot.Count-1), []byte{p}, []byte{p + 1}, func(uint16, []byte, []byte) error {
			n++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// Dropping a collection (DEL, SET over it, RENAME over it, a new life of
// the key, a store of *STORE over it) deletes its element records in the
// same write: none is left for a version no metadata names.
func TestDroppedCollectionsLeaveNoRecords(t *testing.T) {
	st := coldStore(t, t.TempDir(), 2)
	t.Cleanup(func() { st.Close() })
	_, addr := startRoot(t, Config{Loops: 2, Store: st, Logger: quiet})
	c := dialRoot(t, addr)
	var members []string
	for i := range 300 {
		members = append(members, fmt.Sprint("m", i))
	}
	for i := range 20 {
		expect(t, c, ":300", append([]string{"SADD", fmt.Sprintf("{k}s%d", i)}, members...)...)
	}
	expect(t, c, ":2", "HSET", "h", "a", "1", "b", "2")
	expect(t, c, ":2", "ZADD", "z", "1", "a", "2", "b")
	expect(t, c, ":3", "RPUSH", "l", "a", "b", "c")
	if n := elemRecords(t, st); n != 20*300+2+4+3 {
		t.Fatalf("%d element records after the writes", n)
	}
	for i := range 10 {
		expect(t, c, ":1", "DEL", fmt.Sprintf("{k}s%d", i))
	}
	expect(t, c, "+OK", "SET", "{k}s10", "a string now")
	expect(t, c, "+OK", "RENAME", "{k}s11", "{k}s12") // drops s12's records
	expect(t, c, ":300", "SUNIONSTORE", "{k}s13", "{k}s14")
	expect(t, c, ":3", "DEL", "h", "z", "l")
	expect(t, c, ":1", "HSET", "h", "new", "life")
	// Left: s11 (as s12), s13 (a new version), s14..s19, and h.
	if n := elemRecords(t, st); n != 8*300+1 {
		t.Fatalf("%d element records after the drops, want %d: those of dropped versions are still there", n, 8*300+1)
	}
	var live []string
	err := st.ScanCollections(0, uint16(slot.Count-1), []byte{'m'}, []byte{'n'}, func(_ uint16, rk, v []byte) error {
		m, err := collection.DecodeMeta(v)
		live = append(live, fmt.Sprintf("%s:%d", rk[1:], m.Size))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(live)
	if got := strings.Join(live, " "); got != "h:1 {k}s12:300 {k}s13:300 {k}s14:300 {k}s15:300 {k}s16:300 {k}s17:300 {k}s18:300 {k}s19:300" {
		t.Fatalf("metadata records: %s", got)
	}
}

// A BLMOVE parked on a missing source keeps its cold destination, fetched
// before it parked, in memory: woken by a push to the source, it runs
// without looking for cold keys again, and the move lands on the
// destination's elements.
func TestBlockedMoveKeepsColdDestination(t *testing.T) {
	st := coldStore(t, t.TempDir(), 1)
	t.Cleanup(func() { st.Close() })
	s, addr := startRoot(t, Config{Loops: 1, HotValueBytes: 1, Store: st, Logger: quiet})
	a, b := dialRoot(t, addr), dialRoot(t, addr)
	expect(t, a, ":2", "RPUSH", "{t}dst", "x", "y")
	testenv.WaitFor(t, "the destination to go cold", func() bool {
		a.do("PING")
		return len(coldOf(t, s, []string{"{t}dst"})) == 1
	})
	_, _, _, e0 := coldSums(s)
	b.send(cmd("BLMOVE", "{t}src", "{t}dst", "LEFT", "RIGHT", "0"))
	// Once the destination is back, BLMOVE ran in the same drain, and
	// parked; the destination stays (or, were it not kept, went cold
	// again: an eviction).
	testenv.WaitFor(t, "BLMOVE to fetch its destination", func() bool {
		_, _, _, e := coldSums(s)
		return len(coldOf(t, s, []string{"{t}dst"})) == 0 || e > e0
	})
	// Writes and reads of other keys sweep the budget meanwhile.
	for i := range 50 {
		expect(t, a, ":1", "RPUSH", fmt.Sprint("{t}other", i), "v")
		a.do("LRANGE", fmt.Sprint("{t}other", i), "0", "-1")
	}
	expect(t, a, ":1", "RPUSH", "{t}src", "moved")
	if r := b.read(); r != "$5|moved" {
		t.Fatalf("BLMOVE = %q", r)
	}
	expect(t, a, "*3|$1|x|$1|y|$5|moved", "LRANGE", "{t}dst", "0", "-1")
}
