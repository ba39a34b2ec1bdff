package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/dorivo/dorivo/datapath/wire"
	"github.com/dorivo/dorivo/internal/fullfs"
	"github.com/dorivo/dorivo/internal/testenv"
	"github.com/dorivo/dorivo/shardstore/durable"
	"github.com/dorivo/dorivo/shardstore/slot"
	"golang.org/x/sys/unix"
)

// durableNode is a server over a store, stopped in the order the agent
// uses: server first (no more proposals), then the store.
type durableNode struct {
	srv   *Server
	store *durable.Store
	once  sync.Once
}

func (n *durableNode) stop(t *testing.T) {
	t.Helper()
	n.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := n.srv.Stop(ctx); err != nil {
			t.Errorf("stop server: %v", err)
		}
		if err := n.store.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// startDurable opens the store in dir with one shard per loop and starts a
// server over it inside ns.
func startDurable(t *testing.T, ns *testenv.Netns, dir string, opts durable.Options, cfg Config) *durableNode {
	t.Helper()
	if opts.Shards == 0 {
		opts.Shards = cfg.Loops
	}
	opts.Logger = quiet
	st, err := durable.Open(dir, opts)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	cfg.Store = st
	cfg.Logger = quiet
	var s *Server
	ns.Do(t, func() {
		s, err = New(cfg)
		if err == nil {
			err = s.Start()
		}
	})
	if err != nil {
		st.Close()
		t.Fatalf("start server: %v", err)
	}
	n := &durableNode{srv: s, store: st}
	t.Cleanup(func() { n.stop(t) })
	return n
}

func expect(t *testing.T, c *client, want string, args ...string) {
	t.Helper()
	if got := c.do(args...); got != want {
		t.Fatalf("%s = %q, want %q", strings.Join(args, " "), got, want)
	}
}

// Writes through RESP (on both loops, split across loops, with TTLs, INCR,
// DEL, EXPIRE, PERSIST, FLUSHALL) and through datagrams are all there after
// the server and the store are stopped and reopened in a fresh server; a key
// whose TTL passed while the node was down is gone.
func TestDurableWritesSurviveRestart(t *testing.T) {
	ns := testenv.NewNetns(t, "dur")
	dir := t.TempDir()
	const addr = "127.0.0.1:7190"
	cfg := Config{TCPAddr: addr, Loops: 2}
	n := startDurable(t, ns, dir, durable.Options{}, cfg)
	c := dialIn(t, ns, addr, 0)

	k0, _ := keyOwnedBy(n.srv, "a", 0, 0)
	k1, _ := keyOwnedBy(n.srv, "b", 1, 0)
	expect(t, c, "+OK", "SET", k0, "v0")
	expect(t, c, "+OK", "SET", k1, "v1")
	expect(t, c, "+OK", "SET", "{x}counter", "10")
	expect(t, c, ":11", "INCR", "{x}counter")
	expect(t, c, ":12", "INCR", "{x}counter")
	expect(t, c, "+OK", "MSET", k0+"m", "m0", k1+"m", "m1", "{y}m", "m2") // split across loops
	expect(t, c, "+OK", "SET", "gone", "x")
	expect(t, c, ":1", "DEL", "gone")
	expect(t, c, "+OK", "SET", "ttl", "t", "EX", "1000")
	expect(t, c, "+OK", "SET", "persisted", "p", "EX", "1000")
	expect(t, c, ":1", "PERSIST", "persisted")
	expect(t, c, "+OK", "SET", "expiring", "e")
	expect(t, c, ":1", "EXPIRE", "expiring", "2000")
	expect(t, c, "+OK", "SET", "short", "s", "PX", "300")
	// Cleared by FLUSHALL, then written again after it.
	expect(t, c, "+OK", "SET", "flushed", "f")
	expect(t, c, "+OK", "FLUSHALL")
	expect(t, c, "+OK", "MSET", k0, "v0", k1, "v1", "{x}counter", "12", k0+"m", "m0", k1+"m", "m1", "{y}m", "m2")
	expect(t, c, "+OK", "SET", "ttl", "t", "EX", "1000")
	expect(t, c, "+OK", "SET", "persisted", "p")
	expect(t, c, "+OK", "SET", "expiring", "e", "EX", "2000")
	expect(t, c, "+OK", "SET", "short", "s", "PX", "300")
	// Cross-loop transactions: each owner's part is durable before the reply.
	expect(t, c, "+OK", "MULTI")
	expect(t, c, "+QUEUED", "SET", k0+"tx", "t0")
	expect(t, c, "+QUEUED", "SET", k1+"tx", "t1")
	expect(t, c, "*2|+OK|+OK", "EXEC")
	expect(t, c, ":1", "MSETNX", k0+"nx", "n0", k1+"nx", "n1")
	shortGone := time.Now().Add(300 * time.Millisecond)
	n.stop(t)
	for time.Now().Before(shortGone.Add(50 * time.Millisecond)) {
		time.Sleep(10 * time.Millisecond) // let "short" expire while the node is down
	}

	n = startDurable(t, ns, dir, durable.Options{}, cfg)
	c = dialIn(t, ns, addr, 0)
	for k, v := range map[string]string{k0 + "tx": "t0", k1 + "tx": "t1", k0 + "nx": "n0", k1 + "nx": "n1", k0: "v0", k1: "v1", "{x}counter": "12", k0 + "m": "m0", k1 + "m": "m1", "{y}m": "m2", "ttl": "t", "persisted": "p", "expiring": "e"} {
		expect(t, c, fmt.Sprintf("$%d|%s", len(v), v), "GET", k)
	}
	for _, k := range []string{"gone", "flushed", "short"} {
		expect(t, c, "$-1", "GET", k)
	}
	expect(t, c, ":-1", "TTL", "persisted")
	for k, max := range map[string]int{"ttl": 1000, "expiring": 2000} {
		got := c.do("TTL", k)
		ttl, err := strconv.Atoi(strings.TrimPrefix(got, ":"))
		if err != nil || ttl <= 0 || ttl > max {
			t.Fatalf("TTL %s after restart = %q, want 1..%d", k, got, max)
		}
	}
	expect(t, c, ":13", "INCR", "{x}counter")
}

// Restarting with a different loop count (and so a different slot table
// and store shard count), or with a table whose loops own interleaved
// slots (so a loop's slots span every store shard), keeps every key.
func TestDurableRestartWithOtherLoopCount(t *testing.T) {
	ns := testenv.NewNetns(t, "durloops")
	dir := t.TempDir()
	const addr = "127.0.0.1:7191"
	const keys = 500
	interleaved := new(slot.Table)
	for s := range interleaved {
		interleaved[s] = uint32(s % 2)
	}
	tables := []*slot.Table{nil, nil, nil, interleaved}
	loops := []int{2, 1, 3, 2}
	for round, nl := range loops {
		n := startDurable(t, ns, dir, durable.Options{}, Config{TCPAddr: addr, Loops: nl, Table: tables[round]})
		c := dialIn(t, ns, addr, 0)
		for r := range round {
			for i := range keys {
				k := fmt.Sprintf("r%d:k%d", r, i)
				expect(t, c, fmt.Sprintf("$%d|%s", len(k), k), "GET", k)
			}
		}
		var batch []byte
		for i := range keys {
			k := fmt.Sprintf("r%d:k%d", round, i)
			batch = append(batch, cmd("SET", k, k)...)
		}
		c.send(batch) // pipelined: many writes share fsyncs
		for range keys {
			if got := c.read(); got != "+OK" {
				t.Fatalf("round %d (%d loops): SET = %q", round, nl, got)
			}
		}
		if got := dbsize(t, c); got != (round+1)*keys {
			t.Fatalf("round %d: DBSIZE %d, want %d", round, got, (round+1)*keys)
		}
		n.stop(t)
	}
}

func dbsize(t *testing.T, c *client) int {
	t.Helper()
	got := c.do("DBSIZE")
	n, err := strconv.Atoi(strings.TrimPrefix(got, ":"))
	if err != nil {
		t.Fatalf("DBSIZE = %q", got)
	}
	return n
}

// gateFS blocks every fsync while closed, and says when one is waiting.
type gateFS struct {
	vfs.FS
	closed  atomic.Bool
	waiting chan struct{} // one token per fsync that found the gate closed
	open    chan struct{} // closed to release the blocked fsyncs
}

func newGateFS() *gateFS {
	return &gateFS{FS: vfs.NewMem(), waiting: make(chan struct{}, 1024), open: make(chan struct{})}
}

func (fs *gateFS) wrap(f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return &gateFile{File: f, fs: fs}, nil
}

func (fs *gateFS) Create(name string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	return fs.wrap(fs.FS.Create(name, cat))
}

func (fs *gateFS) ReuseForWrite(oldname, newname string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	return fs.wrap(fs.FS.ReuseForWrite(oldname, newname, cat))
}

func (fs *gateFS) OpenReadWrite(name string, cat vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	return fs.wrap(fs.FS.OpenReadWrite(name, cat, opts...))
}

func (fs *gateFS) gate() {
	if fs.closed.Load() {
		fs.waiting <- struct{}{}
		<-fs.open
	}
}

type gateFile struct {
	vfs.File
	fs *gateFS
}

func (f *gateFile) Sync() error                  { f.fs.gate(); return f.File.Sync() }
func (f *gateFile) SyncData() error              { f.fs.gate(); return f.File.SyncData() }
func (f *gateFile) SyncTo(n int64) (bool, error) { f.fs.gate(); return f.File.SyncTo(n) }

// noReply fails if c has a reply to read right now: buffered, or in the
// socket's receive queue. Only a reply that is already there can fail it:
// it never depends on how fast the server is.
func noReply(t *testing.T, c *client, what string) {
	t.Helper()
	if c.r.Buffered() > 0 || queued(t, c.c.(syscall.Conn)) {
		t.Fatalf("%s: a reply arrived before the store acknowledged the write", what)
	}
}

// queued reports whether c's socket has bytes to read (non-blocking
// MSG_PEEK).
func queued(t *testing.T, c syscall.Conn) bool {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var rerr error
	err = raw.Read(func(fd uintptr) bool {
		var b [64]byte
		n, _, rerr = unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if n <= 0 && rerr != unix.EAGAIN {
		t.Fatalf("peek: %d bytes, %v", n, rerr)
	}
	return n > 0
}

// A write's reply is held until the store has synced it, and so is every
// read of the key meanwhile (no dirty reads: a crash could still lose the
// write): while every fsync is blocked, neither the writer nor a reader of
// the key has a reply; both come once the fsync completes. The loop keeps
// serving other keys meanwhile.
func TestDurableReplyWaitsForFsync(t *testing.T) {
	ns := testenv.NewNetns(t, "durgate")
	fs := newGateFS()
	const addr = "127.0.0.1:7192"
	n := startDurable(t, ns, "/db", durable.Options{FS: fs}, Config{TCPAddr: addr, Loops: 1})
	t.Cleanup(func() {
		if fs.closed.Swap(false) {
			close(fs.open)
		}
	})
	w := dialIn(t, ns, addr, 0)
	r := dialIn(t, ns, addr, 0)
	expect(t, w, "+OK", "SET", "k", "old")

	fs.closed.Store(true)
	w.send(append(cmd("SET", "k", "new"), cmd("GET", "k")...))
	<-fs.waiting // the write's batch is in its fsync
	r.send(cmd("GET", "k"))
	expect(t, dialIn(t, ns, addr, 0), "$-1", "GET", "other")
	noReply(t, r, "GET of a key whose write's fsync is blocked (a dirty read)")
	noReply(t, w, "SET while its fsync is blocked")
	if st := n.store.Stats(); st.Acked != 1 {
		t.Fatalf("store acked %d writes, want 1 (the first SET)", st.Acked)
	}
	fs.closed.Store(false) // the cleanup must not close it again
	close(fs.open)
	if got := w.read(); got != "+OK" {
		t.Fatalf("SET after the fsync = %q", got)
	}
	// Read-your-writes: the pipelined GET came after the SET, in order.
	if got := w.read(); got != "$3|new" {
		t.Fatalf("GET after SET = %q", got)
	}
	if got := r.read(); got != "$3|new" {
		t.Fatalf("the other client's GET after the fsync = %q", got)
	}
}

// On a full disk: the write caught in the failing batch waits (it is
// acknowledged once space is back, never lost), new writes fail at once
// with an -ERR naming the disk problem, reads keep being served, and once
// space is back writes succeed. Everything acknowledged survives a restart;
// the refused write does not exist anywhere.
func TestDurableDiskFull(t *testing.T) {
	ns := testenv.NewNetns(t, "durfull")
	fs := fullfs.New(vfs.NewMem())
	const addr = "127.0.0.1:7193"
	cfg := Config{TCPAddr: addr, UDPAddr: addr, Loops: 2, Auth: authFor("refused")}
	n := startDurable(t, ns, "/db", durable.Options{FS: fs}, cfg)
	t.Cleanup(func() { fs.SetFull(false) }) // a failure must not leave the store's Close stuck
	c := dialIn(t, ns, addr, 0)
	stalled := dialIn(t, ns, addr, 0)
	expect(t, c, "+OK", "SET", "before", "1")

	fs.SetFull(true)
	stalled.send(cmd("SET", "inflight", "2"))
	testenv.WaitFor(t, "the store to report the full disk", func() bool { return n.store.DiskError() != nil })

	got := c.do("SET", "refused", "3")
	if !strings.HasPrefix(got, "-ERR write failed") || !strings.Contains(got, "no space left on device") {
		t.Fatalf("SET on a full disk = %q, want -ERR naming the disk problem", got)
	}
	if strings.Contains(got, "/") { // the store's file paths are for the log
		t.Fatalf("SET on a full disk = %q, shows the client a path", got)
	}
	dg := udpDialIn(t, ns, addr)
	dg.key = testKey // an unsigned reply would be cut to the request's length
	if rep := dg.do(wire.OpSet, "refused", "3"); rep.Status != wire.StatusError ||
		!strings.Contains(string(rep.Body), "no space left on device") || strings.Contains(string(rep.Body), "/") {
		t.Fatalf("datagram SET on a full disk = %v %q", rep.Status, rep.Body)
	}
	if got := c.do("INCR", "before"); !strings.Contains(got, "no space left on device") {
		t.Fatalf("INCR on a full disk = %q", got)
	}
	refused := uint64(0)
	for _, st := range n.srv.Stats() {
		refused += st.WritesRefused
	}
	if refused != 3 { // SET, the datagram SET, INCR
		t.Fatalf("%d writes counted as refused, want 3", refused)
	}
	k0, _ := keyOwnedBy(n.srv, "a", 0, 0)
	k1, _ := keyOwnedBy(n.srv, "b", 1, 0)
	if got := c.do("MSET", k0, "x", k1, "y"); !strings.Contains(got, "no space left on device") { // across loops
		t.Fatalf("cross-loop MSET on a full disk = %q", got)
	}
	expect(t, c, "$-1", "GET", k0)
	expect(t, c, "$1|1", "GET", "before")
	expect(t, c, "$-1", "GET", "refused")
	noReply(t, stalled, "write stalled on the full disk")

	fs.SetFull(false)
	if got := stalled.read(); got != "+OK" {
		t.Fatalf("in-flight SET after space came back = %q", got)
	}
	testenv.WaitFor(t, "the disk error to clear", func() bool { return n.store.DiskError() == nil })
	expect(t, c, "+OK", "SET", "after", "4")
	n.stop(t)

	n = startDurable(t, ns, "/db", durable.Options{FS: fs}, cfg)
	c = dialIn(t, ns, addr, 0)
	for k, v := range map[string]string{"before": "1", "inflight": "2", "after": "4"} {
		expect(t, c, "$1|"+v, "GET", k)
	}
	expect(t, c, "$-1", "GET", "refused")
}

// When the store fails a write the keyspace already applied (here: its
// proposal queue is full while an fsync is blocked), the client gets -ERR,
// the loop refuses writes and keeps serving reads, and once the store is
// healthy the loop reloads its keyspace from disk: the failed write is gone
// from memory too, and writes resume.
func TestDurableFailedWriteReloadsKeyspace(t *testing.T) {
	ns := testenv.NewNetns(t, "durdiv")
	fs := newGateFS()
	const addr = "127.0.0.1:7194"
	n := startDurable(t, ns, "/db", durable.Options{FS: fs, QueueSize: 1}, Config{TCPAddr: addr, Loops: 1})
	t.Cleanup(func() { // before the store's Close, which waits for the fsync
		if fs.closed.Swap(false) {
			close(fs.open)
		}
	})
	a := dialIn(t, ns, addr, 0)
	b := dialIn(t, ns, addr, 0)
	c := dialIn(t, ns, addr, 0)
	expect(t, c, "+OK", "SET", "k", "durable")

	fs.closed.Store(true)
	a.send(cmd("SET", "a", "1"))
	<-fs.waiting                 // "a" is in the blocked fsync
	b.send(cmd("SET", "b", "2")) // fills the one-slot queue
	testenv.WaitFor(t, "the second write to be queued", func() bool { return n.store.Stats().Proposals == 3 })
	got := c.do("SET", "k", "lost")
	if !strings.HasPrefix(got, "-ERR write failed") || !strings.Contains(got, "overloaded") {
		t.Fatalf("SET refused by the store = %q", got)
	}
	if got := c.do("SET", "other", "x"); !strings.HasPrefix(got, "-ERR write failed") {
		t.Fatalf("write on a diverged loop = %q, want refused", got)
	}
	// The refused write's value is in the loop's memory, not on disk: a
	// read of it must not show it.
	if got := c.do("GET", "k"); !strings.HasPrefix(got, "-TRYAGAIN") {
		t.Fatalf("read of the failed write's key on a diverged loop = %q, want -TRYAGAIN", got)
	}
	expect(t, c, "$-1", "GET", "unwritten")

	fs.closed.Store(false) // the cleanup must not close it again
	close(fs.open)
	if got := a.read(); got != "+OK" {
		t.Fatalf("SET a = %q", got)
	}
	if got := b.read(); got != "+OK" {
		t.Fatalf("SET b = %q", got)
	}
	testenv.WaitFor(t, "writes to resume", func() bool { return c.do("SET", "z", "1") == "+OK" })
	expect(t, c, "$7|durable", "GET", "k")
	expect(t, c, "$1|1", "GET", "a")
	expect(t, c, "$1|2", "GET", "b")
}

// A key's records always go to the shard of its slot, so with several
// shards per loop the store stays consistent with the keyspace.
func TestDurableSeveralShardsPerLoop(t *testing.T) {
	ns := testenv.NewNetns(t, "durk")
	dir := t.TempDir()
	const addr = "127.0.0.1:7195"
	cfg := Config{TCPAddr: addr, Loops: 2}
	n := startDurable(t, ns, dir, durable.Options{Shards: 8}, cfg)
	c := dialIn(t, ns, addr, 0)
	var keys []string
	for i := range 64 {
		keys = append(keys, fmt.Sprintf("k%d", i))
	}
	args := []string{"MSET"}
	for _, k := range keys {
		args = append(args, k, k)
	}
	before := make([]uint64, 8)
	for sh := range before {
		before[sh] = n.store.AppliedIndex(uint32(sh))
	}
	expect(t, c, "+OK", args...)
	used := 0
	for sh := range before {
		if n.store.AppliedIndex(uint32(sh)) > before[sh] {
			used++
		}
	}
	if used < 3 {
		t.Fatalf("64 keys went to %d of 8 shards", used)
	}
	n.stop(t)
	n = startDurable(t, ns, dir, durable.Options{Shards: 8}, cfg)
	c = dialIn(t, ns, addr, 0)
	for _, k := range keys {
		expect(t, c, fmt.Sprintf("$%d|%s", len(k), k), "GET", k)
	}
	if st := n.store.Stats(); st.Proposals != 0 {
		t.Fatalf("reads proposed %d writes", st.Proposals)
	}
}

// Replies that cross loops are held too: a write forwarded to its owner, a
// cross-loop transaction (each owner's ack waits for its part to be
// durable), and a datagram SET. While every fsync is blocked no reply
// leaves, not even a reader's of those keys; they all arrive, in order,
// once the fsync completes.
func TestDurableHeldAcrossLoops(t *testing.T) {
	ns := testenv.NewNetns(t, "durx")
	fs := newGateFS()
	const addr = "127.0.0.1:7196"
	n := startDurable(t, ns, "/db", durable.Options{FS: fs}, Config{TCPAddr: addr, UDPAddr: addr, Loops: 2})
	t.Cleanup(func() {
		if fs.closed.Swap(false) {
			close(fs.open)
		}
	})
	k0, _ := keyOwnedBy(n.srv, "a", 0, 0)
	k1, _ := keyOwnedBy(n.srv, "b", 1, 0)
	w := dialIn(t, ns, addr, 0)  // the transaction
	w2 := dialIn(t, ns, addr, 0) // plain SETs, one of which crosses loops
	r := dialIn(t, ns, addr, 0)
	u := udpDialIn(t, ns, addr)
	expect(t, w, "+OK", "MULTI") // queued on w's own loop: no write yet
	expect(t, w, "+QUEUED", "SET", k0, "tx0")
	expect(t, w, "+QUEUED", "SET", k1, "tx1")

	fs.closed.Store(true)
	w.send(cmd("EXEC"))
	<-fs.waiting
	// Not the transaction's keys: those stay held until it is durable.
	p0, _ := keyOwnedBy(n.srv, "p", 0, 0)
	p1, _ := keyOwnedBy(n.srv, "q", 1, 0)
	w2.send(append(cmd("SET", p0, "s0"), cmd("SET", p1, "s1")...))
	u.id++
	dg, err := wire.AppendRequest(nil, &wire.Request{ID: u.id, Op: wire.OpSet, Key: []byte("{u}k"), Value: []byte("dg")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.c.Write(dg); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "the writes to be proposed", func() bool { return n.store.Stats().Proposals >= 4 })
	r.send(cmd("GET", p0))
	noReply(t, r, "GET of a key whose write is not synced (a dirty read)")
	noReply(t, w, "EXEC while the fsync is blocked")
	noReply(t, w2, "SETs while the fsync is blocked")
	if queued(t, u.c) {
		t.Fatal("datagram SET answered before the store acknowledged it")
	}

	fs.closed.Store(false)
	close(fs.open)
	if got := w.read(); got != "*2|+OK|+OK" {
		t.Fatalf("EXEC after the fsync = %q", got)
	}
	if got := r.read(); got != "$2|s0" {
		t.Fatalf("GET after the fsync = %q", got)
	}
	expect(t, r, "$2|s1", "GET", p1)
	expect(t, r, "$2|dg", "GET", "{u}k")
	expect(t, r, "$3|tx0", "GET", k0)
	expect(t, r, "$3|tx1", "GET", k1)
	for range 2 {
		if got := w2.read(); got != "+OK" {
			t.Fatalf("SET after the fsync = %q", got)
		}
	}
	_ = u.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	nb, err := u.c.Read(u.buf)
	if err != nil {
		t.Fatalf("datagram reply: %v", err)
	}
	var rep wire.Reply
	if err := wire.ParseReply(u.buf[:nb], &rep); err != nil || rep.Status != wire.StatusOK || rep.ID != u.id {
		t.Fatalf("datagram reply %+v, %v", rep, err)
	}
}

// A cross-loop transaction whose part the store refuses after it ran
// (here: the proposal queue is full while an fsync is blocked) gets an
// error reply, never +OK, and once the store is healthy its loops reload:
// the refused part is gone from memory too.
func TestDurableCrossLoopFailureIsReported(t *testing.T) {
	ns := testenv.NewNetns(t, "durxf")
	fs := newGateFS()
	const addr = "127.0.0.1:7197"
	n := startDurable(t, ns, "/db", durable.Options{FS: fs, QueueSize: 1}, Config{TCPAddr: addr, Loops: 2})
	t.Cleanup(func() {
		if fs.closed.Swap(false) {
			close(fs.open)
		}
	})
	k0, _ := keyOwnedBy(n.srv, "a", 0, 0)
	k1, _ := keyOwnedBy(n.srv, "b", 1, 0)
	a := dialIn(t, ns, addr, 0)
	b := dialIn(t, ns, addr, 0)
	c := dialIn(t, ns, addr, 0)
	// One write at a time: the one-slot queue (held proposals included)
	// could refuse a cross-loop MSET's second part here already.
	expect(t, c, "+OK", "SET", k0, "old")
	expect(t, c, "+OK", "SET", k1, "old")

	fs.closed.Store(true)
	a.send(cmd("SET", "{z}a", "1"))
	<-fs.waiting
	b.send(cmd("SET", "{z}b", "2")) // fills the one-slot queue
	testenv.WaitFor(t, "the second write to be queued", func() bool { return n.store.Stats().Proposals == 4 })
	c.send(cmd("MSET", k0, "new", k1, "new"))
	testenv.WaitFor(t, "the store to refuse a part", func() bool { return n.store.Stats().Rejected > 0 })
	fs.closed.Store(false)
	close(fs.open)
	if got := c.read(); !strings.HasPrefix(got, "-ERR write failed") {
		t.Fatalf("cross-loop MSET the store refused = %q, want -ERR", got)
	}
	for _, w := range []*client{a, b} {
		if got := w.read(); got != "+OK" {
			t.Fatalf("SET = %q", got)
		}
	}
	testenv.WaitFor(t, "writes to resume", func() bool { return c.do("SET", "{z}c", "1") == "+OK" && c.do("SET", k0+"{x}", "1") == "+OK" })
	// The refused part is gone from memory; a part another loop made
	// durable may stay (the reply said the outcome failed, not that
	// nothing happened): memory matches the disk either way.
	got0, got1 := c.do("GET", k0), c.do("GET", k1)
	if got0 == "$3|new" && got1 == "$3|new" {
		t.Fatal("both parts visible after the store refused one")
	}
	n.stop(t)
	n = startDurable(t, ns, "/db", durable.Options{FS: fs}, Config{TCPAddr: addr, Loops: 2})
	c = dialIn(t, ns, addr, 0)
	expect(t, c, got0, "GET", k0)
	expect(t, c, got1, "GET", k1)
}
