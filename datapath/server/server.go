package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dorivo/dorivo/datapath/command"
	"github.com/dorivo/dorivo/datapath/core"
	"github.com/dorivo/dorivo/shardstore/slot"
	"github.com/panjf2000/gnet/v2"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Server is a running set of event loops. Create with New, then Start.
type Server struct {
	cfg     Config
	loops   []*loop
	clients atomic.Int64
	// denied counts clients protected mode refused; deniedAt is when that
	// was last logged (unix ns).
	denied, deniedAt atomic.Int64
	// outputTotal is the unsent reply bytes of every loop's clients
	// (dorivo-client-output-total).
	outputTotal atomic.Int64

	helper net.Listener // loopback listener the bootstrap connections dial
	// cpus are the CPUs the process may run on (its affinity mask at New):
	// loop i pins itself to cpus[i % len(cpus)].
	cpus      []int
	wg        sync.WaitGroup
	fetchers  sync.WaitGroup // cold.go
	fetchOnce sync.Once
	// testHookFetched, set by tests before Start, runs on a fetcher after
	// it read a cold value, before it hands the value back.
	testHookFetched func(key string)
	stopOnce        sync.Once
	stopping        atomic.Bool
	cluster         *clusterView // nil: one node (cluster.go)
	clusterStop     context.CancelFunc
	// died is closed when an engine exits without Stop (gnet ends an
	// engine on an accept error such as EMFILE); dieErr says which.
	died    chan struct{}
	dieOnce sync.Once
	dieErr  error
}

// LoopStats are one loop's counters (Server.Stats).
type LoopStats = core.Stats

// New validates cfg and builds the loops and rings; nothing listens yet.
func New(cfg Config) (*Server, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, died: make(chan struct{})}
	if cfg.Cluster != nil {
		v, err := newClusterView(s)
		if err != nil {
			return nil, err
		}
		s.cluster = v
	}
	if !cfg.NoPin {
		if processCPUsErr != nil {
			return nil, processCPUsErr
		}
		s.cpus = processCPUs
	}
	n := cfg.Loops
	s.loops = make([]*loop, n)
	cores := make([]*core.Loop, n)
	for i := range n {
		l, err := newLoop(s, i)
		if err != nil {
			return nil, err
		}
		s.loops[i], cores[i] = l, l.core
	}
	if err := core.Connect(cores, cfg.RingCap, cfg.ArenaBytes); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	cfg.Node.SetKeyspaceTotals(func() command.KeyspaceTotals { return core.KeyspaceTotals(cores) })
	cfg.Node.SetClientsInfo(func() []string { return core.ClientsInfo(cores) })
	if err := s.openDurable(); err != nil {
		return nil, err
	}
	return s, nil
}

// Loops returns the number of event loops.
func (s *Server) Loops() int { return len(s.loops) }

// Start binds every loop's listeners, registers them for steering, and
// returns once every loop has pinned itself and can take cross-loop work.
// On error, whatever started is stopped again.
func (s *Server) Start() error {
	// Sockets are created on the goroutines that run the engines. A caller
	// inside a network namespace (a locked thread that entered it) expects
	// the listeners there, so each engine goroutine enters the caller's
	// namespace first.
	ns, err := netns.Get()
	if err != nil {
		return fmt.Errorf("server: current netns: %w", err)
	}
	defer ns.Close()
	// gnet dials the bootstrap connection from its worker pool, whose
	// goroutines run in the process's own namespace: so does the listener.
	lnc := make(chan error, 1)
	go func() {
		var err error
		s.helper, err = net.Listen("tcp", "127.0.0.1:0")
		lnc <- err
	}()
	if err := <-lnc; err != nil {
		return fmt.Errorf("server: bootstrap listener: %w", err)
	}
	for _, l := range s.loops {
		l.startFetchers()
	}
	go s.serveHelper()

	var addrs []string
	if s.cfg.TCPAddr != "" {
		addrs = append(addrs, "tcp://"+s.cfg.TCPAddr)
	}
	if s.cfg.UDPAddr != "" {
		addrs = append(addrs, "udp://"+s.cfg.UDPAddr)
	}
	for _, l := range s.loops {
		booted := make(chan error, 1)
		l.booted = booted
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			runtime.LockOSThread() // never unlocked: the thread may be in another netns
			if err := netns.Set(ns); err != nil {
				booted <- fmt.Errorf("server: loop %d: enter netns: %w", l.idx, err)
				return
			}
			err := gnet.Rotate(l, addrs,
				gnet.WithNumEventLoop(1),
				gnet.WithReusePort(true),
				gnet.WithLockOSThread(true),
				gnet.WithTicker(true),
				// Engine.Register (bootstrap, connection moves) may run on
				// several goroutines; RoundRobin's counter is not atomic.
				gnet.WithLoadBalancing(gnet.LeastConnections),
				gnet.WithLogger(gnetLogger{s.cfg.Logger}),
			)
			if !s.stopping.Load() {
				s.dieOnce.Do(func() {
					s.dieErr = fmt.Errorf("server: loop %d engine exited unexpectedly (err %v): its slots are unserved", l.idx, err)
					close(s.died)
				})
			}
			select {
			case booted <- fmt.Errorf("server: loop %d: engine exited before boot: %v", l.idx, err):
			default:
			}
			l.exited.Store(true)
		}()
		if err := <-booted; err != nil {
			s.stopEngines()
			return err
		}
	}
	timeout := time.After(10 * time.Second)
	for _, l := range s.loops {
		select {
		case err := <-l.ready:
			if err != nil {
				s.stopEngines()
				return err
			}
		case <-timeout:
			s.stopEngines()
			return fmt.Errorf("server: loop %d did not bootstrap within 10s", l.idx)
		}
	}
	if s.cluster != nil {
		ctx, cancel := context.WithCancel(context.Background())
		s.clusterStop = cancel
		s.cluster.start(ctx)
	}
	return nil
}

