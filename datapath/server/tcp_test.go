package server

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dorivo/dorivo/internal/testenv"
)

// pipelineCheck writes n SET/GET pairs plus cross-loop MSET/MGET/DEL/EXISTS
// in one write and checks every reply, in order.
func pipelineCheck(c *client, prefix string, n int) error {
	var b bytes.Buffer
	var want []string
	for i := range n {
		k := fmt.Sprintf("%s:%d", prefix, i)
		v := fmt.Sprint(i)
		b.Write(cmd("SET", k, v))
		want = append(want, "+OK")
		b.Write(cmd("GET", k))
		want = append(want, fmt.Sprintf("$%d|%s", len(v), v))
		if i%50 == 49 {
			// Keys key:i-1..key:i-3 live on different loops most of the time.
			a, bb, cc := fmt.Sprintf("%s:%d", prefix, i-1), fmt.Sprintf("%s:%d", prefix, i-2), fmt.Sprintf("%s:%d", prefix, i-3)
			b.Write(cmd("MGET", a, bb, "nokey", cc))
			want = append(want, fmt.Sprintf("*4|$%d|%d|$%d|%d|$-1|$%d|%d",
				len(fmt.Sprint(i-1)), i-1, len(fmt.Sprint(i-2)), i-2, len(fmt.Sprint(i-3)), i-3))
			b.Write(cmd("MSET", a, "x", bb, "y", cc, "z"))
			want = append(want, "+OK")
			b.Write(cmd("MGET", a, bb, cc))
			want = append(want, "*3|$1|x|$1|y|$1|z")
			b.Write(cmd("EXISTS", a, bb, cc, "nokey", a))
			want = append(want, ":4")
			b.Write(cmd("DEL", a, bb, "nokey"))
			want = append(want, ":2")
			b.Write(cmd("GET", a))
			want = append(want, "$-1")
		}
	}
	go func() { _, _ = c.c.Write(b.Bytes()) }()
	_ = c.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for i, w := range want {
		got, err := readReply(c.r)
		if err != nil {
			return fmt.Errorf("reply %d: %w", i, err)
		}
		if got != w {
			return fmt.Errorf("reply %d = %q, want %q", i, got, w)
		}
	}
	return nil
}

// TestPipelineAcrossLoops: one connection, one write, requests for keys of
// every loop: replies come back complete and in request order.
func TestPipelineAcrossLoops(t *testing.T) {
	ns := testenv.NewNetns(t, "pipe")
	s := startIn(t, ns, Config{TCPAddr: "127.0.0.1:7301", Loops: 3})
	c := dialIn(t, ns, "127.0.0.1:7301", 0)
	if err := pipelineCheck(c, "key", 3000); err != nil {
		t.Fatal(err)
	}
	var cross, stalls uint64
	for _, ls := range s.Stats() {
		cross += ls.CrossSent
		stalls += ls.Stalls
	}
	if cross < 1000 {
		t.Errorf("only %d requests crossed loops; the test meant to mix owners", cross)
	}
	if got := c.do("DBSIZE"); got != fmt.Sprintf(":%d", 3000-2*60) {
		t.Errorf("DBSIZE = %q", got)
	}
	if got := c.do("FLUSHALL"); got != "+OK" {
		t.Errorf("FLUSHALL = %q", got)
	}
	if got := c.do("DBSIZE"); got != ":0" {
		t.Errorf("DBSIZE after FLUSHALL = %q", got)
	}
}

// TestBackpressure: rings of 2 slots, a tiny arena and a short reply queue,
// a burst far larger than all of them: connections stall and resume, and
// every reply still arrives, in order.
func TestBackpressure(t *testing.T) {
	ns := testenv.NewNetns(t, "bp")
	s := startIn(t, ns, Config{TCPAddr: "127.0.0.1:7302", Loops: 2, RingCap: 2, ArenaBytes: 128, MaxPending: 8})
	c1 := dialIn(t, ns, "127.0.0.1:7302", 0)
	c2 := dialIn(t, ns, "127.0.0.1:7302", 0)
	done := make(chan error)
	go func() { done <- pipelineCheck(c2, "two", 1000) }()
	if err := pipelineCheck(c1, "one", 2000); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var stalls uint64
	for _, ls := range s.Stats() {
		stalls += ls.Stalls
	}
	if stalls == 0 {
		t.Error("no connection ever stalled: the burst did not exercise backpressure")
	}
	// A value bigger than the arena travels on the heap.
	big := strings.Repeat("v", 1000)
	k1, _ := keyOwnedBy(s, "big", 0, 0)
	k2, _ := keyOwnedBy(s, "big", 1, 0)
	for _, k := range []string{k1, k2} {
		if got := c1.do("SET", k, big); got != "+OK" {
			t.Fatalf("SET big = %q", got)
		}
		if got := c1.do("GET", k); got != "$1000|"+big {
			t.Fatalf("GET big = %.40q", got)
		}
	}
}

