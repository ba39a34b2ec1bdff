package core

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/dorivo/dorivo/datapath/command"
	"github.com/dorivo/dorivo/datapath/wire"
	"github.com/dorivo/dorivo/datapath/wire/auth"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// A harness runs several loops in one process, with no sockets: clients
// are byte buffers, the loops' rings are real and their doorbells mark the
// loop for a drain, the store keeps proposals until the test syncs them,
// and fetches are answered from the writes the loops reported.
type harness struct {
	t       testing.TB
	loops   []*Loop
	woken   []bool
	now     int64
	conns   map[string]*hconn
	order   []string
	store   *testStore
	values  map[string][]byte // the store's contents, from the Mutations hook
	locks   map[string]func()
	dgrams  []string // reply datagrams, decoded
	auth    atomic.Pointer[auth.Table]
	quotas  atomic.Pointer[Quotas]
	output  atomic.Int64 // the loops' shared unsent bytes, as the server's
	signKey wire.Key     // the last datagram's key, to verify its reply
	shed    ShedBoard
}

// hconn is a client: its unread request bytes and the replies it got.
type hconn struct {
	name string
	loop int
	in   hinput
	c    *Conn
	got  []byte
	// slow: replies wait in sock (the shell's unsent bytes) until "read".
	slow  bool
	sock  []byte
	ended bool
}

type hinput struct{ buf []byte }

func (in *hinput) Peek(int) ([]byte, error) { return in.buf, nil }
func (in *hinput) Discard(n int) (int, error) {
	in.buf = in.buf[n:]
	return n, nil
}
func (in *hinput) InboundBuffered() int { return len(in.buf) }

// testStore records proposals; the test completes them in any order.
type testStore struct {
	shards  int
	diskErr error
	pending []*proposal
	seq     int
	auto    bool // complete every proposal on the next run
}

type proposal struct {
	id    int
	shard uint32
	done  func(uint64, error)
}

func (s *testStore) ShardOf(sl uint16) uint32 { return uint32(sl) % uint32(s.shards) }
func (s *testStore) DiskError() error         { return s.diskErr }
func (s *testStore) Propose(shard uint32, _ []byte, done func(uint64, error)) {
	s.seq++
	s.pending = append(s.pending, &proposal{id: s.seq, shard: shard, done: done})
}

// complete ends the pending proposal id (0: all) with err.
func (s *testStore) complete(id int, err error) bool {
	for i, p := range s.pending {
		if id == 0 || p.id == id {
			p.done(uint64(p.id), err)
			s.pending = slices.Delete(s.pending, i, i+1)
			if id != 0 {
				return true
			}
			return s.complete(0, err)
		}
	}
	return id == 0
}

type harnessOpts struct {
	loops, ringCap, arena, deferCap, maxPending int
	durable                                     bool
	budget                                      int64
}

func newHarness(t testing.TB, o harnessOpts) *harness {
	h := &harness{t: t, conns: map[string]*hconn{}, values: map[string][]byte{}, locks: map[string]func(){}, now: 1_000_000}
	tb, err := slot.NewTable(o.loops)
	if err != nil {
		t.Fatal(err)
	}
	node := command.NewNode()
	h.woken = make([]bool, o.loops)
	if o.durable {
		h.store = &testStore{shards: 4, auto: true}
	}
	for i := range o.loops {
		cfg := Config{
			Index: i, Loops: o.loops, Table: tb, Node: node,
			Wake:     func() { h.woken[i] = true },
			DeferCap: o.deferCap, MaxPending: o.maxPending, MaxQueryBuffer: 1 << 30, ExpireBudget: 20,
			Mutations:   h.record,
			Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
			Auth:        &h.auth,
			Quotas:      &h.quotas,
			OutputTotal: &h.output,
			Shed:        &h.shed,
		}
		if h.store != nil {
			cfg.Store, cfg.HotValueBytes = h.store, o.budget
		}
		l, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		h.loops = append(h.loops, l)
	}
	if err := Connect(h.loops, o.ringCap, o.arena); err != nil {
		t.Fatal(err)
	}
	for _, l := range h.loops {
		l.Loaded()
	}
	return h
}

