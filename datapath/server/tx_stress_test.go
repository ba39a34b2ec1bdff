package server

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dorivo/dorivo/datapath/wire"
	"github.com/dorivo/dorivo/internal/testenv"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// runClients runs fn for n clients of addr concurrently and fails t with
// the first error.
func runClients(t *testing.T, addr string, n int, fn func(i int, c *client) error) {
	t.Helper()
	if err := runClientsErr(t, addr, n, fn); err != nil {
		t.Fatal(err)
	}
}

// runClientsErr is runClients returning the first error.
func runClientsErr(t *testing.T, addr string, n int, fn func(i int, c *client) error) error {
	t.Helper()
	cs := make([]*client, n)
	for i := range cs {
		cs[i] = dialRoot(t, addr)
	}
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(i, c); err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// TestCrossLoopMsetnx: clients race MSETNX on random key triples spread
// over three loops. All or nothing: an MSETNX that replied 1 set every one
// of its keys (to its unique value), one that replied 0 set none, and
// every key that exists was set by an MSETNX that replied 1.
func TestCrossLoopMsetnx(t *testing.T) {
	s, addr := startRoot(t, Config{Loops: 3})
	var keys []string
	for i := range 45 {
		tag, _ := keyOwnedBy(s, fmt.Sprintf("nx%d-", i), i%3, 0)
		keys = append(keys, "{"+tag+"}k")
	}
	const clients, attempts = 6, 60
	type attempt struct {
		keys []string
		val  string
		won  bool
	}
	results := make([][]attempt, clients)
	runClients(t, addr, clients, func(i int, c *client) error {
		rng := rand.New(rand.NewPCG(uint64(i), 11))
		var b []byte
		for a := range attempts {
			at := attempt{val: fmt.Sprintf("c%d.%d", i, a)}
			args := []string{"MSETNX"}
			for _, ki := range rng.Perm(len(keys))[:3] {
				at.keys = append(at.keys, keys[ki])
				args = append(args, keys[ki], at.val)
			}
			results[i] = append(results[i], at)
			b = append(b, cmd(args...)...)
		}
		rs, err := c.exchange(b, attempts)
		if err != nil {
			return err
		}
		for a, r := range rs {
			switch r {
			case ":1":
				results[i][a].won = true
			case ":0":
			default:
				return fmt.Errorf("MSETNX = %q", r)
			}
		}
		return nil
	})
	c := dialRoot(t, addr)
	final := map[string]string{}
	for i, v := range mgetValues(c.do(append([]string{"MGET"}, keys...)...)) {
		if v != "nil" {
			final[keys[i]] = v
		}
	}
	won := map[string]bool{}
	wins := 0
	for _, rs := range results {
		for _, at := range rs {
			for _, k := range at.keys {
				if got := final[k]; at.won && got != at.val {
					t.Fatalf("MSETNX %v = %q replied 1 but %s = %q", at.keys, at.val, k, got)
				} else if !at.won && got == at.val {
					t.Fatalf("MSETNX %v = %q replied 0 but set %s", at.keys, at.val, k)
				}
			}
			if at.won {
				won[at.val] = true
				wins++
			}
		}
	}
	for k, v := range final {
		if !won[v] {
			t.Fatalf("%s = %q, set by no successful MSETNX", k, v)
		}
	}
	if wins == 0 || wins == clients*attempts {
		t.Fatalf("%d of %d MSETNX succeeded: no contention tested", wins, clients*attempts)
	}
	t.Logf("%d of %d MSETNX succeeded, %d keys set", wins, clients*attempts, len(final))
}

// mgetValues returns the values of an MGET reply in client form (possibly
// inside an EXEC array), "nil" for a missing key.
func mgetValues(r string) []string {
	parts := strings.Split(r, "|")
	var vs []string
	for j := 0; j < len(parts); j++ {
		switch p := parts[j]; {
		case p == "$-1":
			vs = append(vs, "nil")
		case strings.HasPrefix(p, "$"):
			vs = append(vs, parts[j+1])
			j++
		}
	}
	return vs
}

// TestCrossLoopMsetVisibility: one client writes the same increasing value
// to keys on three loops with MSET while others read them with MGET and
// with MULTI; MGET; EXEC: a read never sees two different values.
func TestCrossLoopMsetVisibility(t *testing.T) {
	s, addr := startRoot(t, Config{Loops: 3})
	var keys []string
	for o := range 3 {
		tag, _ := keyOwnedBy(s, "vis-", o, 0)
		keys = append(keys, "{"+tag+"}v")
	}
	rounds := 400
	if testing.Short() {
		rounds = 80
	}
	mget := cmd(append([]string{"MGET"}, keys...)...)
	readReq := append(append(append(cmd("MULTI"), mget...), cmd("EXEC")...), mget...)
	var stop sync.WaitGroup
	done := make(chan struct{})
	stop.Add(1)
	go func() {
		defer stop.Done()
		defer close(done)
		c := dialRoot(t, addr)
		for v := range rounds {
			args := []string{"MSET"}
			for _, k := range keys {
				args = append(args, k, strconv.Itoa(v))
			}
			if rs, err := c.exchange(cmd(args...), 1); err != nil || rs[0] != "+OK" {
				t.Errorf("MSET: %q %v", rs, err)
				return
			}
		}
	}()
	err := runClientsErr(t, addr, 3, func(i int, c *client) error {
		for {
			select {
			case <-done:
				return nil
			default:
			}
			rs, err := c.exchange(readReq, 4)
			if err != nil {
				return err
			}
			for _, r := range rs[2:] {
				seen := mgetValues(r)
				if len(slices.Compact(seen)) != 1 {
					return fmt.Errorf("read %q mixes MSETs", r)
				}
			}
		}
	})
	stop.Wait() // the writer ends on its own: its connection stays open
	if err != nil {
		t.Fatal(err)
	}
}

// TestCrossLoopNoDeadlock: many clients pipeline transactions that
// increment keys on every loop, each in a random order, mixed with plain
// increments of the same keys and cross-loop MSET/MGET, with tiny rings (so
// at most 4 transactions per coordinator) and a tiny deferred queue. Every
// reply arrives and every counter is exact.
func TestCrossLoopNoDeadlock(t *testing.T) {
	s, addr := startRoot(t, Config{Loops: 3, RingCap: 4, DeferCap: 4, ArenaBytes: 256})
	var keys []string
	for o := range 3 {
		for i := range 2 {
			tag, _ := keyOwnedBy(s, fmt.Sprintf("dl%d.%d-", o, i), o, 0)
			keys = append(keys, "{"+tag+"}n")
		}
	}
	clients, txs := 8, 120
	if testing.Short() {
		txs = 30
	}
	counts := make([][]int, clients)
	runClients(t, addr, clients, func(i int, c *client) error {
		rng := rand.New(rand.NewPCG(uint64(i), 3))
		counts[i] = make([]int, len(keys))
		const batch = 10
		for sent := 0; sent < txs; sent += batch {
			var b []byte
			var want []string
			for range batch {
				perm := rng.Perm(len(keys))[:3+rng.IntN(3)]
				b = append(b, cmd("MULTI")...)
				want = append(want, "+OK")
				for _, ki := range perm {
					b = append(b, cmd("INCR", keys[ki])...)
					want = append(want, "+QUEUED")
					counts[i][ki]++
				}
				b = append(b, cmd("EXEC")...)
				want = append(want, fmt.Sprintf("*%d|", len(perm)))
				ki := rng.IntN(len(keys))
				b = append(b, cmd("INCR", keys[ki])...)
				want = append(want, ":")
				counts[i][ki]++
				b = append(b, cmd("MSET", fmt.Sprintf("{x%d}a", i), "1", fmt.Sprintf("{y%d}b", i), "2")...)
				want = append(want, "+OK")
				b = append(b, cmd("MGET", fmt.Sprintf("{x%d}a", i), fmt.Sprintf("{y%d}b", i))...)
				want = append(want, "*2|$1|1|$1|2")
			}
			rs, err := c.exchange(b, len(want))
			if err != nil {
				return err
			}
			for j, r := range rs {
				if !strings.HasPrefix(r, want[j]) {
					return fmt.Errorf("reply %d = %q, want %q...", j, r, want[j])
				}
			}
		}
		return nil
	})
	c := dialRoot(t, addr)
	for ki, k := range keys {
		want := 0
		for i := range counts {
			want += counts[i][ki]
		}
		if got := c.do("GET", k); got != fmt.Sprintf("$%d|%d", len(strconv.Itoa(want)), want) {
			t.Errorf("%s = %q, want %d", k, got, want)
		}
	}
}

// TestHeldKeyBackpressure holds a key on loop 1 as a transaction would
// (placed directly on the loop), then sends requests for it from clients
// on both loops and a datagram: loop 1 parks what comes from loop 0 until
// its deferred queue (3) is full, after which loop 0's requests wait in
// the ring and its client stalls for credit; loop 1's own client stalls.
// Once the hold is released every request completes, in order, none lost.
func TestHeldKeyBackpressure(t *testing.T) {
	const port = 7621
	tb, _ := slot.NewTable(2)
	objs := loadSteering(t, tb, 2, port)
	ns := testenv.NewNetns(t, "hold")
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	s := startIn(t, ns, Config{TCPAddr: addr, UDPAddr: addr, Loops: 2, Table: tb, RingCap: 4, DeferCap: 3,
		TCPSockets: objs.TcpSockets, UDPSockets: objs.UdpSockets, Reuseport: objs.ReuseportSelect})
	tag, _ := keyOwnedBy(s, "held-", 1, 0)
	key := "{" + tag + "}k"
	other, _ := keyOwnedBy(s, "free-", 0, 0)
	l1 := s.loops[1].core
	var unlock func()
	if err := s.RunOnLoop(context.Background(), 1, func() { unlock = l1.Lock([][]byte{[]byte(key)}) }); err != nil {
		t.Fatal(err)
	}
	waitStats := func(what string, ok func(st []LoopStats) bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(s.Stats()); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s never happened: %+v", what, s.Stats())
			}
		}
	}
	// A datagram for the held key, steered to loop 1: parked there.
	u := udpDialIn(t, ns, addr)
	dg, err := wire.AppendRequest(nil, &wire.Request{ID: 1, Op: wire.OpSet, Key: []byte(key), Value: []byte("1000")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.c.Write(dg); err != nil {
		t.Fatal(err)
	}
	waitStats("datagram parked", func(st []LoopStats) bool { return st[1].Deferred == 1 })

	type conn struct {
		c    *client
		n    int
		want []string // "" for an INCR reply
	}
	var conns []*conn
	for _, sport := range []int{40000, 40001, 40002} { // loops 0, 0, 1 (slot.PortOwner)
		cn := &conn{c: dialIn(t, ns, addr, sport), n: 60}
		var b []byte
		for i := range cn.n {
			b = append(b, cmd("INCR", key)...)
			cn.want = append(cn.want, "")
			if i%10 == 0 {
				b = append(b, cmd("SET", other, "x")...)
				cn.want = append(cn.want, "+OK")
			}
		}
		cn.c.send(b)
		conns = append(conns, cn)
	}
	waitStats("deferred queue full, loop 0 out of credit, loop 1's client stalled", func(st []LoopStats) bool {
		return st[1].Deferred == 3 && st[0].Stalls > 0 && st[1].Stalls > 0
	})
	if err := s.RunOnLoop(context.Background(), 1, func() {
		unlock()
	}); err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for ci, cn := range conns {
		last := 0
		for i, w := range cn.want {
			got := cn.c.read()
			if w != "" {
				if got != w {
					t.Fatalf("conn %d reply %d = %q, want %q", ci, i, got, w)
				}
				continue
			}
			v, err := strconv.Atoi(strings.TrimPrefix(got, ":"))
			if err != nil || v <= last || v <= 1000 || seen[v] {
				t.Fatalf("conn %d reply %d = %q after %d: out of order, lost or before the parked datagram", ci, i, got, last)
			}
			seen[v], last = true, v
		}
	}
	total := 0
	for _, cn := range conns {
		total += cn.n
	}
	if got := conns[0].c.do("GET", key); got != fmt.Sprintf("$4|%d", 1000+total) {
		t.Fatalf("GET after release = %q, want %d", got, 1000+total)
	}
	_ = u.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := u.c.Read(u.buf)
	var r wire.Reply
	if err == nil {
		err = wire.ParseReply(u.buf[:n], &r)
	}
	if err != nil || r.ID != 1 || r.Status != wire.StatusOK {
		t.Fatalf("parked datagram reply: %+v %v", r, err)
	}
}

// TestCrossLoopCloseMidTransaction: clients pipeline cross-loop
// transactions and watches and close without reading. Whatever each
// connection got to run ran whole (the three counters stay equal), and
// nothing is left behind on any loop: no hold, no waiting prepare, no
// parked request, no transaction in flight, no watch.
func TestCrossLoopCloseMidTransaction(t *testing.T) {
	s, addr := startRoot(t, Config{Loops: 3})
	var keys []string
	for o := range 3 {
		tag, _ := keyOwnedBy(s, "close-", o, 0)
		keys = append(keys, "{"+tag+"}n")
	}
	var b []byte
	b = append(b, cmd("WATCH", keys[2], keys[1])...)
	for range 20 {
		b = append(b, cmd("MULTI")...)
		for _, k := range keys {
			b = append(b, cmd("INCR", k)...)
		}
		b = append(b, cmd("EXEC")...)
		b = append(b, cmd("MSET", keys[0], "0", "{elsewhere}x", "1")...) // a split command on the way too
		b = append(b, cmd("DEL", keys[0], "{elsewhere}x")...)
	}
	for range 30 {
		c := dialRoot(t, addr)
		c.send(b)
		c.c.Close()
	}
	c := dialRoot(t, addr)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		left := 0
		for i, l := range s.loops {
			if err := s.RunOnLoop(context.Background(), i, func() {
				left += l.core.Outstanding()
			}); err != nil {
				t.Fatal(err)
			}
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d holds, waiting prepares, parked requests, transactions or watches left", left)
		}
	}
	vs := mgetValues(c.do("MGET", keys[1], keys[2]))
	if len(vs) != 2 || vs[0] != vs[1] {
		t.Fatalf("counters %q differ: a transaction ran in part", vs)
	}
	if got := c.do("MSET", keys[0], "a", keys[1], "b", keys[2], "c"); got != "+OK" {
		t.Fatalf("MSET after the clients left = %q", got)
	}
}

