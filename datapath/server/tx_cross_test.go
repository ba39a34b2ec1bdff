package server

import (
	"bufio"
	"context"
	"fmt"
	"github.com/dorivo/dorivo/internal/redistest"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dorivo/dorivo/datapath/internal/difftest"
	"github.com/dorivo/dorivo/shardstore/durable"
)

// startRoot starts a server in the test's own network namespace on a free
// loopback port, where difftest.StartRedis runs redis-server too.
func startRoot(t testing.TB, cfg Config) (*Server, string) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", redistest.FreePort(t))
	cfg.TCPAddr = addr
	return start(t, cfg, func(f func()) { f() }), addr
}

// withValueStores runs test twice: on cfg as given (values in memory), and
// over a durable store with loops that may keep only 3 bytes of values
// between them, so that nearly every command waits for cold values.
func withValueStores(t *testing.T, cfg Config, test func(*testing.T, Config)) {
	t.Run("memory", func(t *testing.T) { test(t, cfg) })
	t.Run("cold", func(t *testing.T) {
		st, err := durable.Open(t.TempDir(), durable.Options{Shards: cfg.Loops, CacheBytes: 1 << 10, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() }) // after the server's Stop: cleanups run last first
		cold := cfg
		cold.Store, cold.HotValueBytes, cold.Logger = st, 3*int64(cfg.Loops), quiet
		test(t, cold)
		if st.Stats().Reads == 0 {
			t.Error("no value was read back from the store: the values did not go cold")
		}
	})
}

func dialRoot(t testing.TB, addr string) *client {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c, r: bufio.NewReaderSize(c, 1<<16)}
}

// exchange writes b and reads n replies; for goroutines (no t.Fatal).
func (c *client) exchange(b []byte, n int) ([]string, error) {
	_ = c.c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.c.Write(b); err != nil {
		return nil, err
	}
	out := make([]string, n)
	for i := range out {
		r, err := readReply(c.r)
		if err != nil {
			return nil, fmt.Errorf("reply %d of %d: %w", i, n, err)
		}
		out[i] = r
	}
	return out, nil
}

// TestDifftestCases runs the differential table of package difftest
// against the real datapath server (three loops) and redis-server.
func TestDifftestCases(t *testing.T) {
	_, addr := startRoot(t, Config{Loops: 3})
	difftest.Compare(t, addr)
}

// TestCrossLoopTxMatchesRedis replays transaction scenarios on two
// connections (one transacting, one interfering) against Dorivo with three
// loops and against redis-server, requiring identical replies: MULTI/EXEC
// spanning loops, split commands inside MULTI, queue errors, WATCH on keys
// of other loops dirtied or not, UNWATCH, DISCARD, watched-key expiry. It
// then checks that no loop keeps a watch registration.
func TestCrossLoopTxMatchesRedis(t *testing.T) {
	withValueStores(t, Config{Loops: 3}, crossLoopTxMatchesRedis)
}

