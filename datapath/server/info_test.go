package server

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dorivo/dorivo/internal/testenv"
)

// infoField returns field's value in an INFO reply ("$n|...").
func infoField(reply, field string) string {
	for _, line := range strings.Split(strings.ReplaceAll(reply, "|", "\n"), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSuffix(v, "\r")
		}
	}
	return ""
}

// INFO keyspace and expired_keys count every loop's keys, whichever loop
// serves the connection (they counted the serving loop's alone).
func TestInfoKeyspaceCountsEveryLoop(t *testing.T) {
	ns := testenv.NewNetns(t, "infoks")
	const addr = "127.0.0.1:7311"
	s := startIn(t, ns, Config{TCPAddr: addr, Loops: 2})
	c := dialIn(t, ns, addr, 0)
	for i := range 32 {
		if got := c.do("SET", fmt.Sprintf("k%d", i), "v"); got != "+OK" {
			t.Fatalf("SET = %q", got)
		}
	}
	for i := range 6 {
		if got := c.do("SET", fmt.Sprintf("e%d", i), "v", "PX", "1"); got != "+OK" {
			t.Fatalf("SET PX = %q", got)
		}
	}
	perLoop := map[int]bool{}
	for _, st := range s.Stats() {
		perLoop[st.Loop] = st.Keys > 0
	}
	if !perLoop[0] || !perLoop[1] {
		t.Fatalf("keys on one loop only: %+v", s.Stats())
	}
	time.Sleep(5 * time.Millisecond)
	for i := range 6 { // expire them now, wherever they live
		if got := c.do("GET", fmt.Sprintf("e%d", i)); got != "$-1" {
			t.Fatalf("GET of an expired key = %q", got)
		}
	}
	// Connections land on both loops (the kernel hashes their ports).
	for range 8 {
		c := dialIn(t, ns, addr, 0)
		if got := c.do("DBSIZE"); got != ":32" {
			t.Fatalf("DBSIZE = %q", got)
		}
		info := c.do("INFO")
		if got := infoField(info, "db0"); got != "keys=32,expires=0,avg_ttl=0" {
			t.Fatalf("INFO keyspace db0 = %q, want keys=32 (every loop)", got)
		}
		if got := infoField(info, "expired_keys"); got != "6" {
			t.Fatalf("INFO expired_keys = %q, want 6", got)
		}
	}
}

// SCAN 0 over one key returns 0 and the key, as Redis does, whichever
// loop holds it: an empty loop's range does not end the page (it returned
// the next loop's cursor and an empty page).
func TestScanOneKeyAcrossLoops(t *testing.T) {
	ns := testenv.NewNetns(t, "scan1")
	const addr = "127.0.0.1:7312"
	s := startIn(t, ns, Config{TCPAddr: addr, Loops: 3})
	c := dialIn(t, ns, addr, 0)
	k, _ := keyOwnedBy(s, "only", 2, 0)
	expect(t, c, "+OK", "SET", k, "v")
	for range 3 { // from connections on any loop
		c := dialIn(t, ns, addr, 0)
		if got, want := c.do("SCAN", "0"), fmt.Sprintf("*2|$1|0|*1|$%d|%s", len(k), k); got != want {
			t.Fatalf("SCAN 0 = %q, want %q", got, want)
		}
	}
}
