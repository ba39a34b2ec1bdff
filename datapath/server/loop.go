package server

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/dorivo/dorivo/datapath/command"
	"github.com/dorivo/dorivo/datapath/resp"
	"github.com/dorivo/dorivo/datapath/ring"
	"github.com/dorivo/dorivo/shardstore/keyspace"
	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// msgKind says what a cross-loop message carries.
type msgKind uint8

const (
	// mReq: a RESP request (buf) to run with the owner's scratch session.
	mReq msgKind = iota + 1
	// mReqSess: a RESP request to run with the origin's session (handoff).
	mReqSess
	// mReqAs: a RESP request to run as user (a broadcast's remote part: the
	// client's ACL and key patterns apply on every loop).
	mReqAs
	// mReply: the reply bytes (buf) for conn's reply slot seq.
	mReply
	// mDatagram: a datagram (buf) from addr, answered by the owner itself.
	mDatagram
	// mDatagramDone: returns the credit of a forwarded datagram.
	mDatagramDone
	// mWatch: register WATCH keys (buf) for rw; replies mReply +OK.
	mWatch
	// mUnwatch: drop rw's keys; replies mAck.
	mUnwatch
	// mAck: returns a credit, nothing else.
	mAck

	// Transaction messages, on the ctl rings (xtx.go), carrying x.
	mPrepare  // hold x's keys here and check its watches
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
	conn *tconn
	seq  uint64
	sess *command.Session
	user string // mReqAs
	buf  []byte
	// end is the arena position that frees buf (heap buffers: none).
	end  uint64
	heap bool
	addr netip.AddrPort
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

// loop is one event loop: a gnet engine with a single loop, its keyspace
// and its ends of the rings. Everything but stats, bell and the atomics is
// touched only on the loop's thread.
type loop struct {
	gnet.BuiltinEventEngine
	srv *Server
	idx int
	eng gnet.Engine
	// el is the loop's handle, set once on the loop by boot and read by
	// other loops' doorbells: atomic, since the race detector cannot see the
	// happens-before through Start and the kernel.
	el atomic.Pointer[gnet.EventLoop]

	ks     *keyspace.Keyspace
	dur    *durLoop  // nil without Config.Store (durable.go)
	cold   *coldLoop // nil without a hot-value budget (cold.go)
	peers  []peer
	bell   *ring.Doorbell
	drainR gnet.RunnableFunc

	booted    chan error
	ready     chan error
	bootOnce  atomic.Bool
	bootedOK  atomic.Bool
	exited    atomic.Bool
	expireDue atomic.Bool

	tcpFD, udpFD int
	sa4          unix.SockaddrInet4
	sa6          unix.SockaddrInet6
	udp6         bool // the UDP socket is AF_INET6: reply with v4-mapped addresses

	stats loopCounters

	// Scratch, reused on the loop.
	now          int64
	args         [][]byte
	keys         [][]byte
	valueKeys    [][]byte
	muts         []command.Mutation
	reply        []byte
	udpOut       []byte
	limits       resp.Limits
	stalled      []*tconn
	stalledSpare []*tconn
	touched      []*tconn
	group        []ownerGroup
	scratch      []byte
	involved     []bool

	// Cross-loop transactions (hold.go, xtx.go), all owned by the loop.
	holds    map[uint64]hold     // keys held by transactions, by hash
	released bool                // holds were released: settle retries what waited
	waitq    []*xtx              // prepares waiting for held keys, in arrival order
	resv     map[uint64]struct{} // hashes of the keys the waiting prepares want
	granted  []*xtx
	// defq parks requests from other loops (and local datagrams) that
	// touch held keys; cap(defq) is Config.DeferCap. defCount counts the
	// parked requests of each source, defBlocked is settle's scratch.
	defq         []deferred
	defCount     []int
	defBlocked   []bool
	txCount      int // transactions this loop coordinates now
	txMax        int // admission limit: the ctl ring capacity
	xfree        []*xtx
	txSess       *command.Session // runs transaction parts (checked by the coordinator)
	mergeScratch pending
	unwatchLater []laterUnwatch
}

type bootMarker struct{}

func newLoop(s *Server, i int) *loop {
	l := &loop{
		srv:   s,
		idx:   i,
		ks:    keyspace.New(),
		peers: make([]peer, len(s.loops)),
		ready: make(chan error, 1),
		tcpFD: -1,
		udpFD: -1,
		limits: resp.Limits{
			MaxInline:      resp.DefaultLimits.MaxInline,
			MaxQueryBuffer: s.cfg.MaxQueryBuffer,
			MaxMultibulk:   s.cfg.MaxMultibulk,
		},
	}
	for j := range l.peers {
		if j != i {
			l.peers[j].sess = command.NewInternalSession(s.cfg.Node)
			l.peers[j].asSess = command.NewInternalSession(s.cfg.Node)
		}
	}
	l.txSess = command.NewInternalSession(s.cfg.Node)
	l.holds = make(map[uint64]hold)
	l.resv = make(map[uint64]struct{})
	l.defq = make([]deferred, 0, s.cfg.DeferCap)
	l.defCount = make([]int, len(s.loops))
	l.defBlocked = make([]bool, len(s.loops))
	l.stats.cpu.Store(-1)
	l.drainR = func(context.Context) error { l.drain(); return nil }
	l.bell = ring.NewDoorbell(func() {
		if el := l.el.Load(); el != nil {
			_ = (*el).Execute(context.Background(), l.drainR)
		}
	})
	return l
}

// OnBoot registers this engine's listeners for steering: loop i at index i
// of each sockarray; loop 0 attaches the program to both groups.
func (l *loop) OnBoot(eng gnet.Engine) gnet.Action {
	l.eng = eng
	err := l.register()
	if err != nil {
		l.booted <- err
		return gnet.Shutdown
	}
	l.bootedOK.Store(true)
	l.booted <- nil
	return gnet.None
}

func (l *loop) register() error {
	cfg := &l.srv.cfg
	var err error
	if cfg.TCPAddr != "" {
		if l.tcpFD, err = l.eng.DupListener("tcp", cfg.TCPAddr); err != nil {
			return fmt.Errorf("server: loop %d: dup tcp listener: %w", l.idx, err)
		}
		if err := steer(cfg.TCPSockets, cfg.Reuseport, l.idx, l.tcpFD); err != nil {
			return fmt.Errorf("server: loop %d: tcp steering: %w", l.idx, err)
		}
	}
	if cfg.UDPAddr != "" {
		if l.udpFD, err = l.eng.DupListener("udp", cfg.UDPAddr); err != nil {
			return fmt.Errorf("server: loop %d: dup udp listener: %w", l.idx, err)
		}
		if sa, err := unix.Getsockname(l.udpFD); err == nil {
			_, l.udp6 = sa.(*unix.SockaddrInet6)
		}
		if err := steer(cfg.UDPSockets, cfg.Reuseport, l.idx, l.udpFD); err != nil {
			return fmt.Errorf("server: loop %d: udp steering: %w", l.idx, err)
		}
	}
	return nil
}

// steer puts fd at index i of sockets and, for loop 0, attaches prog to
// fd's reuseport group (the program is the group's, so once is enough).
func steer(sockets *ebpf.Map, prog *ebpf.Program, i, fd int) error {
	if sockets != nil {
		if err := sockets.Update(uint32(i), uint64(fd), ebpf.UpdateAny); err != nil {
			return fmt.Errorf("sockarray[%d] = fd %d: %w", i, fd, err)
		}
	}
	if prog != nil && i == 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_EBPF, prog.FD()); err != nil {
			return fmt.Errorf("SO_ATTACH_REUSEPORT_EBPF: %w", err)
		}
	}
	return nil
}