func crossLoopTxMatchesRedis(t *testing.T, cfg Config) {
	redis := redistest.Start(t).Addr
	s, addr := startRoot(t, cfg)
	k := make([]string, 3)
	for o := range 3 {
		k[o], _ = keyOwnedBy(s, fmt.Sprintf("tx%d-", o), o, 0)
	}
	type step struct {
		c    int // 0: the transacting client, 1: another client
		args []string
	}
	S := func(c int, args ...string) step { return step{c, args} }
	scenarios := [][]step{
		{S(0, "MULTI"), S(0, "SET", k[0], "a"), S(0, "INCR", k[1]), S(0, "APPEND", k[2], "z"), S(0, "PING"), S(0, "EXEC"),
			S(0, "MGET", k[0], k[1], k[2])},
		{S(0, "SET", k[1], "notanumber"), S(0, "MULTI"), S(0, "INCR", k[0]), S(0, "INCR", k[1]), S(0, "GET", k[2]), S(0, "EXEC")},
		{S(0, "MULTI"), S(0, "MSET", k[0], "1", k[1], "2", k[2], "3"), S(0, "MGET", k[2], "nokey", k[1], k[0]),
			S(0, "EXISTS", k[0], k[1], k[0]), S(0, "DEL", k[0], k[2]), S(0, "MSET", k[0], "x", k[1]), S(0, "EXEC")},
		{S(0, "MULTI"), S(0, "SET", k[0], "1"), S(0, "NOSUCHCMD"), S(0, "SET", k[1], "1"), S(0, "EXEC"), S(0, "EXISTS", k[0], k[1])},
		{S(0, "MULTI"), S(0, "SET", k[0], "1"), S(0, "SET", k[1], "1"), S(0, "DISCARD"), S(0, "EXISTS", k[0], k[1])},
		// WATCH on a remote loop, dirtied: aborts, nothing applied.
		{S(0, "WATCH", k[1]), S(1, "SET", k[1], "other"), S(0, "MULTI"), S(0, "SET", k[0], "x"), S(0, "SET", k[2], "y"),
			S(0, "EXEC"), S(0, "MGET", k[0], k[1], k[2])},
		// Not dirtied: runs.
		{S(0, "WATCH", k[1]), S(1, "GET", k[1]), S(0, "MULTI"), S(0, "SET", k[0], "x"), S(0, "SET", k[2], "y"),
			S(0, "EXEC"), S(0, "MGET", k[0], k[2])},
		// Watch and keys on one remote loop (single-loop path), dirtied.
		{S(0, "WATCH", k[2]), S(1, "SET", k[2], "other"), S(0, "MULTI"), S(0, "SET", k[2], "mine"), S(0, "EXEC"), S(0, "GET", k[2])},
		// Watches on every loop, one dirtied, transaction on one other loop.
		{S(0, "WATCH", k[0], k[1], k[2]), S(1, "DEL", k[2]), S(1, "SET", k[2], "v"), S(0, "MULTI"), S(0, "GET", k[0]), S(0, "EXEC")},
		// UNWATCH: a later write does not abort.
		{S(0, "WATCH", k[1]), S(0, "UNWATCH"), S(1, "SET", k[1], "w"), S(0, "MULTI"), S(0, "SET", k[0], "1"), S(0, "SET", k[2], "2"),
			S(0, "EXEC")},
		// DISCARD drops the watches too.
		{S(0, "WATCH", k[1]), S(0, "MULTI"), S(0, "SET", k[0], "1"), S(0, "DISCARD"), S(1, "SET", k[1], "w"),
			S(0, "MULTI"), S(0, "SET", k[0], "2"), S(0, "SET", k[2], "2"), S(0, "EXEC")},
		// EXEC clears the watches: a write after it does not abort the next one.
		{S(0, "WATCH", k[1]), S(0, "MULTI"), S(0, "SET", k[0], "1"), S(0, "SET", k[2], "1"), S(0, "EXEC"),
			S(1, "SET", k[1], "w"), S(0, "MULTI"), S(0, "INCR", k[0]), S(0, "INCR", k[2]), S(0, "EXEC")},
		// A watched key deleted and recreated, a watched missing key created.
		{S(0, "WATCH", k[0], "{zz}missing"), S(1, "SET", "{zz}missing", "1"), S(0, "MULTI"), S(0, "SET", k[1], "x"), S(0, "EXEC")},
		// Errors: WATCH inside MULTI, EXEC without MULTI, nested MULTI.
		{S(0, "EXEC"), S(0, "MULTI"), S(0, "WATCH", k[1]), S(0, "MULTI"), S(0, "SET", k[0], "1"), S(0, "SET", k[1], "1"), S(0, "EXEC")},
		// MSETNX across loops: all or nothing.
		{S(0, "MSETNX", k[0], "1", k[1], "1", k[2], "1"), S(0, "MSETNX", k[0], "2", "{new}k", "2"), S(0, "MGET", k[0], "{new}k"),
			S(0, "DEL", k[1]), S(0, "MSETNX", k[1], "3", "{new}k", "3"), S(0, "MSETNX", k[1], "3", "{new2}k"),
			S(0, "MGET", k[0], k[1], k[2], "{new}k")},
		// An ACL user: cross-loop commands and transactions are checked
		// with its permissions, also when its rules change between MULTI
		// and EXEC.
		{S(1, "ACL", "SETUSER", "u", "on", "nopass", "~tx*", "+@all"), S(0, "AUTH", "u", "x"),
			S(0, "MSET", k[0], "1", k[1], "2"), S(0, "MGET", k[0], k[1], k[2]), S(0, "MGET", k[0], "other"),
			S(0, "MULTI"), S(0, "GET", "other"), S(0, "EXEC"),
			S(0, "MULTI"), S(0, "INCR", k[0]), S(0, "INCR", k[1]), S(0, "MGET", k[0], k[2]), S(0, "EXEC"),
			S(0, "MULTI"), S(0, "INCR", k[0]), S(0, "INCR", k[1]),
			S(1, "ACL", "SETUSER", "u", "resetkeys", "~"+k[1]), S(0, "EXEC"), S(0, "GET", k[1]),
			S(1, "ACL", "DELUSER", "u")},
	}
	for i, sc := range scenarios {
		for _, a := range []string{redis, addr} {
			ctl := dialRoot(t, a)
			if got := ctl.do("FLUSHALL"); got != "+OK" {
				t.Fatalf("FLUSHALL = %q", got)
			}
		}
		rc := []*client{dialRoot(t, redis), dialRoot(t, redis)}
		dc := []*client{dialRoot(t, addr), dialRoot(t, addr)}
		for j, st := range sc {
			want, got := rc[st.c].do(st.args...), dc[st.c].do(st.args...)
			if got != want {
				t.Fatalf("scenario %d step %d %q: dorivo %q, redis-server %q", i, j, st.args, got, want)
			}
		}
		// EXEC, UNWATCH and DISCARD leave no registration on any loop
		// (UNWATCH and DISCARD drop remote ones asynchronously: poll).
		lastWatch, lastEnd := -1, -1
		for j, st := range sc {
			switch name := strings.ToUpper(st.args[0]); {
			case st.c == 0 && name == "WATCH":
				lastWatch = j
			case st.c == 0 && (name == "EXEC" || name == "UNWATCH" || name == "DISCARD"):
				lastEnd = j
			}
		}
		for deadline := time.Now().Add(10 * time.Second); lastEnd > lastWatch && watchedKeys(t, s) != 0; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("scenario %d: %d watched keys left after the transaction ended", i, watchedKeys(t, s))
			}
		}
		rc[0].c.Close()
		dc[0].c.Close()
	}
	// A watched key that expires aborts EXEC (Redis 7.0).
	for _, a := range []string{redis, addr} {
		c := dialRoot(t, a)
		// 1 s leaves a loaded machine time to WATCH before the expiry;
		// then wait until the key is gone rather than for a fixed time.
		c.do("SET", k[1], "v", "PX", "1000")
		c.do("WATCH", k[1])
		for deadline := time.Now().Add(10 * time.Second); c.do("PTTL", k[1]) != ":-2"; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: watched key did not expire", a)
			}
		}
		c.do("MULTI")
		c.do("SET", k[0], "1")
		c.do("SET", k[2], "1")
		if got := c.do("EXEC"); got != "*-1" {
			t.Fatalf("%s: EXEC after a watched key expired = %q, want *-1", a, got)
		}
	}
	// Watches left by closed connections are unregistered on every loop.
	w := dialRoot(t, addr)
	if got := w.do("WATCH", k[0], k[1], k[2]); got != "+OK" {
		t.Fatalf("WATCH = %q", got)
	}
	if n := watchedKeys(t, s); n != 3 {
		t.Fatalf("watched keys on all loops = %d, want 3", n)
	}
	w.c.Close()
	for deadline := time.Now().Add(10 * time.Second); watchedKeys(t, s) != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("watches still registered after every client closed: %d keys", watchedKeys(t, s))
		}
	}
}

