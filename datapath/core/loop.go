package core

import (
	"errors"
	"fmt"
	"hash/maphash"
	"net/netip"
	"sync/atomic"

	"github.com/dorivo/dorivo/datapath/command"
	"github.com/dorivo/dorivo/datapath/resp"
	"github.com/dorivo/dorivo/datapath/ring"
	"github.com/dorivo/dorivo/datapath/svctime"
	"github.com/dorivo/dorivo/datapath/wire"
	"github.com/dorivo/dorivo/shardstore/keyspace"
)

// msgKind says what a cross-loop message carries.
type msgKind uint8

const (
	// mReq: a request (cmd, buf) to run with the owner's scratch session.
	mReq msgKind = iota + 1
	// mReqSess: a request to run with the origin's session (handoff).
	mReqSess
	// mReqAs: a request to run as user (a broadcast's remote part: the
	// client's ACL and key patterns apply on every loop).
	mReqAs
	// mReply: the reply bytes (buf) for conn's reply slot seq.
	mReply
	// mDatagram: a parsed datagram (datagram.go) from addr, answered by the
	// owner itself.
	mDatagram
	// mDatagramDone: returns the credit of a forwarded datagram.
	mDatagramDone
	// mWatch: register WATCH keys (buf) for rw; replies mReply +OK.
	mWatch
	// mUnwatch: drop rw's keys; replies mAck.
	mUnwatch
	// mAck: returns a credit, nothing else.
	mAck
	// mUnblock: conn closed while its blocking request seq is parked
	// here; the waiter goes (block.go). Replies mAck.
	mUnblock

	// Transaction messages, on the ctl rings (xtx.go), carrying x.
	mPrepare  // lock x's keys here and check its watches
	mPrepared // answer to mPrepare (x.parts[loop].ok says how it went)
	mCommit   // run x's part, release, answer mAcked
	mAbort    // release, answer mAcked
	mAcked
)

// msg is one ring slot: a fixed-size value, no allocation per message.
// Pointers in it (conn, sess) are only dereferenced by the loop that owns
// them, or while the owner has handed them over and waits.
type msg struct {
	kind msgKind
	conn *Conn
	seq  uint64
	sess *command.Session
	user string // mReqAs
	// resp3 says the sending connection speaks RESP3 (HELLO 3): the reply
	// of mReq and mReqAs, run with a session of the owner loop, must too.
	resp3 bool
	// cmd is a request's command, resolved by the sender; buf holds its
	// arguments packed (pack.go).
	cmd        *command.Cmd
	unknownSub bool
	buf        []byte
	// dgOp and dgTooLarge are a datagram's opcode and whether its value was
	// too large (its id travels in seq).
	dgOp       wire.Opcode
	dgTooLarge bool
	dgRet      dgReturn
	// end is the arena position that frees buf (heap buffers: none).
	end  uint64
	heap bool
	rw   *rwatch // mWatch, mUnwatch, a handed-over EXEC watching keys here
	x    *xtx    // transaction messages
}

// peer is one loop's view of another loop j.
type peer struct {
	reqOut  *ring.Ring[msg] // my requests to j
	reqOutA *ring.Arena
	repIn   *ring.Ring[msg] // j's replies to my requests
	repInA  *ring.Arena
	reqIn   *ring.Ring[msg] // j's requests to me
	reqInA  *ring.Arena
	repOut  *ring.Ring[msg] // my replies to j
	repOutA *ring.Arena
	// Transaction messages: my coordinator messages to j and j's answers,
	// j's coordinator messages to me and my answers. No arenas: they carry
	// only a pointer.
	ctlOut, ctlRepIn, ctlIn, ctlRepOut *ring.Ring[msg]
	// credits is how many of my requests to j await a reply; it never
	// exceeds the reply ring's capacity, so j can always reply.
	credits int
	// sess runs j's forwarded requests on my keyspace; asSess runs j's
	// mReqAs requests, acting as their user.
	sess, asSess *command.Session
}