// TestProtocolErrorCloses: a malformed request gets Redis's error text and
// the connection is closed, after the replies of the requests before it.
func TestProtocolErrorCloses(t *testing.T) {
	ns := testenv.NewNetns(t, "proto")
	s := startIn(t, ns, Config{TCPAddr: "127.0.0.1:7303", Loops: 2})
	c := dialIn(t, ns, "127.0.0.1:7303", 0)
	k, _ := keyOwnedBy(s, "k", 1, 0)
	c.send(append(cmd("SET", k, "1"), "*1\r\n$x\r\n"...))
	if got := c.read(); got != "+OK" {
		t.Fatalf("reply before the bad request = %q", got)
	}
	if got := c.read(); got != "-ERR Protocol error: invalid bulk length" {
		t.Fatalf("protocol error reply = %q", got)
	}
	_ = c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.r.ReadByte(); err != io.EOF {
		t.Fatalf("after a protocol error: read err %v, want EOF", err)
	}
}

// TestMaxClients: the client over maxclients gets Redis's error and is closed.
func TestMaxClients(t *testing.T) {
	ns := testenv.NewNetns(t, "maxcl")
	s := startIn(t, ns, Config{TCPAddr: "127.0.0.1:7304", Loops: 2, MaxClients: 2})
	a := dialIn(t, ns, "127.0.0.1:7304", 0)
	b := dialIn(t, ns, "127.0.0.1:7304", 0)
	for _, c := range []*client{a, b} {
		if got := c.do("PING"); got != "+PONG" {
			t.Fatalf("PING = %q", got)
		}
	}
	c := dialIn(t, ns, "127.0.0.1:7304", 0)
	if got := c.read(); got != "-ERR max number of clients reached" {
		t.Fatalf("third client got %q", got)
	}
	_ = c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.r.ReadByte(); err != io.EOF {
		t.Fatalf("third client: read err %v, want EOF", err)
	}
	a.c.Close()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		var open uint64
		for _, ls := range s.Stats() {
			open += ls.Conns
		}
		if open == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still open after one of two closed", open)
		}
	}
	d := dialIn(t, ns, "127.0.0.1:7304", 0)
	if got := d.do("PING"); got != "+PONG" {
		t.Fatalf("after a client left: PING = %q", got)
	}
}

// TestUnauthenticatedLimits: before AUTH a client gets Redis's stricter
// request limits (a multibulk of more than 10 arguments is refused).
func TestUnauthenticatedLimits(t *testing.T) {
	ns := testenv.NewNetns(t, "unauth")
	startIn(t, ns, Config{TCPAddr: "127.0.0.1:7305", Loops: 2})
	admin := dialIn(t, ns, "127.0.0.1:7305", 0)
	if got := admin.do("ACL", "SETUSER", "default", "resetpass", ">secret"); got != "+OK" {
		t.Fatalf("ACL SETUSER default resetpass >secret = %q", got)
	}
	c := dialIn(t, ns, "127.0.0.1:7305", 0)
	c.send([]byte("*11\r\n"))
	if got := c.read(); got != "-ERR Protocol error: unauthenticated multibulk length" {
		t.Fatalf("11-argument request before AUTH = %q", got)
	}
	d := dialIn(t, ns, "127.0.0.1:7305", 0)
	if got := d.do("AUTH", "secret"); got != "+OK" {
		t.Fatalf("AUTH = %q", got)
	}
	args := []string{"MSET"}
	for i := range 6 {
		args = append(args, fmt.Sprintf("k%d", i), "v")
	}
	if got := d.do(args...); got != "+OK" {
		t.Fatalf("13-argument MSET after AUTH = %q", got)
	}
}

// TestScanWalksEveryLoop: one SCAN iteration from cursor 0 to 0 returns
// every key, whichever loops hold them.
func TestScanWalksEveryLoop(t *testing.T) {
	ns := testenv.NewNetns(t, "scan")
	s := startIn(t, ns, Config{TCPAddr: "127.0.0.1:7306", Loops: 3})
	c := dialIn(t, ns, "127.0.0.1:7306", 0)
	var b []byte
	for i := range 1000 {
		b = append(b, cmd("SET", fmt.Sprintf("s%d", i), "v")...)
	}
	c.send(b)
	for range 1000 {
		c.read()
	}
	seen := map[string]bool{}
	cursor, calls := "0", 0
	for {
		r := c.do("SCAN", cursor, "COUNT", "7")
		calls++
		parts := strings.Split(r, "|")
		if len(parts) < 3 || parts[0] != "*2" {
			t.Fatalf("SCAN reply %q", r)
		}
		cursor = parts[2]
		for i := 4; i+1 < len(parts); i += 2 {
			seen[parts[i+1]] = true
		}
		if cursor == "0" {
			break
		}
		if calls > 10000 {
			t.Fatal("SCAN does not terminate")
		}
	}
	if len(seen) != 1000 {
		t.Fatalf("SCAN returned %d distinct keys of 1000", len(seen))
	}
	var per []uint64
	for _, ls := range s.Stats() {
		per = append(per, ls.CrossSent)
	}
	t.Logf("%d SCAN calls; cross-loop sends per loop %v", calls, per)
}

