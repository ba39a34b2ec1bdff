package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/dorivo/dorivo/datapath/command"
	"github.com/dorivo/dorivo/internal/fullfs"
	"github.com/dorivo/dorivo/internal/testenv"
	"github.com/dorivo/dorivo/shardstore/durable"
)

// nodeFromStore is what the agent does at start: the store's users, if it
// has any.
func nodeFromStore(t *testing.T, st *durable.Store) *command.Node {
	n := command.NewNode()
	if gen, text, ok := st.Users(); ok {
		if err := n.LoadUsers(gen, text, "store"); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// ACL SETUSER is acknowledged only once the user table's record is synced,
// the loop serving others meanwhile; the users come back after a restart
// (the agent reloads them from the store), and ACL LOAD's table too.
func TestACLChangesWaitForFsyncAndSurviveRestart(t *testing.T) {
	ns := testenv.NewNetns(t, "aclgate")
	fs := newGateFS()
	const addr = "127.0.0.1:7195"
	cfg := Config{TCPAddr: addr, Loops: 2}
	n := startDurable(t, ns, "/db", durable.Options{FS: fs}, cfg)
	t.Cleanup(func() {
		if fs.closed.Swap(false) {
			close(fs.open)
		}
	})
	w := dialIn(t, ns, addr, 0)
	r := dialIn(t, ns, addr, 0)
	expect(t, w, "+OK", "ACL", "SETUSER", "alice", "on", ">pw", "~{a}*", "+@read")

	fs.closed.Store(true)
	w.send(cmd("ACL", "SETUSER", "bob", "on", ">pw2", "+@all", "~*"))
	<-fs.waiting // the users record is in its fsync
	expect(t, r, "$4|PONG", "ECHO", "PONG")
	noReply(t, w, "ACL SETUSER while its fsync is blocked")
	fs.closed.Store(false)
	close(fs.open)
	if got := w.read(); got != "+OK" {
		t.Fatalf("ACL SETUSER after the fsync = %q", got)
	}
	expect(t, w, "+OK", "CONFIG", "SET", "requirepass", "sekret")
	expect(t, w, ":1", "ACL", "DELUSER", "alice")
	list := w.do("ACL", "LIST")

	n.stop(t)
	st, err := durable.Open("/db", durable.Options{FS: fs, Shards: 2, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Node = nodeFromStore(t, st)
	st.Close()
	n = startDurable(t, ns, "/db", durable.Options{FS: fs}, cfg)
	c := dialIn(t, ns, addr, 0)
	expect(t, c, "-NOAUTH Authentication required.", "ACL", "LIST")
	expect(t, c, "+OK", "AUTH", "sekret")
	if got := c.do("ACL", "LIST"); got != list {
		t.Fatalf("ACL LIST after restart:\n%s\nwant\n%s", got, list)
	}

	// ACL LOAD runs off the loop and its table is durable too.
	file := filepath.Join(t.TempDir(), "users.acl")
	cfg.Node.SetACLFile(file)
	os.WriteFile(file, []byte("user default on nopass ~* &* +@all\nuser carol on nopass ~c* +get\n"), 0o600)
	expect(t, c, "+OK", "ACL", "LOAD")
	expect(t, c, "*2|$5|carol|$7|default", "ACL", "USERS")
	n.stop(t)
	st, err = durable.Open("/db", durable.Options{FS: fs, Shards: 2, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	_, text, _ := st.Users()
	st.Close()
	if want := "user carol on nopass ~c* resetchannels -@all +get\nuser default on nopass ~* &* +@all\n"; string(text) != want {
		t.Fatalf("stored users after ACL LOAD %q, want %q", text, want)
	}
}

// On a full disk ACL SETUSER is refused before it changes anything.
func TestACLSetuserRefusedOnFullDisk(t *testing.T) {
	ns := testenv.NewNetns(t, "aclfull")
	fs := fullfs.New(vfs.NewMem())
	const addr = "127.0.0.1:7196"
	n := startDurable(t, ns, "/db", durable.Options{FS: fs}, Config{TCPAddr: addr, Loops: 1})
	t.Cleanup(func() { fs.SetFull(false) })
	c := dialIn(t, ns, addr, 0)
	stalled := dialIn(t, ns, addr, 0)
	fs.SetFull(true)
	stalled.send(cmd("SET", "inflight", "1"))
	testenv.WaitFor(t, "the store to report the full disk", func() bool { return n.store.DiskError() != nil })
	got := c.do("ACL", "SETUSER", "eve", "on", "nopass")
	if !strings.HasPrefix(got, "-ERR write failed, disk full") || strings.Contains(got, "/") {
		t.Fatalf("ACL SETUSER on a full disk = %q", got)
	}
	expect(t, c, "*1|$7|default", "ACL", "USERS")
}

// A restart on a full disk serves: GET of the keys written before, and
// every write refused with the disk-full error, which names no path.
// Before, the store's Open stalled until space was back: no listener.
func TestRestartOnFullDiskServesReads(t *testing.T) {
	ns := testenv.NewNetns(t, "fullstart")
	fs := fullfs.New(vfs.NewMem())
	const addr = "127.0.0.1:7197"
	cfg := Config{TCPAddr: addr, Loops: 2}
	n := startDurable(t, ns, "/db", durable.Options{FS: fs}, cfg)
	c := dialIn(t, ns, addr, 0)
	expect(t, c, "+OK", "SET", "k1", "v1")
	expect(t, c, "+OK", "SET", "k2", "v2")
	n.stop(t)

	fs.SetFull(true)
	t.Cleanup(func() { fs.SetFull(false) })
	n = startDurable(t, ns, "/db", durable.Options{FS: fs}, cfg)
	c = dialIn(t, ns, addr, 0)
	expect(t, c, "$2|v1", "GET", "k1")
	expect(t, c, "$2|v2", "GET", "k2")
	for _, w := range [][]string{{"SET", "k3", "v3"}, {"DEL", "k1"}, {"ACL", "SETUSER", "x", "on"}} {
		got := c.do(w...)
		if got != "-ERR write failed, disk full: no space left on device" {
			t.Fatalf("%v on a full disk after restart = %q", w, got)
		}
	}
	expect(t, c, "$2|v1", "GET", "k1")
}