// watchedKeys counts the watched keys of every loop, on the loops.
func watchedKeys(t *testing.T, s *Server) int {
	n := 0
	for i := range s.Loops() {
		var m int
		if err := s.RunOnLoop(context.Background(), i, func() { m = s.loops[i].core.Keyspace().WatchedKeys() }); err != nil {
			t.Fatal(err)
		}
		n += m
	}
	return n
}

// sumValues parses an MGET reply in client form ("*n|$l|v|...", possibly
// inside an EXEC array) and returns the sum of its integer values.
func sumValues(r string) (int, error) {
	parts := strings.Split(r, "|")
	sum := 0
	for i, p := range parts {
		if !strings.HasPrefix(p, "$") {
			continue
		}
		if p == "$-1" {
			return 0, fmt.Errorf("missing value in %q", r)
		}
		v, err := strconv.Atoi(parts[i+1])
		if err != nil {
			return 0, fmt.Errorf("value %q in %q: %w", parts[i+1], r, err)
		}
		sum += v
	}
	return sum, nil
}

// TestCrossLoopAtomicity moves money between accounts on different loops
// with MULTI; DECRBY; INCRBY; EXEC from many connections at once while
// readers sum every account with MULTI; MGET; EXEC and with a plain
// cross-loop MGET: every read must see the total, and so must the end.
func TestCrossLoopAtomicity(t *testing.T) { withValueStores(t, Config{Loops: 3}, crossLoopAtomicity) }