func (l *loop) closeFDs() {
	for _, fd := range []*int{&l.tcpFD, &l.udpFD} {
		if *fd >= 0 {
			_ = unix.Close(*fd)
			*fd = -1
		}
	}
}

// OnTick runs on the engine's ticker goroutine, never on the loop: the first
// tick starts the bootstrap connection; later ticks ask the loop for an
// expiry step through the doorbell.
func (l *loop) OnTick() (time.Duration, gnet.Action) {
	if l.bootOnce.CompareAndSwap(false, true) {
		ctx := gnet.NewContext(gnet.NewNetAddrContext(context.Background(), l.srv.helper.Addr()), bootMarker{})
		ch, err := l.eng.Register(ctx)
		if err != nil {
			l.ready <- fmt.Errorf("server: loop %d: bootstrap register: %w", l.idx, err)
			return time.Hour, gnet.None
		}
		go func() {
			if r := <-ch; r.Err != nil {
				l.ready <- fmt.Errorf("server: loop %d: bootstrap connection: %w", l.idx, r.Err)
			}
		}()
		return l.srv.cfg.ExpireEvery, gnet.None
	}
	l.expireDue.Store(true)
	l.bell.Ring()
	return l.srv.cfg.ExpireEvery, gnet.None
}

// boot runs on the loop thread from the bootstrap connection's OnOpen.
func (l *loop) boot(c gnet.Conn) {
	var err error
	if !l.srv.cfg.NoPin {
		cpu := l.srv.cpus[l.idx%len(l.srv.cpus)]
		if err = pin(cpu); err == nil {
			l.stats.cpu.Store(int64(cpu))
		} else {
			err = fmt.Errorf("server: loop %d: %w", l.idx, err)
		}
	}
	el := c.EventLoop()
	l.el.Store(&el)
	// A ring of the doorbell before el was set (an expiry tick racing the
	// bootstrap) left it pending with nobody woken: re-arm it and drain.
	l.drain()
	l.ready <- err
}

