package server

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/dorivo/dorivo/datapath/command"
	"github.com/dorivo/dorivo/datapath/core"
	"github.com/dorivo/dorivo/datapath/resp"
	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// loop is the I/O shell of one event loop: a gnet engine with a single
// loop, feeding its core (datapath/core) the connections' bytes,
// datagrams, doorbell drains and the clock, and moving the core's outputs
// out: reply bytes and closes to the sockets, datagrams to the UDP socket.
// The store (Config.Store) takes the core's proposals itself, on its own
// goroutines.
type loop struct {
	gnet.BuiltinEventEngine
	srv  *Server
	idx  int
	core *core.Loop
	eng  gnet.Engine
	// el is the loop's handle, set once on the loop by boot and read by
	// other loops' doorbells: atomic, since the race detector cannot see the
	// happens-before through Start and the kernel.
	el     atomic.Pointer[gnet.EventLoop]
	drainR gnet.RunnableFunc

	booted   chan error
	ready    chan error
	bootOnce atomic.Bool
	bootedOK atomic.Bool
	exited   atomic.Bool

	// moving are the connections closing here to reopen on their home
	// loop; movesLater wait for gnet to write their output first (move.go).
	moving     map[*core.Conn]int
	movesLater []*core.Conn

	// readOff are the paused clients whose socket is not read (pause.go);
	// epfd is the loop's epoll descriptor (-1: not looked up yet).
	readOff map[*core.Conn]struct{}
	epfd    int

	tcpFD, udpFD int
	udp6         bool   // the UDP socket is AF_INET6: reply with v4-mapped addresses
	udp          *udpIO // batched datagram I/O on udpFD (udp.go)
}

type bootMarker struct{}

func newLoop(s *Server, i int) (*loop, error) {
	l := &loop{srv: s, idx: i, ready: make(chan error, 1), tcpFD: -1, udpFD: -1, moving: map[*core.Conn]int{},
		readOff: map[*core.Conn]struct{}{}, epfd: -1}
	cfg := &s.cfg
	cc := core.Config{
		Index: i, Loops: cfg.Loops, Table: cfg.Table, Node: cfg.Node,
		Wake:           l.wake,
		DeferCap:       cfg.DeferCap,
		MaxPending:     cfg.MaxPending,
		MaxQueryBuffer: cfg.MaxQueryBuffer,
		MaxMultibulk:   cfg.MaxMultibulk,
		ExpireBudget:   cfg.ExpireBudget,
		Mutations:      cfg.Mutations,
		Auth:           cfg.Auth,
		Quotas:         cfg.Quotas,
		StaleReads:     cfg.StaleReads,
		OutputTotal:    &s.outputTotal,
		Shed:           cfg.Shed,
		Logger:         cfg.Logger,
		RunJob:         func(f func()) { go f() },
	}
	if cfg.TimeRequests {
		cc.Clock = monoNanos
	}
	if cfg.Store != nil {
		cc.Store = cfg.Store
		if cfg.HotValueBytes > 0 {
			cc.HotValueBytes = max(cfg.HotValueBytes/int64(cfg.Loops), 1)
		}
		cc.Diverged = func(error) { go l.resync() }
		if s.cluster != nil {
			cc.Cluster = s.cluster
		}
	}
	c, err := core.New(cc)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	l.core = c
	l.drainR = func(context.Context) error {
		now := nowMs()
		l.core.Drain(now)
		l.core.Cron(now, unsentOf)
		l.flush()
		if len(l.movesLater) > 0 {
			l.retryMoves()
		}
		return nil
	}
	return l, nil
}

// wake is the core's doorbell: run a drain on the loop.
func (l *loop) wake() {
	if el := l.el.Load(); el != nil {
		_ = (*el).Execute(context.Background(), l.drainR)
	}
}

// flush moves the core's outputs out, after every input.
func (l *loop) flush() {
	if c := l.srv.cluster; c != nil {
		l.core.Forwards(func(f core.Forward) bool { return c.send(f, l.idx) })
	}
	l.core.TakeOutput(l.writeConn)
	l.core.TakeDatagrams(l.sendTo)
	l.sendUDP()
}

// writeConn writes a connection's reply bytes, closes it when asked, and
// starts its move to its home loop when it is ready for one (move.go).
func (l *loop) writeConn(c *core.Conn) {
	gc := c.Shell.(gnet.Conn)
	if len(c.Out) > 0 {
		_, _ = gc.Write(c.Out)
		c.Out = c.Out[:0]
	}
	l.core.Unsent(c, gc.OutboundBuffered())
	if c.CloseNow {
		delete(l.readOff, c)
		_ = gc.Close()
	} else if to, ok := c.MoveTo(); ok {
		if _, started := l.moving[c]; !started {
			l.startMove(c, to)
		}
	}
	if !c.CloseNow {
		l.pauseState(c, gc)
	}
}