func crossLoopAtomicity(t *testing.T, cfg Config) {
	s, addr := startRoot(t, cfg)
	var acct []string
	for o := range 3 {
		for i := range 2 {
			tag, _ := keyOwnedBy(s, fmt.Sprintf("acct%d.%d-", o, i), o, 0)
			acct = append(acct, "{"+tag+"}balance")
		}
	}
	const initial = 1000
	total := initial * len(acct)
	setup := dialRoot(t, addr)
	mset := []string{"MSET"}
	for _, k := range acct {
		mset = append(mset, k, strconv.Itoa(initial))
	}
	if got := setup.do(mset...); got != "+OK" {
		t.Fatalf("MSET = %q", got)
	}
	writers, txs, readers := 4, 400, 3
	if testing.Short() {
		txs = 60
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers+readers)
	done := make(chan struct{})
	for w := range writers {
		c := dialRoot(t, addr)
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			const batch = 8
			for sent := 0; sent < txs; sent += batch {
				var b []byte
				for range batch {
					a := rng.IntN(len(acct))
					d := (a + 2 + rng.IntN(len(acct)-3)) % len(acct) // another loop's account
					n := strconv.Itoa(1 + rng.IntN(50))
					b = append(b, cmd("MULTI")...)
					b = append(b, cmd("DECRBY", acct[a], n)...)
					b = append(b, cmd("INCRBY", acct[d], n)...)
					b = append(b, cmd("EXEC")...)
				}
				rs, err := c.exchange(b, 4*batch)
				if err != nil {
					errs <- err
					return
				}
				for i := 3; i < len(rs); i += 4 {
					if !strings.HasPrefix(rs[i], "*2|:") {
						errs <- fmt.Errorf("writer %d: EXEC = %q", w, rs[i])
						return
					}
				}
			}
		}()
	}
	reads := make([]int, readers)
	var rwg sync.WaitGroup
	for r := range readers {
		c := dialRoot(t, addr)
		rwg.Add(1)
		go func() {
			defer rwg.Done()
			mget := cmd(append([]string{"MGET"}, acct...)...)
			req := append(append(append(cmd("MULTI"), mget...), cmd("EXEC")...), mget...)
			for {
				select {
				case <-done:
					return
				default:
				}
				rs, err := c.exchange(req, 4)
				if err != nil {
					errs <- err
					return
				}
				for _, got := range []string{rs[2], rs[3]} {
					sum, err := sumValues(got)
					if err == nil && sum != total {
						err = fmt.Errorf("reader %d: read %q sums to %d, want %d", r, got, sum, total)
					}
					if err != nil {
						errs <- err
						return
					}
				}
				reads[r]++
			}
		}()
	}
	wg.Wait()
	close(done)
	rwg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	sum, err := sumValues(setup.do(append([]string{"MGET"}, acct...)...))
	if err != nil || sum != total {
		t.Fatalf("final sum %d (%v), want %d", sum, err, total)
	}
	var cross uint64
	for _, ls := range s.Stats() {
		cross += ls.TxCross
	}
	if want := uint64(writers * txs); cross < want {
		t.Errorf("only %d cross-loop transactions, want at least %d", cross, want)
	}
	t.Logf("reads per reader: %v, cross-loop transactions: %d", reads, cross)
}