func (s *Server) serveHelper() {
	for {
		c, err := s.helper.Accept()
		if err != nil {
			return
		}
		go func() {
			var b [1]byte
			_, _ = c.Read(b[:]) // returns when the loop closes its end
			c.Close()
		}()
	}
}

// Stop stops every engine (closing all connections) and waits for them.
func (s *Server) Stop(ctx context.Context) error {
	var err error
	s.stopOnce.Do(func() { err = s.stopEnginesCtx(ctx) })
	return err
}

func (s *Server) stopEngines() { _ = s.stopEnginesCtx(context.Background()) }

func (s *Server) stopEnginesCtx(ctx context.Context) error {
	s.stopping.Store(true)
	if s.clusterStop != nil {
		s.clusterStop()
	}
	var wg sync.WaitGroup
	errs := make([]error, len(s.loops))
	for i, l := range s.loops {
		if !l.bootedOK.Load() || l.exited.Load() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.eng.Stop(ctx); err != nil && !l.exited.Load() {
				errs[i] = fmt.Errorf("server: stop loop %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		// No loop can start a fetch any more.
		s.fetchOnce.Do(s.stopFetchers)
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("server: engines still running: %w", ctx.Err()))
	}
	if s.helper != nil {
		s.helper.Close()
	}
	for _, l := range s.loops {
		l.closeFDs()
	}
	return errors.Join(errs...)
}

// Died is closed when a loop's engine exits without Stop; Err then says
// which. The agent should treat it as fatal: that loop's slots are unserved.
func (s *Server) Died() <-chan struct{} { return s.died }

// Err returns why an engine died, or nil.
func (s *Server) Err() error {
	select {
	case <-s.died:
		return s.dieErr
	default:
		return nil
	}
}

// Stats returns every loop's counters.
func (s *Server) Stats() []LoopStats {
	out := make([]LoopStats, len(s.loops))
	for i, l := range s.loops {
		out[i] = l.core.Stats()
	}
	return out
}

// RunOnLoop runs fn on loop i's thread and waits for it, then moves out
// what fn made the loop produce: for inspection (tests, debugging) and the
// resync of a diverged loop, never on a hot path.
func (s *Server) RunOnLoop(ctx context.Context, i int, fn func()) error {
	if i < 0 || i >= len(s.loops) {
		return fmt.Errorf("server: no loop %d", i)
	}
	el := s.loops[i].el.Load()
	if el == nil {
		return fmt.Errorf("server: loop %d not started", i)
	}
	done := make(chan struct{})
	l := s.loops[i]
	err := (*el).Execute(ctx, gnet.RunnableFunc(func(context.Context) error {
		fn()
		l.flush()
		close(done)
		return nil
	}))
	if err != nil {
		return fmt.Errorf("server: execute on loop %d: %w", i, err)
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// processCPUs are the CPUs the process may run on, read once at start-up on
// the main thread: taskset or a cpuset cgroup may have narrowed them, and
// pinning outside them fails. Read later, a thread's mask may be a pinned
// loop's, which the threads it spawns inherit.
var processCPUs, processCPUsErr = allowedCPUs()

// allowedCPUs lists the CPUs in the calling thread's affinity mask.
func allowedCPUs() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("server: sched_getaffinity: %w", err)
	}
	var cpus []int
	for c := range len(set) * 64 {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	if len(cpus) == 0 {
		return nil, fmt.Errorf("server: empty CPU affinity mask")
	}
	return cpus, nil
}

// pin binds the calling thread to cpu.
func pin(cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("sched_setaffinity cpu %d: %w", cpu, err)
	}
	return nil
}

// ownerOfKey returns the loop owning key (tests, inspection).
func (s *Server) ownerOfKey(key string) int {
	return s.cfg.Table.Owner(slot.Of([]byte(key)))
}