func (l *loop) OnShutdown(gnet.Engine) {}

// OnTraffic serves a TCP connection's bytes or one datagram.
func (l *loop) OnTraffic(c gnet.Conn) gnet.Action {
	l.now = time.Now().UnixMilli()
	tc, ok := c.Context().(*tconn)
	if !ok {
		l.onDatagram(c)
		return gnet.None
	}
	l.process(tc)
	if l.released {
		l.afterWork()
	} else {
		l.flushRings()
	}
	if tc.closeNow {
		return gnet.Close
	}
	return gnet.None
}

// drain is the doorbell's work on the loop: serve peers' requests, take
// replies, run a due expiry step, publish what that produced, resume
// connections that waited for credit.
func (l *loop) drain() {
	l.bell.Ack()
	l.now = time.Now().UnixMilli()
	// Transaction messages first: a commit releases holds that requests
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
		l.ks.ExpireStep(l.now, l.srv.cfg.ExpireBudget)
		l.stats.keys.Store(uint64(l.ks.Len()))
	}
	if len(l.unwatchLater) > 0 {
		l.retryUnwatches()
	}
	if l.dur != nil {
		l.releaseHeld()
	}
	if l.cold != nil {
		l.takeFetches()
	}
	l.writeTouched()
	l.resumeStalled()
	l.afterWork()
	if l.cold != nil {
		// Last: what waited for a fetch ran in afterWork before its value
		// could go cold again.
		l.evict()
		l.stats.hotBytes.Store(uint64(l.ks.HotBytes()))
		l.stats.coldKeys.Store(uint64(l.ks.ColdLen()))
	}
}

// afterWork settles released holds, writes finished replies and retries
// stalled connections until nothing more was released, then publishes.
func (l *loop) afterWork() {
	for l.released {
		l.settle()
		l.writeTouched()
		l.resumeStalled()
	}
	l.flushRings()
}

// flushRings publishes everything staged, one doorbell per peer at most.
func (l *loop) flushRings() {
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

// stage copies b into p's request arena (or the heap when it can never fit)
// and stages a message to p; it fails only when the ring or arena is full.
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
