package server

import (
	"testing"

	"github.com/dorivo/dorivo/internal/testenv"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// TestTransactionBroadcasts: DBSIZE and FLUSHALL queued in MULTI act on
// every loop's keys at EXEC, as they do outside a transaction, and only on
// those a user confined to key patterns may touch.
func TestTransactionBroadcasts(t *testing.T) {
	tb, _ := slot.NewTable(2)
	objs := loadSteering(t, tb, 2, 7603)
	ns := testenv.NewNetns(t, "txb")
	s := startIn(t, ns, Config{TCPAddr: "127.0.0.1:7603", Loops: 2, Table: tb,
		TCPSockets: objs.TcpSockets, Reuseport: objs.ReuseportSelect})
	c := dialIn(t, ns, "127.0.0.1:7603", 40010)
	k0, _ := keyOwnedBy(s, "b", 0, 0)
	k1, _ := keyOwnedBy(s, "b", 1, 0)
	if got := c.do("MSET", k0, "1", k1, "2"); got != "+OK" {
		t.Fatalf("MSET = %q", got)
	}
	c.send(append(append(append(cmd("MULTI"), cmd("DBSIZE")...), cmd("FLUSHALL")...), cmd("EXEC")...))
	for i, want := range []string{"+OK", "+QUEUED", "+QUEUED", "*2|:2|+OK"} {
		if got := c.read(); got != want {
			t.Fatalf("MULTI DBSIZE FLUSHALL EXEC: reply %d = %q, want %q", i, got, want)
		}
	}
	if got := c.do("DBSIZE"); got != ":0" {
		t.Errorf("DBSIZE after the transaction's FLUSHALL = %q, want :0", got)
	}

	// A user confined to b* flushes only its keys, on every loop.
	z0, _ := keyOwnedBy(s, "z", 0, 0)
	z1, _ := keyOwnedBy(s, "z", 1, 0)
	if got := c.do("MSET", k0, "1", k1, "2", z0, "3", z1, "4"); got != "+OK" {
		t.Fatalf("MSET = %q", got)
	}
	if got := c.do("ACL", "SETUSER", "bee", "on", ">pw", "~b*", "+@all"); got != "+OK" {
		t.Fatalf("ACL SETUSER = %q", got)
	}
	u := dialIn(t, ns, "127.0.0.1:7603", 40012)
	if got := u.do("AUTH", "bee", "pw"); got != "+OK" {
		t.Fatalf("AUTH = %q", got)
	}
	u.send(append(append(append(cmd("MULTI"), cmd("FLUSHALL")...), cmd("DBSIZE")...), cmd("EXEC")...))
	for i, want := range []string{"+OK", "+QUEUED", "+QUEUED", "*2|+OK|:0"} {
		if got := u.read(); got != want {
			t.Fatalf("bee: MULTI FLUSHALL DBSIZE EXEC: reply %d = %q, want %q", i, got, want)
		}
	}
	if got := c.do("DBSIZE"); got != ":2" {
		t.Errorf("DBSIZE after bee's FLUSHALL = %q, want :2 (the z keys)", got)
	}
}
