package server

import (
	"fmt"
	"strings"
	"testing"

	"github.com/dorivo/dorivo/internal/testenv"
)

// A connection that authenticates as a tenant (a user confined to one hash
// tag) moves to the loop owning that tag's slot, in the middle of its
// pipeline: every reply comes back in order, MULTI state and the session
// survive, and its requests from then on cross no loop.
func TestTenantConnectionMovesHome(t *testing.T) {
	ns := testenv.NewNetns(t, "move")
	const addr = "127.0.0.1:7331"
	s := startIn(t, ns, Config{TCPAddr: addr, Loops: 2})
	admin := dialIn(t, ns, addr, 0)
	expect(t, admin, "+OK", "ACL", "SETUSER", "acme", "on", ">pw", "~{acme}*", "+@all")
	home := s.ownerOfKey("{acme}x")

	var b []byte
	want := []string{"+OK", "+OK", "+OK", "$1|7", ":1", "+OK", "+QUEUED", "+QUEUED", "*2|+OK|:2", "$-1", "$5|acme!"}
	b = append(b, cmd("SET", "plain", "1")...)
	b = append(b, cmd("AUTH", "acme", "pw")...)
	b = append(b, cmd("SET", "{acme}a", "7")...)
	b = append(b, cmd("GET", "{acme}a")...)
	b = append(b, cmd("INCR", "{acme}n")...)
	b = append(b, cmd("MULTI")...)
	b = append(b, cmd("SET", "{acme}b", "x")...)
	b = append(b, cmd("INCR", "{acme}n")...)
	b = append(b, cmd("EXEC")...)
	b = append(b, cmd("GET", "{acme}none")...)
	b = append(b, cmd("ECHO", "acme!")...)
	moved := 0
	for i := range 16 { // the kernel hashes connections over both loops
		c := dialIn(t, ns, addr, 0)
		c.send(b)
		for j, w := range want {
			if j == 4 {
				w = fmt.Sprintf(":%d", 2*i+1)
			}
			if j == 8 {
				w = fmt.Sprintf("*2|+OK|:%d", 2*i+2)
			}
			if got := c.read(); got != w {
				t.Fatalf("conn %d reply %d = %q, want %q", i, j, got, w)
			}
		}
		// A transaction queued before the AUTH that runs inside it.
		c.send(append(append(append(cmd("MULTI"), cmd("AUTH", "acme", "pw")...), cmd("SET", "{acme}m", "1")...), cmd("EXEC")...))
		for j, w := range []string{"+OK", "+QUEUED", "+QUEUED", "*2|+OK|+OK"} {
			if got := c.read(); got != w {
				t.Fatalf("conn %d MULTI reply %d = %q, want %q", i, j, got, w)
			}
		}
		before := crossSent(s)
		for range 50 {
			expect(t, c, "$1|7", "GET", "{acme}a")
		}
		if d := crossSent(s) - before; d != 0 {
			t.Fatalf("conn %d: %d messages crossed loops for 50 of the tenant's GETs", i, d)
		}
		if got := c.do("ACL", "WHOAMI"); got != "$4|acme" {
			t.Fatalf("conn %d: WHOAMI after the move = %q", i, got)
		}
		if got := c.do("GET", "plain"); !strings.HasPrefix(got, "-NOPERM") {
			t.Fatalf("conn %d: GET of another tenant's key = %q", i, got)
		}
	}
	for _, st := range s.Stats() {
		if st.Loop == home {
			moved += int(st.Moved)
		} else if st.Moved != 0 {
			t.Fatalf("loop %d adopted %d connections; only loop %d is acme's home", st.Loop, st.Moved, home)
		}
	}
	if moved == 0 {
		t.Fatal("no connection moved: none landed on the other loop")
	}
	if got := admin.do("INFO"); !strings.Contains(got, "connected_clients:17") {
		t.Fatalf("INFO after the moves: connected_clients is not 17: %q", infoField(got, "connected_clients"))
	}
}

func crossSent(s *Server) (n uint64) {
	for _, st := range s.Stats() {
		n += st.CrossSent
	}
	return n
}

// A tenant confined to its tag can neither see nor destroy other tenants'
// data: FLUSHALL and FLUSHDB delete only the keys it may touch, DBSIZE and
// INFO keyspace count only those (they flushed and counted every key).
func TestTenantFlushAndCountsAreConfined(t *testing.T) {
	ns := testenv.NewNetns(t, "tflush")
	const addr = "127.0.0.1:7332"
	startIn(t, ns, Config{TCPAddr: addr, Loops: 2})
	admin := dialIn(t, ns, addr, 0)
	expect(t, admin, "+OK", "ACL", "SETUSER", "acme", "on", ">pw", "~{acme}*", "+@all", "-@admin")
	for i := range 10 {
		expect(t, admin, "+OK", "SET", fmt.Sprintf("{acme}%d", i), "a")
		expect(t, admin, "+OK", "SET", fmt.Sprintf("{beta}%d", i), "b")
	}
	expect(t, admin, "+OK", "SET", "{acme}ttl", "a", "EX", "1000")
	acme := dialIn(t, ns, addr, 0)
	expect(t, acme, "+OK", "AUTH", "acme", "pw")
	expect(t, acme, ":11", "DBSIZE")
	if got := infoField(acme.do("INFO", "keyspace"), "db0"); got != "keys=11,expires=1,avg_ttl=0" {
		t.Fatalf("tenant's INFO keyspace = %q", got)
	}
	expect(t, acme, "+OK", "FLUSHALL")
	expect(t, acme, ":0", "DBSIZE")
	expect(t, admin, ":10", "DBSIZE")
	expect(t, admin, "$1|b", "GET", "{beta}3")
	expect(t, admin, "+OK", "SET", "{acme}x", "a")
	expect(t, acme, "+OK", "FLUSHDB")
	expect(t, admin, ":10", "DBSIZE")
}