// TestHeldKeyDatagrams: without the steering program datagrams land on
// any loop; those for a held key wait, on the owner (local arrivals) or
// parked after forwarding (arrivals on the other loop), and are all
// answered, with their writes applied, once the hold is released.
func TestHeldKeyDatagrams(t *testing.T) {
	ns := testenv.NewNetns(t, "holddg")
	addr := "127.0.0.1:7622"
	s := startIn(t, ns, Config{UDPAddr: addr, TCPAddr: addr, Loops: 2})
	tag, _ := keyOwnedBy(s, "dg-", 1, 0)
	l1 := s.loops[1].core
	var unlock func()
	if err := s.RunOnLoop(context.Background(), 1, func() { unlock = l1.Lock([][]byte{[]byte("{" + tag + "}0")}) }); err != nil {
		t.Fatal(err)
	}
	const n = 16
	us := make([]*udpClient, n)
	for i := range us {
		us[i] = udpDialIn(t, ns, addr)
		key := fmt.Sprintf("{%s}%d", tag, i%2) // half for the held key
		req, err := wire.AppendRequest(nil, &wire.Request{ID: uint32(i + 1), Op: wire.OpSet, Key: []byte(key), Value: []byte("v")})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := us[i].c.Write(req); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); s.Stats()[1].Deferred < n/2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("datagrams for the held key not parked: %+v", s.Stats())
		}
	}
	if err := s.RunOnLoop(context.Background(), 1, func() {
		unlock()
	}); err != nil {
		t.Fatal(err)
	}
	for i, u := range us {
		_ = u.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		m, err := u.c.Read(u.buf)
		var r wire.Reply
		if err == nil {
			err = wire.ParseReply(u.buf[:m], &r)
		}
		if err != nil || r.ID != uint32(i+1) || r.Status != wire.StatusOK {
			t.Fatalf("datagram %d: reply %+v, %v", i, r, err)
		}
	}
	if st := s.Stats(); st[0].NonOwner == 0 || st[0].Drops+st[1].Drops != 0 {
		t.Fatalf("want some datagrams forwarded from loop 0 and none dropped: %+v", st)
	}
	c := dialIn(t, ns, addr, 0)
	if got := c.do("MGET", "{"+tag+"}0", "{"+tag+"}1"); got != "*2|$1|v|$1|v" {
		t.Fatalf("MGET after release = %q", got)
	}
}