func nowMs() int64 { return time.Now().UnixMilli() }

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
		l.udp = newUDPIO(l.udpFD, l.udp6)
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
	l.core.ExpireSoon()
	if l.core.Stats().Paused > 0 {
		return 10 * time.Millisecond, gnet.None // resume readers soon after they drain
	}
	return l.srv.cfg.ExpireEvery, gnet.None
}

// boot runs on the loop thread from the bootstrap connection's OnOpen.
func (l *loop) boot(c gnet.Conn) {
	var err error
	if !l.srv.cfg.NoPin {
		cpu := l.srv.cpus[l.idx%len(l.srv.cpus)]
		if err = pin(cpu); err == nil {
			l.core.PinnedTo(cpu)
		} else {
			err = fmt.Errorf("server: loop %d: %w", l.idx, err)
		}
	}
	el := c.EventLoop()
	l.el.Store(&el)
	// A ring of the doorbell before el was set (an expiry tick racing the
	// bootstrap) left it pending with nobody woken: re-arm it and drain.
	_ = l.drainR(context.Background())
	l.ready <- err
}

func (l *loop) OnShutdown(gnet.Engine) {}

const errMaxClients = "ERR max number of clients reached"

// OnOpen accepts a TCP client or completes a loop's bootstrap.
func (l *loop) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	switch m := c.Context().(type) {
	case bootMarker:
		l.boot(c)
		return nil, gnet.Close
	case moveMarker:
		l.adopt(c, m)
		return nil, gnet.None
	}
	ra := c.RemoteAddr()
	if l.srv.cfg.Node.DeniesRemote(isLoopback(ra)) {
		l.srv.deniedLog(ra)
		return resp.AppendError(nil, command.ProtectedModeDenied), gnet.Close
	}
	if l.srv.clients.Add(1) > int64(l.srv.cfg.MaxClients) {
		l.srv.clients.Add(-1)
		return resp.AppendError(nil, errMaxClients), gnet.Close
	}
	addr := ""
	if ra != nil {
		addr = ra.String()
	}
	tc := l.core.OpenAt(c, addr, c, nowMs())
	tc.FD = c.Fd()
	if la := c.LocalAddr(); la != nil {
		tc.LAddr = la.String()
	}
	c.SetContext(tc)
	return nil, gnet.None
}

// OnClose releases a client.
func (l *loop) OnClose(c gnet.Conn, _ error) gnet.Action {
	tc, ok := c.Context().(*core.Conn)
	if !ok {
		return gnet.None
	}
	if to, ok := l.moving[tc]; ok {
		delete(l.moving, tc)
		if l.finishMove(c, tc, to) {
			return gnet.None
		}
	}
	l.srv.clients.Add(-1)
	delete(l.readOff, tc)
	l.core.Closed(tc)
	l.flush()
	return gnet.None
}

// OnTraffic serves a TCP connection's bytes or one datagram.
func (l *loop) OnTraffic(c gnet.Conn) gnet.Action {
	now := nowMs()
	tc, ok := c.Context().(*core.Conn)
	if !ok {
		b, _ := c.Next(-1)
		var from netip.AddrPort
		if ua, ok := c.RemoteAddr().(*net.UDPAddr); ok {
			from = ua.AddrPort()
		}
		l.core.Datagram(b, from, now)
		l.drainUDP(now) // the rest of the queue, in batches
		l.flush()
		return gnet.None
	}
	l.core.Unsent(tc, c.OutboundBuffered())
	l.core.Traffic(tc, now)
	l.flush()
	if tc.CloseNow {
		return gnet.Close
	}
	if tc.Paused() { // gnet may have armed reading again (pause.go)
		l.setReading(c, false)
	}
	return gnet.None
}

// isLoopback reports whether a is on the loopback interface (127/8, ::1,
// or an IPv4-mapped loopback address).
func isLoopback(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

// deniedLog logs a client that protected mode refused, at most once a
// second with the number refused since.
func (s *Server) deniedLog(a net.Addr) {
	n := s.denied.Add(1)
	now := time.Now().UnixNano()
	last := s.deniedAt.Load()
	if now-last < int64(time.Second) || !s.deniedAt.CompareAndSwap(last, now) {
		return
	}
	s.cfg.Logger.Warn("server: protected mode refused a client that is not on loopback (the default user has no password; set one, or CONFIG SET protected-mode no)",
		"client", a.String(), "refused_total", n)
}