// TestCrossLoopTxRandomMatchesRedis sends the same random pipelines of
// transactions (MULTI blocks of single- and multi-key commands over keys
// on three loops, queue errors, DISCARD, WATCH and UNWATCH, with another
// client writing watched keys between pipelines) to Dorivo and to
// redis-server and requires identical replies.
func TestCrossLoopTxRandomMatchesRedis(t *testing.T) {
	withValueStores(t, Config{Loops: 3}, crossLoopTxRandomMatchesRedis)
}

func crossLoopTxRandomMatchesRedis(t *testing.T, cfg Config) {
	redis := redistest.Start(t).Addr
	s, addr := startRoot(t, cfg)
	defer func() {
		var cross uint64
		for _, ls := range s.Stats() {
			cross += ls.TxCross
		}
		if cross < 100 {
			t.Errorf("only %d cross-loop transactions: the keys did not span loops", cross)
		}
	}()
	rc, dc := dialRoot(t, redis), dialRoot(t, addr)
	ro, do := dialRoot(t, redis), dialRoot(t, addr)
	for _, c := range []*client{rc, dc} {
		if got := c.do("FLUSHALL"); got != "+OK" {
			t.Fatalf("FLUSHALL = %q", got)
		}
	}
	rng := rand.New(rand.NewPCG(5, 8))
	g := cmdGen{rng: rng, nkeys: 12}
	key, keys := g.key, g.keys
	op := func() []string {
		i := rng.IntN(commonCmds + 3)
		if c := g.common(i); c != nil {
			return c
		}
		switch i - commonCmds {
		case 0:
			return []string{"PING"}
		case 1:
			return []string{"INCRBY", key(), "notanumber"}
		default:
			return []string{"ECHO", "hi"}
		}
	}
	for round := range 200 {
		var b []byte
		n := 0
		add := func(args ...string) {
			b = append(b, cmd(args...)...)
			n++
		}
		if rng.IntN(3) == 0 {
			add(append([]string{"WATCH"}, keys(1+rng.IntN(3))...)...)
		}
		for range 1 + rng.IntN(4) {
			if rng.IntN(3) == 0 {
				add(op()...)
				continue
			}
			add("MULTI")
			for range rng.IntN(6) {
				add(op()...)
			}
			switch rng.IntN(10) {
			case 0:
				add("NOSUCHCOMMAND") // EXECABORT
				add("EXEC")
			case 1:
				add("DISCARD")
			case 2:
				add("UNWATCH") // queued inside MULTI
				add("EXEC")
			default:
				add("EXEC")
			}
		}
		if rng.IntN(2) == 0 {
			add("UNWATCH")
		}
		rc.send(b)
		dc.send(b)
		for i := range n {
			want, got := rc.read(), dc.read()
			if got != want {
				t.Fatalf("round %d, reply %d: dorivo %q, redis-server %q", round, i, got, want)
			}
		}
		// Another client writes a key, dirtying watches left in place.
		w := []string{"SET", key(), "other"}
		if want, got := ro.do(w...), do.do(w...); got != want {
			t.Fatalf("round %d: other client %q: dorivo %q, redis-server %q", round, w, got, want)
		}
	}
}