// record keeps the store's contents as the loops report their writes.
func (h *harness) record(_ int, muts []command.Mutation) {
	for _, m := range muts {
		switch m.Op {
		case command.OpSet:
			h.values[string(m.Key)] = append([]byte(nil), m.Val...)
		case command.OpDel:
			delete(h.values, string(m.Key))
		case command.OpFlush:
			clear(h.values)
		}
	}
}

// send queues RESP requests on c and hands them to its loop.
func (h *harness) send(c *hconn, reqs []string) {
	for _, r := range reqs {
		args := splitArgs(r)
		c.in.buf = fmt.Appendf(c.in.buf, "*%d\r\n", len(args))
		for _, a := range args {
			c.in.buf = fmt.Appendf(c.in.buf, "$%d\r\n%s\r\n", len(a), a)
		}
	}
	h.loops[c.loop].Traffic(c.c, h.now)
	h.collect()
}

// run drains woken loops until none is, answering fetches and, in auto
// mode, syncing proposals as they come; it fails on a livelock.
func (h *harness) run() {
	for range 10_000 {
		busy := false
		for i, l := range h.loops {
			if h.woken[i] {
				h.woken[i] = false
				busy = true
				l.Drain(h.now)
				h.collect()
			}
		}
		if h.answerFetches() {
			busy = true
		}
		if h.store != nil && h.store.auto && len(h.store.pending) > 0 {
			h.store.complete(0, nil)
			busy = true
		}
		if !busy {
			return
		}
	}
	h.t.Fatal("loops never went quiet")
}

// answerFetches answers every fetch request of every loop from values.
func (h *harness) answerFetches() bool {
	any := false
	for _, l := range h.loops {
		reqs, results := l.Fetches()
		for reqs != nil {
			select {
			case r := <-reqs:
				v, ok := h.values[r.Key]
				results <- FetchResult{FetchReq: r, Val: v, Found: ok}
				l.FetchDone()
				any = true
				continue
			default:
			}
			break
		}
	}
	return any
}

// collect moves the loops' output into the clients.
func (h *harness) collect() {
	for _, l := range h.loops {
		l.TakeDatagrams(func(d Datagram) {
			var r wire.Reply
			if err := wire.ParseReply(d.Buf, &r); err != nil {
				h.t.Fatalf("reply datagram: %v", err)
			}
			how := "unsigned"
			if r.Signed {
				how = "signed, MAC wrong"
				if wire.Verify(d.Buf, h.signKey) {
					how = "signed"
				}
			}
			h.dgrams = append(h.dgrams, fmt.Sprintf("datagram %d to %s (%d bytes, %s): %s %q", r.ID, d.To, len(d.Buf), how, r.Status, r.Body))
		})
		l.TakeOutput(func(c *Conn) {
			hc := c.Shell.(*hconn)
			if hc.slow {
				hc.sock = append(hc.sock, c.Out...)
				c.Out = c.Out[:0]
				l.Unsent(c, len(hc.sock))
				if c.CloseNow && !hc.ended {
					hc.ended = true
					hc.got = append(hc.got, "<closed>"...)
				}
			} else {
				hc.got = append(hc.got, c.Out...)
				c.Out = c.Out[:0]
			}
			if c.CloseNow {
				hc.got = append(hc.got, "<closed>"...)
			}
		})
	}
}

// replies prints what each client got since the last call.
func (h *harness) replies() string {
	var b strings.Builder
	for _, d := range h.dgrams {
		b.WriteString(d + "\n")
	}
	h.dgrams = h.dgrams[:0]
	for _, n := range h.order {
		c := h.conns[n]
		if len(c.got) == 0 {
			continue
		}
		fmt.Fprintf(&b, "%s: %s\n", n, strings.TrimSpace(strings.ReplaceAll(string(c.got), "\r\n", " ")))
		c.got = c.got[:0]
	}
	if b.Len() == 0 {
		return "(nothing)\n"
	}
	return b.String()
}