// TestConfiguredLimits: MaxMultibulk and MaxBulkLen from the configuration
// (the agent's --max-multibulk-len and --proto-max-bulk-len) apply, and
// CONFIG SET can raise proto-max-bulk-len past its starting value.
func TestConfiguredLimits(t *testing.T) {
	ns := testenv.NewNetns(t, "limits")
	startIn(t, ns, Config{TCPAddr: "127.0.0.1:7307", Loops: 2, MaxMultibulk: 4, MaxBulkLen: 1 << 20})
	c := dialIn(t, ns, "127.0.0.1:7307", 0)
	if got := c.do("CONFIG", "GET", "proto-max-bulk-len"); got != "*2|$18|proto-max-bulk-len|$7|1048576" {
		t.Fatalf("CONFIG GET proto-max-bulk-len = %q", got)
	}
	c.send([]byte("*2\r\n$3\r\nGET\r\n$1048577\r\n"))
	if got := c.read(); got != "-ERR Protocol error: invalid bulk length" {
		t.Fatalf("bulk past the start value: %q", got)
	}

	c = dialIn(t, ns, "127.0.0.1:7307", 0)
	if got := c.do("CONFIG", "SET", "proto-max-bulk-len", "2097152"); got != "+OK" {
		t.Fatalf("CONFIG SET = %q", got)
	}
	big := strings.Repeat("x", 1<<20+1)
	if got := c.do("SET", "{big}", big); got != "+OK" {
		t.Fatalf("SET of a bulk CONFIG SET allowed: %q", got)
	}
	// CONFIG SET above had 4 elements: at the limit. 5 is past it.
	c.send(cmd("MSET", "{a}1", "x", "{a}2", "y"))
	if got := c.read(); got != "-ERR Protocol error: invalid multibulk length" {
		t.Fatalf("5-element request = %q", got)
	}
	_ = c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.r.ReadByte(); err != io.EOF {
		t.Fatalf("after a protocol error: read err %v, want EOF", err)
	}
}

// TestConnectedClientsCountsClientsOnly: the sessions loops keep for each
// other's forwarded requests are not clients.
func TestConnectedClientsCountsClientsOnly(t *testing.T) {
	ns := testenv.NewNetns(t, "clients")
	startIn(t, ns, Config{TCPAddr: "127.0.0.1:7308", Loops: 3})
	c := dialIn(t, ns, "127.0.0.1:7308", 0)
	if got := c.do("INFO", "clients"); !strings.Contains(got, "connected_clients:1\r\n") && !strings.Contains(got, "connected_clients:1|") {
		t.Fatalf("INFO clients with one client, 3 loops: %q", got)
	}
}

// TestBroadcastRunsAsTheClientsUser: KEYS, DBSIZE and FLUSHALL run on every
// loop as the client's user. A tenant's KEYS lists only its own keys on
// every loop, and an admin's FLUSHALL is not refused on remote loops by the
// default user's rules.
func TestBroadcastRunsAsTheClientsUser(t *testing.T) {
	ns := testenv.NewNetns(t, "bcast")
	s := startIn(t, ns, Config{TCPAddr: "127.0.0.1:7309", Loops: 2})
	root := dialIn(t, ns, "127.0.0.1:7309", 0)
	own := "{acme}:k" // on whichever loop owns acme's slot
	var others []string
	for o := range 2 {
		k, _ := keyOwnedBy(s, "other", o, 0)
		others = append(others, k)
	}
	for _, k := range append([]string{own}, others...) {
		if got := root.do("SET", k, "v"); got != "+OK" {
			t.Fatalf("SET %s = %q", k, got)
		}
	}
	for _, c := range [][]string{
		{"ACL", "SETUSER", "acme", "on", ">pw", "~{acme}*", "+@all", "-@dangerous", "+keys"},
		{"ACL", "SETUSER", "admin", "on", ">pw", "~*", "+@all"},
		{"ACL", "SETUSER", "default", "-flushall", "-keys"},
	} {
		if got := root.do(c...); got != "+OK" {
			t.Fatalf("%v = %q", c, got)
		}
	}
	// Whichever loop a connection lands on, the other loop holds a key of
	// others: a remote part run as the default user would list it.
	for range 2 {
		c := dialIn(t, ns, "127.0.0.1:7309", 0)
		if got := c.do("AUTH", "acme", "pw"); got != "+OK" {
			t.Fatalf("AUTH acme = %q", got)
		}
		if got := c.do("KEYS", "*"); got != "*1|$"+strconv.Itoa(len(own))+"|"+own {
			t.Fatalf("tenant KEYS * = %q, want only %s", got, own)
		}
	}
	admin := dialIn(t, ns, "127.0.0.1:7309", 0)
	if got := admin.do("AUTH", "admin", "pw"); got != "+OK" {
		t.Fatalf("AUTH admin = %q", got)
	}
	if got := admin.do("FLUSHALL"); got != "+OK" {
		t.Fatalf("admin FLUSHALL = %q", got)
	}
	if got := admin.do("DBSIZE"); got != ":0" {
		t.Fatalf("DBSIZE after FLUSHALL = %q", got)
	}
}