// Loop is one event loop's state machine: the keyspace of the slots it
// owns, its ends of the rings to every other loop, its connections' reply
// queues, key locks and transactions, WATCH registrations, replies waiting
// for the disk and requests waiting for cold values. Its inputs are the
// methods Open, Traffic, Closed, Datagram and Drain, called on the loop's
// thread by the shell; its outputs are the connections' reply bytes and
// closes (TakeOutput), datagrams (TakeDatagrams), store proposals
// (Config.Store, which only queues them), fetches (Fetches) and ring
// messages, whose doorbells call Config.Wake. It makes no syscalls and
// starts no goroutines. Only the counters and the doorbell are touched from other
// goroutines.
type Loop struct {
	blk  blockState // parked blocking requests (block.go)
	cfg  Config
	idx  int
	ks   *keyspace.Keyspace
	dur  *durLoop    // nil without Config.Store (unsynced.go)
	rep  *repLoop    // nil without Config.Cluster (replicated.go)
	cold *coldLoop   // nil without a hot-value budget (cold.go)
	jobs jobLoop     // commands' off-loop work (jobs.go)
	held []heldReply // replies waiting for their delay (held.go)

	peers []peer
	bell  *ring.Doorbell
	// scratchAuth: the scratch sessions of forwarded requests are
	// authenticated as the default user, so plain requests may use them.
	scratchAuth bool
	// scanNext[o] is the first slot after loop o's range as a SCAN cursor
	// (0: o is last); nil when SCAN stays on the connection's loop.
	scanNext  []uint64
	expireDue atomic.Bool
	// shed is the loop's copy of Config.Shed's set (nil: nothing shed),
	// taken on Drain when shedDue says it changed (shed.go).
	shed    *ShedSet
	shedDue atomic.Bool

	stats     Counters
	svc       svctime.Set            // service times by class (svctime.go)
	published command.KeyspaceTotals // the counts last stored in stats

	// Outputs, taken by the shell after every input.
	outConns []*Conn
	outSpare []*Conn
	dgOut    []Datagram
	dgBuf    []byte

	// Scratch, reused on the loop.
	now          int64
	args         [][]byte
	keys         [][]byte
	valueKeys    [][]byte
	readKeyBuf   [][]byte
	muts         []command.Mutation
	reply        []byte
	udpOut       []byte
	dgArgs       [][]byte
	dgFields     [3][]byte
	dgSess       *command.Session // runs datagrams, as their tenant's user
	dgShedBody   []byte
	stalled      []*Conn
	stalledSpare []*Conn
	touched      []*Conn
	group        []ownerGroup
	scratch      []byte
	involved     []bool
	limits       resp.Limits

	// Cross-loop transactions (locks.go, xtx.go), all owned by the loop.
	locks    map[uint64]keyLock  // keys locked by transactions, by hash
	unlocked bool                // locks were released: settle retries what waited
	waitq    []*xtx              // prepares waiting for locked keys, in arrival order
	resv     map[uint64]struct{} // hashes of the keys the waiting prepares want
	granted  []*xtx
	// defq parks requests from other loops (and local datagrams) that
	// touch locked keys; cap(defq) is Config.DeferCap. defCount counts the
	// parked requests of each source, defBlocked is settle's scratch.
	defq         []deferred
	defCount     []int
	defBlocked   []bool
	txCount      int // transactions this loop coordinates now
	txMax        int // admission limit: the ctl ring capacity
	xfree        []*xtx
	txSess       *command.Session  // runs transaction parts (checked by the coordinator)
	cmdStats     *command.CmdStats // INFO commandstats of the commands run here
	mergeScratch pending
	unwatchLater []laterUnwatch

	// Clients (clients.go): every open connection; the paused ones; the
	// node-wide unsent bytes (shared by the loops); the recent peak of one
	// client's output, since recentAt; the last idle scan; tenant buckets.
	conns     map[*Conn]struct{}
	paused    []*Conn
	outTotal  *atomic.Int64
	recentMax int64
	recentAt  int64
	idleAt    int64
	buckets   map[string]*bucket
}

// New builds loop cfg.Index. Connect links the loops of one server.
func New(cfg Config) (*Loop, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	l := &Loop{
		cfg:   cfg,
		idx:   cfg.Index,
		ks:    keyspace.New(),
		peers: make([]peer, cfg.Loops),
		limits: resp.Limits{
			MaxInline:      resp.DefaultLimits.MaxInline,
			MaxQueryBuffer: cfg.MaxQueryBuffer,
			MaxMultibulk:   cfg.MaxMultibulk,
		},
		scanNext: scanRanges(cfg.Table, cfg.Loops),
	}
	l.scratchAuth = true
	l.cmdStats = cfg.Node.NewCmdStats()
	for j := range l.peers {
		if j != l.idx {
			l.peers[j].sess = l.internalSession()
			l.peers[j].asSess = l.internalSession()
			l.scratchAuth = l.scratchAuth && l.peers[j].sess.Authenticated()
		}
	}
	l.txSess = l.internalSession()
	l.dgSess = l.internalSession()
	l.conns = make(map[*Conn]struct{})
	l.buckets = make(map[string]*bucket)
	l.outTotal = sharedTotal(cfg.OutputTotal)
	l.locks = make(map[uint64]keyLock)
	l.resv = make(map[uint64]struct{})
	l.defq = make([]deferred, 0, cfg.DeferCap)
	l.defCount = make([]int, cfg.Loops)
	l.defBlocked = make([]bool, cfg.Loops)
	l.txMax = 1 // Connect raises it to the ctl rings' capacity
	l.stats.cpu.Store(-1)
	l.bell = ring.NewDoorbell(cfg.Wake)
	if cfg.Shed != nil {
		cfg.Shed.attach(l)
	}
	if cfg.Store != nil {
		l.dur = &durLoop{store: cfg.Store, q: make([]*unsynced, 64), writing: map[uint64]uint64{}, seed: maphash.MakeSeed()}
		l.dur.runs = l.slotRuns()
		l.openCold()
		if cfg.Cluster != nil {
			l.rep = &repLoop{cluster: cfg.Cluster, replies: make(chan forwardReply, forwardQueue)}
		}
	}
	return l, nil
}