func (h *harness) conn(name string) *hconn {
	c, ok := h.conns[name]
	if !ok {
		h.t.Fatalf("no client %q", name)
	}
	return c
}

// cmd runs one datadriven directive.
func (h *harness) cmd(d *datadriven.TestData) string {
	switch d.Cmd {
	case "conn":
		var loop int
		d.ScanArgs(h.t, "loop", &loop)
		c := &hconn{name: d.CmdArgs[0].Key, loop: loop, slow: d.HasArg("slow")}
		c.c = h.loops[loop].OpenAt(&c.in, "test", c, h.now)
		h.conns[c.name] = c
		h.order = append(h.order, c.name)
		return "ok\n"
	case "send":
		h.send(h.conn(d.CmdArgs[0].Key), strings.Split(strings.TrimSpace(d.Input), "\n"))
		return h.replies()
	case "run":
		h.run()
		return h.replies()
	case "auth":
		// auth [unsigned] [tenant=T key=HEX]: the datagram auth table.
		tbl := &auth.Table{Tenants: map[string]auth.Tenant{}, AllowUnsigned: d.HasArg("unsigned")}
		if d.HasArg("tenant") {
			var tenant, hex string
			d.ScanArgs(h.t, "tenant", &tenant)
			d.ScanArgs(h.t, "key", &hex)
			k, err := wire.ParseKey(hex)
			if err != nil {
				h.t.Fatal(err)
			}
			tbl.Tenants[tenant] = auth.Tenant{Key: k}
		}
		h.auth.Store(tbl)
		return "ok\n"
	case "datagram":
		// datagram loop=N op=get|set|del key=K [value=V] [tag=T] [id=N]
		// [sign=HEX [ts=MS]]: ts is the signing clock's offset from now.
		var loop, id int
		var op, key, value, sign string
		d.ScanArgs(h.t, "loop", &loop)
		d.ScanArgs(h.t, "op", &op)
		d.ScanArgs(h.t, "key", &key)
		d.MaybeScanArgs(h.t, "value", &value)
		d.MaybeScanArgs(h.t, "id", &id)
		tag := string(slot.Tag([]byte(key)))
		d.MaybeScanArgs(h.t, "tag", &tag)
		ops := map[string]wire.Opcode{"get": wire.OpGet, "set": wire.OpSet, "del": wire.OpDel}
		req := &wire.Request{ID: uint32(id), Op: ops[op], Tag: []byte(tag), Key: []byte(key), Value: []byte(value)}
		b, err := wire.AppendRequest(nil, req)
		var k wire.Key
		if d.MaybeScanArgs(h.t, "sign", &sign); sign != "" {
			var off int64
			d.MaybeScanArgs(h.t, "ts", &off)
			if k, err = wire.ParseKey(sign); err == nil {
				b, err = wire.AppendSignedRequest(nil, req, k, (h.now+off)*1e6)
			}
		}
		if err != nil {
			h.t.Fatal(err)
		}
		h.signKey = k
		h.loops[loop].Datagram(b, netip.MustParseAddrPort("192.0.2.1:4000"), h.now)
		h.collect()
		return h.replies()
	case "read", "cron", "quota", "burst", "clients":
		return h.clientCmd(d)
	case "close":
		c := h.conn(d.CmdArgs[0].Key)
		h.loops[c.loop].Closed(c.c)
		return "ok\n"
	}
	return h.storeCmd(d)
}

