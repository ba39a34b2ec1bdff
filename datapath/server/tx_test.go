package server

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dorivo/dorivo/internal/testenv"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// TestTransactions: MULTI/EXEC whose keys share a hash tag runs atomically on
// the owner loop, even when that is not the connection's loop (the session
// travels with the EXEC); keys on different loops run as one cross-loop
// transaction; a WATCH on a key owned by the connection's loop works as in
// Redis (remote watches: tx_cross_test.go).
func TestTransactions(t *testing.T) {
	// Steering makes a connection's loop slot.PortOwner(source port, 2).
	tb, _ := slot.NewTable(2)
	objs := loadSteering(t, tb, 2, 7601)
	ns := testenv.NewNetns(t, "tx")
	s := startIn(t, ns, Config{TCPAddr: "127.0.0.1:7601", Loops: 2, Table: tb,
		TCPSockets: objs.TcpSockets, Reuseport: objs.ReuseportSelect})
	for sport, connLoop := range map[int]int{40000: 0, 40002: 1} {
		c := dialIn(t, ns, "127.0.0.1:7601", sport)
		for o := range 2 {
			tag, _ := keyOwnedBy(s, fmt.Sprintf("t%d-", connLoop), o, 0)
			a, b := "{"+tag+"}a", "{"+tag+"}b"
			c.send(append(append(append(append(cmd("MULTI"), cmd("SET", a, "1")...), cmd("INCR", a)...), cmd("MSET", b, "x", a, "5")...), cmd("EXEC")...))
			for i, want := range []string{"+OK", "+QUEUED", "+QUEUED", "+QUEUED", "*3|+OK|:2|+OK"} {
				if got := c.read(); got != want {
					t.Fatalf("conn port %d, keys on loop %d: reply %d = %q, want %q", sport, o, i, got, want)
				}
			}
			if got := c.do("MGET", a, b); got != "*2|$1|5|$1|x" {
				t.Fatalf("after EXEC: MGET = %q", got)
			}
		}
		// Keys on two loops: a cross-loop transaction, applied whole.
		k0, _ := keyOwnedBy(s, "x", 0, 0)
		k1, _ := keyOwnedBy(s, "x", 1, 0)
		c.send(append(append(append(cmd("MULTI"), cmd("SET", k0, "1")...), cmd("INCR", k1)...), cmd("EXEC")...))
		for i, want := range []string{"+OK", "+QUEUED", "+QUEUED", "*2|+OK|:1"} {
			if got := c.read(); got != want {
				t.Fatalf("cross-loop tx: reply %d = %q, want %q", i, got, want)
			}
		}
		if got := c.do("MGET", k0, k1); got != "*2|$1|1|$1|1" {
			t.Fatalf("cross-loop tx: MGET = %q", got)
		}
		if got := c.do("DEL", k0, k1); got != ":2" {
			t.Fatalf("cross-loop DEL = %q", got)
		}
		if got := c.do("PING"); got != "+PONG" {
			t.Fatalf("after EXEC the session is not in MULTI: PING = %q", got)
		}
	}
	// WATCH on the connection's own loop; another client's write aborts EXEC.
	before := s.Stats()[0].Accepted
	c := dialIn(t, ns, "127.0.0.1:7601", 40004) // loop 0
	if c.do("PING"); s.Stats()[0].Accepted != before+1 {
		t.Fatalf("connection from port 40004 not on loop 0: %+v", s.Stats())
	}
	other := dialIn(t, ns, "127.0.0.1:7601", 0)
	w, _ := keyOwnedBy(s, "w", 0, 0)
	if got := c.do("WATCH", w); got != "+OK" {
		t.Fatalf("WATCH = %q", got)
	}
	if got := other.do("SET", w, "changed"); got != "+OK" {
		t.Fatalf("SET = %q", got)
	}
	c.send(append(append(cmd("MULTI"), cmd("SET", w, "mine")...), cmd("EXEC")...))
	for i, want := range []string{"+OK", "+QUEUED", "*-1"} {
		if got := c.read(); got != want {
			t.Fatalf("watched tx: reply %d = %q, want %q", i, got, want)
		}
	}
	if got := c.do("GET", w); got != "$7|changed" {
		t.Fatalf("GET after aborted watched tx = %q", got)
	}
}

// TestSessionHandoff: a client authenticated as an ACL user has its
// requests for remote keys run with its own session (permissions apply),
// in order with its local ones.
func TestSessionHandoff(t *testing.T) {
	ns := testenv.NewNetns(t, "acl")
	s := startIn(t, ns, Config{TCPAddr: "127.0.0.1:7602", Loops: 2})
	admin := dialIn(t, ns, "127.0.0.1:7602", 0)
	if got := admin.do("ACL", "SETUSER", "acme", "on", ">pw", "~{acme}*", "+@all"); got != "+OK" {
		t.Fatalf("ACL SETUSER = %q", got)
	}
	c := dialIn(t, ns, "127.0.0.1:7602", 40010) // no program: the kernel hash picks the loop
	if got := c.do("AUTH", "acme", "pw"); got != "+OK" {
		t.Fatalf("AUTH = %q", got)
	}
	own := "{acme}:x"
	other, _ := keyOwnedBy(s, "other", 1-s.ownerOfKey(own), 0)
	var b []byte
	var want []string
	for i := range 50 {
		b = append(b, cmd("SET", own, fmt.Sprint(i))...)
		want = append(want, "+OK")
		b = append(b, cmd("GET", other)...)
		want = append(want, "-NOPERM")
		b = append(b, cmd("INCR", own)...)
		want = append(want, fmt.Sprintf(":%d", i+1))
	}
	c.send(b)
	for i, w := range want {
		if got := c.read(); !strings.HasPrefix(got, w) {
			t.Fatalf("reply %d = %q, want %q...", i, got, w)
		}
	}
}

// TestActiveExpiry: keys nobody reads are reclaimed by the per-loop expiry
// step scheduled from the ticker onto each loop.
func TestActiveExpiry(t *testing.T) {
	ns := testenv.NewNetns(t, "exp")
	s := startIn(t, ns, Config{TCPAddr: "127.0.0.1:7603", Loops: 2, ExpireEvery: 20 * time.Millisecond})
	c := dialIn(t, ns, "127.0.0.1:7603", 0)
	var b []byte
	for i := range 200 {
		b = append(b, cmd("SET", fmt.Sprintf("e%d", i), "v", "PX", "30")...)
	}
	c.send(b)
	for range 200 {
		if got := c.read(); got != "+OK" {
			t.Fatalf("SET PX = %q", got)
		}
	}
	// DBSIZE counts expired keys until they are reclaimed, as Redis does.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got := c.do("DBSIZE")
		if got == ":0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("DBSIZE = %s long after every key expired: active expiry did not run", got)
		}
	}
	for i, ls := range s.Stats() {
		if ls.Wakeups == 0 {
			t.Errorf("loop %d was never woken by its doorbell", i)
		}
	}
}