// Connect builds the rings between every ordered pair of loops, each with
// ringCap slots (rounded up to a power of two; also the most requests one
// loop has in flight to another) and an arena of arenaBytes.
func Connect(loops []*Loop, ringCap, arenaBytes int) error {
	n := len(loops)
	for i := range n {
		for j := range n {
			if i == j {
				continue
			}
			if err := connectPair(loops[i], loops[j], ringCap, arenaBytes); err != nil {
				return err
			}
		}
	}
	return nil
}

// connectPair builds the rings for li's requests to lj and their replies,
// and li's transaction messages to lj and their answers.
func connectPair(li, lj *Loop, ringCap, arenaBytes int) error {
	i, j := li.idx, lj.idx
	req, err := ring.New[msg](ringCap, lj.bell, nil)
	if err != nil {
		return fmt.Errorf("core: ring %d->%d: %w", i, j, err)
	}
	rep, err := ring.New[msg](ringCap, li.bell, nil)
	if err != nil {
		return fmt.Errorf("core: ring %d->%d: %w", j, i, err)
	}
	reqA, err := ring.NewArena(arenaBytes)
	if err != nil {
		return fmt.Errorf("core: arena %d->%d: %w", i, j, err)
	}
	repA, err := ring.NewArena(arenaBytes)
	if err != nil {
		return fmt.Errorf("core: arena %d->%d: %w", j, i, err)
	}
	li.peers[j].reqOut, li.peers[j].reqOutA = req, reqA
	lj.peers[i].reqIn, lj.peers[i].reqInA = req, reqA
	lj.peers[i].repOut, lj.peers[i].repOutA = rep, repA
	li.peers[j].repIn, li.peers[j].repInA = rep, repA
	ctl, err := ring.New[msg](ringCap, lj.bell, nil)
	if err != nil {
		return fmt.Errorf("core: ctl ring %d->%d: %w", i, j, err)
	}
	ctlRep, err := ring.New[msg](ringCap, li.bell, nil)
	if err != nil {
		return fmt.Errorf("core: ctl ring %d->%d: %w", j, i, err)
	}
	li.peers[j].ctlOut, lj.peers[i].ctlIn = ctl, ctl
	lj.peers[i].ctlRepOut, li.peers[j].ctlRepIn = ctlRep, ctlRep
	li.txMax = ctl.Cap()
	return nil
}

// Index returns the loop's index.
func (l *Loop) Index() int { return l.idx }

// Keyspace returns the loop's keyspace, for loading at start and for
// inspection on the loop (tests).
func (l *Loop) Keyspace() *keyspace.Keyspace { return l.ks }

// Bell returns the loop's doorbell (its rings count wakeups).
func (l *Loop) Bell() *ring.Doorbell { return l.bell }

// ExpireSoon asks for an active expiry step on the next Drain; any
// goroutine may call it.
func (l *Loop) ExpireSoon() {
	l.expireDue.Store(true)
	l.bell.Ring()
}

// Datagram is a reply datagram to send from the loop's UDP socket.
type Datagram struct {
	Buf []byte
	To  netip.AddrPort
}

// TakeOutput calls write for every connection with reply bytes or a close
// pending (Conn.Out, Conn.CloseNow), then forgets them. The shell writes
// the bytes and calls Conn.Written.
func (l *Loop) TakeOutput(write func(c *Conn)) {
	// Double-buffered: a write may fail and close a connection, whose
	// Closed may queue more output while this list is walked.
	for len(l.outConns) > 0 {
		list := l.outConns
		// The spare is taken, not shared: a nested call (a write that
		// closes a connection, whose Closed flushes) starts a list of its
		// own.
		l.outConns, l.outSpare = l.outSpare[:0], nil
		for i, c := range list {
			c.queued = false
			if !c.closed {
				write(c)
			}
			list[i] = nil
		}
		l.outSpare = list[:0]
	}
}