// storeCmd runs the directives that drive the store, locks and the clock.
func (h *harness) storeCmd(d *datadriven.TestData) string {
	switch d.Cmd {
	case "store":
		h.store.auto = d.CmdArgs[0].Key == "auto"
		return "ok\n"
	case "proposals":
		var b strings.Builder
		for _, p := range h.store.pending {
			fmt.Fprintf(&b, "%d ", p.id)
		}
		return strings.TrimSpace(b.String()) + "\n"
	case "sync", "fail":
		var err error
		if d.Cmd == "fail" {
			err = errors.New("disk on fire")
		}
		for _, a := range d.CmdArgs {
			id, _ := strconv.Atoi(a.Key)
			if !h.store.complete(id, err) {
				h.t.Fatalf("no pending proposal %d", id)
			}
		}
		h.run()
		return h.replies()
	case "lock":
		var loop int
		d.ScanArgs(h.t, "loop", &loop)
		var keys [][]byte
		for _, a := range d.CmdArgs[1:] {
			keys = append(keys, []byte(a.Key))
		}
		h.locks[d.CmdArgs[1].Key] = h.loops[loop].Lock(keys)
		return "ok\n"
	case "unlock":
		h.locks[d.CmdArgs[0].Key]()
		h.collect()
		h.run()
		return h.replies()
	case "tick":
		var ms int64
		d.ScanArgs(h.t, "ms", &ms)
		h.now += ms
		return "ok\n"
	case "shed":
		return h.shedCmd(d)
	case "state":
		return h.state()
	case "blocked":
		var b strings.Builder
		for i, l := range h.loops {
			fmt.Fprintf(&b, "loop %d: %d\n", i, l.BlockedClients())
		}
		return b.String()
	case "stats":
		var b strings.Builder
		for i, l := range h.loops {
			st := l.Stats()
			fmt.Fprintf(&b, "loop %d: requests=%d executed=%d sent=%d served=%d stalls=%d deferred=%d fetches=%d evictions=%d authdrops=%d\n",
				i, st.Requests, st.Executed, st.CrossSent, st.CrossRecv, st.Stalls, st.Deferred, st.Fetches, st.Evictions, st.AuthDrops)
		}
		return b.String()
	}
	h.t.Fatalf("unknown directive %q", d.Cmd)
	return ""
}

// state prints each loop's outstanding transaction state and values.
func (h *harness) state() string {
	var b strings.Builder
	for i, l := range h.loops {
		fmt.Fprintf(&b, "loop %d: keys=%d locks=%d waiting=%d parked=%d tx=%d watched=%d stalled=%d unsynced=%d cold=%d\n",
			i, l.ks.Len(), len(l.locks), len(l.waitq), len(l.defq), l.txCount, l.ks.WatchedKeys(), len(l.stalled), l.unsyncedLen(), l.ks.ColdLen())
	}
	return b.String()
}

func (l *Loop) unsyncedLen() int {
	if l.dur == nil {
		return 0
	}
	return int(l.dur.tail - l.dur.head)
}

// TestLoops runs the datadriven files in testdata/loops: each starts with
// a "loops" directive (n=, and optionally durable, budget=, ringcap=,
// arena=, defercap=, maxpending=).
func TestLoops(t *testing.T) {
	datadriven.Walk(t, "testdata/loops", func(t *testing.T, path string) {
		var h *harness
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			if d.Cmd == "loops" {
				o := harnessOpts{ringCap: 64, arena: 1 << 16, deferCap: 64, maxPending: 64}
				d.ScanArgs(t, "n", &o.loops)
				o.durable = d.HasArg("durable")
				if d.HasArg("budget") {
					d.ScanArgs(t, "budget", &o.budget)
				}
				for _, p := range []struct {
					k string
					v *int
				}{{"ringcap", &o.ringCap}, {"arena", &o.arena}, {"defercap", &o.deferCap}, {"maxpending", &o.maxPending}} {
					if d.HasArg(p.k) {
						d.ScanArgs(t, p.k, p.v)
					}
				}
				h = newHarness(t, o)
				return "ok\n"
			}
			h.t = t
			return h.cmd(d)
		})
	})
}