// TestCrossLoopExecRunsKeylessCommandsAfterClose: a cross-loop transaction
// whose client closed commits whole, its keyless commands (run on the
// coordinator while building the reply) included.
func TestCrossLoopExecRunsKeylessCommandsAfterClose(t *testing.T) {
	s, addr := startRoot(t, Config{Loops: 2})
	var keys []string
	for o := range 2 {
		tag, _ := keyOwnedBy(s, "keyless-", o, 0)
		keys = append(keys, "{"+tag+"}n")
	}
	const clients = 30
	for i := range clients {
		c := dialRoot(t, addr)
		b := cmd("MULTI")
		b = append(b, cmd("INCR", keys[0])...)
		b = append(b, cmd("INCR", keys[1])...)
		b = append(b, cmd("ACL", "SETUSER", fmt.Sprintf("gone%d", i), "on")...)
		b = append(b, cmd("EXEC")...)
		c.send(b)
		c.c.Close()
	}
	c := dialRoot(t, addr)
	for deadline := time.Now().Add(10 * time.Second); c.do("GET", keys[1]) != fmt.Sprintf("$2|%d", clients); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("counter = %q after %d transactions", c.do("GET", keys[1]), clients)
		}
	}
	users := c.do("ACL", "USERS")
	for i := range clients {
		if !strings.Contains(users, fmt.Sprintf("|gone%d|", i)) && !strings.HasSuffix(users, fmt.Sprintf("|gone%d", i)) {
			t.Errorf("transaction %d committed its INCRs but not its ACL SETUSER: users %q", i, users)
		}
	}
}