// TakeDatagrams calls send for every reply datagram produced since the last
// call; the buffers are valid only during the call.
func (l *Loop) TakeDatagrams(send func(Datagram)) {
	for _, d := range l.dgOut {
		send(d)
	}
	clear(l.dgOut)
	l.dgOut = l.dgOut[:0]
	l.dgBuf = l.dgBuf[:0]
}

// sendDatagram queues datagram b to to.
func (l *Loop) sendDatagram(b []byte, to netip.AddrPort) {
	if cap(l.dgBuf)-len(l.dgBuf) < len(b) && len(l.dgOut) > 0 {
		// The buffer would move: earlier queued datagrams keep the old one.
		l.dgBuf = make([]byte, 0, max(2*cap(l.dgBuf), len(b)))
	}
	n := len(l.dgBuf)
	l.dgBuf = append(l.dgBuf, b...)
	l.dgOut = append(l.dgOut, Datagram{Buf: l.dgBuf[n:len(l.dgBuf):len(l.dgBuf)], To: to})
}

// Drain is the doorbell's work, at time now (unix ms): serve peers'
// requests, take replies, completed writes and fetched values, run a due
// expiry step, publish what that produced, resume connections that waited.
func (l *Loop) Drain(now int64) {
	l.bell.Ack()
	l.now = now
	l.takeShed()
	// Transaction messages first: a commit releases locks that requests
	// below may be waiting for.
	for j := range l.peers {
		if j != l.idx {
			l.serveCtl(j)
			l.takeCtl(j)
		}
	}
	l.settle()
	for j := range l.peers {
		if j != l.idx {
			l.serveRequests(j)
		}
	}
	for j := range l.peers {
		if j != l.idx {
			l.takeReplies(j)
		}
	}
	if l.expireDue.Swap(false) {
		l.ks.ExpireStep(l.now, l.cfg.ExpireBudget)
		l.publishKeys()
		l.expireWaiters()
	}
	if len(l.unwatchLater) > 0 {
		l.retryUnwatches()
	}
	if l.rep != nil {
		l.takeForwarded()
	}
	if l.dur != nil {
		l.releaseSynced()
	}
	if l.cold != nil {
		l.takeFetches()
	}
	l.takeJobs()
	l.releaseHeld()
	l.serveWoken()
	l.writeTouched()
	l.resumeStalled()
	l.resumePaused()
	l.afterWork()
	if l.cold != nil {
		// Last: what waited for a fetch ran in afterWork before its value
		// could go cold again.
		l.evict()
		l.stats.hotBytes.Store(uint64(l.ks.HotBytes()))
		l.stats.coldKeys.Store(uint64(l.ks.ColdLen()))
	}
}

// afterWork settles released locks, writes finished replies and retries
// stalled connections until nothing more was released, then publishes.
func (l *Loop) afterWork() {
	l.serveWoken()
	for l.unlocked {
		l.settle()
		l.writeTouched()
		l.resumeStalled()
	}
	l.flushRings()
}

// flushRings publishes everything staged, one doorbell per peer at most.
func (l *Loop) flushRings() {
	for j := range l.peers {
		p := &l.peers[j]
		if j == l.idx {
			continue
		}
		p.reqOut.Flush()
		p.repOut.Flush()
		p.ctlOut.Flush()
		p.ctlRepOut.Flush()
	}
}

var errNoRoom = errors.New("no room")

// stageTo takes size bytes of arena a (of the heap, for a message that can
// never fit), has fill write them, and stages m on r; it fails only when
// the ring or the arena is full.
func stageTo(r *ring.Ring[msg], a *ring.Arena, m *msg, size int, fill func([]byte)) error {
	if r.Free() == 0 {
		return errNoRoom
	}
	var buf []byte
	if size > a.Size()/2 {
		buf = make([]byte, size)
		m.heap = true
	} else {
		b, end, ok := a.Alloc(size)
		if !ok {
			return errNoRoom
		}
		buf, m.end, m.heap = b, end, false
	}
	fill(buf)
	m.buf = buf
	r.Stage(m)
	return nil
}

// internalSession opens a session for other connections' requests, which
// counts its commands in this loop's statistics.
func (l *Loop) internalSession() *command.Session {
	s := command.NewInternalSession(l.cfg.Node)
	s.UseStats(l.cmdStats)
	return s
}
