package driver

import (
	"context"
	"errors"
	"fmt"
	"github.com/dorivo/dorivo/datapath/wire"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dorivo/dorivo/cmd/dorivo-loadgen/internal/journal"
	"github.com/dorivo/dorivo/cmd/dorivo-loadgen/internal/respclient"
	"github.com/dorivo/dorivo/cmd/dorivo-loadgen/internal/stats"
	"github.com/dorivo/dorivo/cmd/dorivo-loadgen/internal/workload"
	"github.com/dorivo/dorivo/datapath/resp"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// Protocols.
const (
	ProtoRESP = "resp"
	ProtoUDP  = "udp"
)

// Config is one run.
type Config struct {
	Proto    string
	Target   string
	Conns    int
	Pipeline int           // requests in flight per connection, at most
	Rate     float64       // requests/s over all connections; 0 = closed loop
	Duration time.Duration // 0 = until Requests are done
	Requests int64         // 0 = until Duration ends
	// ShardAware binds TCP source ports so that slot.PortOwner(port, Loops) is the owner
	// loop of every key the connection sends.
	ShardAware bool
	Loops      int
	// User and Password, when Password is set, authenticate every TCP
	// connection (AUTH [user] password) before any load.
	User, Password string
	// ReadOnly sends READONLY on every TCP connection before any load:
	// a Dorivo replica then serves reads from its own copy (cluster).
	ReadOnly bool
	Workload workload.Config
	// Journal, when set, receives every acknowledged write.
	Journal *journal.Writer
	// DisjointWrites gives each connection its own keys, so that per key
	// the acknowledgement order is the apply order. Needed with a Journal.
	DisjointWrites bool
	// Keys are datagram keys by tenant tag: those tenants' datagrams are
	// signed (protocol v2) and their replies must verify.
	Keys map[string]wire.Key
	// Timeout bounds dialing, a datagram's wait for its reply, and the wait
	// for in-flight replies at the end.
	Timeout time.Duration
	// Progress, when set, gets a status line every second; on a TTY the
	// line is rewritten in place.
	Progress    io.Writer
	ProgressTTY bool
}

// TargetError reports that the target could not be reached.
type TargetError struct {
	Target string
	Err    error
}

func (e *TargetError) Error() string { return fmt.Sprintf("target %s: %v", e.Target, e.Err) }
func (e *TargetError) Unwrap() error { return e.Err }

// ConnPlan is what one connection sends: its key scope and, shard-aware,
// the loop owning those keys (-1 otherwise).
type ConnPlan struct {
	Scope workload.Scope
	Owner int
}

// Plan assigns key scopes to connections. Shard-aware, connections are
// spread round-robin over the loops that own at least one tenant. With a
// DisjointWrites, connections sharing tenants split their keys into disjoint
// parts.
func Plan(cfg *Config) ([]ConnPlan, error) {
	all := make([]int32, cfg.Workload.Tenants)
	for i := range all {
		all[i] = int32(i)
	}
	groups := [][]int32{all}
	owners := []int{-1}
	if cfg.ShardAware {
		byLoop, err := workload.TenantOwners(cfg.Workload.Tenants, cfg.Loops)
		if err != nil {
			return nil, err
		}
		groups, owners = nil, nil
		for loop, ts := range byLoop {
			if len(ts) > 0 {
				groups = append(groups, ts)
				owners = append(owners, loop)
			}
		}
		if cfg.Conns < len(groups) {
			return nil, fmt.Errorf("%d connections cannot cover the %d event loops that own the tenants' keys", cfg.Conns, len(groups))
		}
	}
	disjoint := cfg.DisjointWrites || cfg.Journal != nil
	shares := make([]int, len(groups))
	plans := make([]ConnPlan, cfg.Conns)
	for i := range plans {
		g := i % len(groups)
		plans[i] = ConnPlan{Scope: workload.Scope{Tenants: groups[g], Parts: 1}, Owner: owners[g]}
		if disjoint {
			plans[i].Scope.Part = shares[g]
		}
		shares[g]++
	}
	if disjoint {
		for i := range plans {
			plans[i].Scope.Parts = shares[i%len(groups)]
		}
	}
	return plans, nil
}

// run is the state shared by a run's connections.
type run struct {
	cfg     *Config
	start   time.Time
	tickets atomic.Int64 // requests left to send when cfg.Requests > 0
	nonce   uint64       // distinguishes this run's values from earlier runs'
	live    stats.Live
}

func (r *run) since() time.Duration { return time.Since(r.start) }

// take reserves one request of the --requests budget.
func (r *run) take() bool { return r.cfg.Requests <= 0 || r.tickets.Add(-1) >= 0 }

func (r *run) valueID(conn int, seq uint64) uint64 {
	return r.nonce<<48 | uint64(conn&0xfff)<<36 | seq&(1<<36-1)
}

// pending is one request in flight.
type pending struct {
	op       workload.Op
	keys     []workload.Key
	valueID  uint64
	id       uint32
	intended time.Duration // since run start: scheduled (open loop) or sent
	sent     time.Duration
	// key and mac: a signed datagram's key and MAC, which its reply must
	// verify under and echo.
	key wire.Key
	mac uint64
}

// check rejects configurations the connections cannot run; the command
// line reports the same problems earlier, naming the flags.
func (cfg *Config) check() error {
	switch {
	case cfg.Proto != ProtoRESP && cfg.Proto != ProtoUDP:
		return fmt.Errorf("protocol %q: want %s or %s", cfg.Proto, ProtoRESP, ProtoUDP)
	case cfg.Conns < 1 || cfg.Pipeline < 1 || cfg.Timeout <= 0:
		return fmt.Errorf("conns %d, pipeline %d, timeout %v: all must be positive", cfg.Conns, cfg.Pipeline, cfg.Timeout)
	case cfg.Proto == ProtoUDP && cfg.Workload.MSetRatio > 0:
		return errors.New("the datagram protocol has no MSET")
	case cfg.Duration <= 0 && cfg.Requests <= 0:
		return errors.New("neither a duration nor a request count: the run would never end")
	}
	return cfg.Workload.Validate()
}

// Run runs the load and returns its report.
func Run(ctx context.Context, cfg *Config) (stats.Report, error) {
	if err := cfg.check(); err != nil {
		return stats.Report{}, err
	}
	plans, err := Plan(cfg)
	if err != nil {
		return stats.Report{}, err
	}
	r := &run{cfg: cfg, nonce: rand.Uint64() & 0xffff}
	r.tickets.Store(cfg.Requests)
	conns := make([]io.Closer, len(plans))
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	for i, p := range plans {
		c, err := dial(ctx, cfg, p.Owner)
		if err != nil {
			return stats.Report{}, &TargetError{Target: cfg.Target, Err: err}
		}
		conns[i] = c
	}
	if cfg.Proto == ProtoUDP {
		if err := probeUDP(conns[0].(*net.UDPConn), cfg.Timeout, cfg.Keys); err != nil {
			return stats.Report{}, &TargetError{Target: cfg.Target, Err: err}
		}
	}

	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	recs := make([]*stats.Recorder, len(plans))
	var wg sync.WaitGroup
	r.start = time.Now()
	for i, p := range plans {
		recs[i] = stats.NewRecorder(&r.live)
		picker, err := workload.NewPicker(&cfg.Workload, p.Scope, uint64(i))
		if err != nil {
			return stats.Report{}, err
		}
		c := &conn{run: r, idx: i, picker: picker, rec: recs[i]}
		wg.Go(func() {
			switch nc := conns[i].(type) {
			case *net.UDPConn:
				c.runUDP(ctx, nc)
			case net.Conn:
				c.runTCP(ctx, nc)
			}
		})
	}
	stopProgress := r.progress()
	wg.Wait()
	elapsed := r.since()
	stopProgress()

	mode := "closed"
	if cfg.Rate > 0 {
		mode = "open"
	}
	meta := stats.Report{Target: cfg.Target, Proto: cfg.Proto, Mode: mode, RateRPS: cfg.Rate, Conns: cfg.Conns, Pipeline: cfg.Pipeline}
	return stats.Build(meta, recs, elapsed), nil
}

func dial(ctx context.Context, cfg *Config, owner int) (io.Closer, error) {
	if cfg.Proto == ProtoUDP {
		raddr, err := net.ResolveUDPAddr("udp", cfg.Target)
		if err != nil {
			return nil, err
		}
		return net.DialUDP("udp", nil, raddr)
	}
	var nc net.Conn
	var err error
	if owner >= 0 {
		nc, err = DialShardAware(ctx, cfg.Target, cfg.Loops, owner, cfg.Timeout)
	} else {
		d := net.Dialer{Timeout: cfg.Timeout}
		nc, err = d.DialContext(ctx, "tcp", cfg.Target)
	}
	if err != nil {
		return nil, err
	}
	if err := auth(nc, cfg); err != nil {
		nc.Close()
		return nil, err
	}
	if cfg.ReadOnly {
		if err := okCommand(nc, cfg, "READONLY"); err != nil {
			nc.Close()
			return nil, err
		}
	}
	return nc, nil
}

// auth sends AUTH when a password is configured and expects +OK.
func auth(nc net.Conn, cfg *Config) error {
	if cfg.Password == "" {
		return nil
	}
	args := []string{"AUTH", cfg.Password}
	if cfg.User != "" {
		args = []string{"AUTH", cfg.User, cfg.Password}
	}
	return okCommand(nc, cfg, args...)
}

// okCommand sends one command and expects +OK.
func okCommand(nc net.Conn, cfg *Config, args ...string) error {
	_ = nc.SetDeadline(time.Now().Add(cfg.Timeout))
	defer nc.SetDeadline(time.Time{})
	bargs := make([][]byte, len(args))
	for i, a := range args {
		bargs[i] = []byte(a)
	}
	if _, err := nc.Write(resp.AppendCommand(nil, bargs...)); err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	var rep respclient.Reply
	if err := respclient.NewReader(nc).ReadReply(&rep); err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	if rep.Kind != respclient.Simple || string(rep.Str) != "OK" {
		return fmt.Errorf("%s refused: %s", args[0], rep.Str)
	}
	return nil
}

// Ephemeral port range for shard-aware source ports (Linux's default).
const portLo, portHi = 32768, 60999

// DialShardAware connects to target from a source port p with
// slot.PortOwner(p, loops) == owner, the rule Dorivo's sk_reuseport program
// steers TCP by (ScyllaDB's shard-aware port, with the low bit dropped),
// retrying other such ports when one is taken.
func DialShardAware(ctx context.Context, target string, loops, owner int, timeout time.Duration) (net.Conn, error) {
	if loops < 1 || owner < 0 || owner >= loops {
		return nil, fmt.Errorf("shard-aware dial: owner %d of %d loops", owner, loops)
	}
	var last error
	for range 64 {
		port, _ := slot.PortFor(uint16(portLo+rand.IntN(portHi-portLo-2*loops)), owner, loops)
		d := net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{Port: int(port)}}
		c, err := d.DialContext(ctx, "tcp", target)
		if err == nil {
			return c, nil
		}
		last = err
		if !errors.Is(err, syscall.EADDRINUSE) && !errors.Is(err, syscall.EADDRNOTAVAIL) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("no free source port for loop %d of %d: %w", owner, loops, last)
}

// progress prints a status line every second until the returned func is
// called.
func (r *run) progress() (stop func()) {
	w := r.cfg.Progress
	if w == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var prev int64
		end, sep := "\n", ""
		if r.cfg.ProgressTTY {
			end, sep = "", "\r\033[K"
		}
		for {
			select {
			case <-done:
				if r.cfg.ProgressTTY {
					fmt.Fprint(w, sep)
				}
				return
			case <-t.C:
				n := r.live.Done.Load()
				fmt.Fprintf(w, "%s%6.1fs %10d req %9d req/s %6d errors%s", sep, r.since().Seconds(), n, n-prev, r.live.Errors.Load(), end)
				prev = n
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// conn is one connection's load state.
type conn struct {
	run    *run
	idx    int
	picker *workload.Picker
	rec    *stats.Recorder
	seq    uint64

	// failKind is the first connection-level failure, set by the writer or
	// the reader goroutine (under failMu) and recorded once, by the
	// writer, after the reader has finished with rec.
	failMu   sync.Mutex
	failKind string
}

// fail notes a connection-level failure; only the first counts.
func (c *conn) fail(kind string) {
	c.failMu.Lock()
	defer c.failMu.Unlock()
	if c.failKind == "" {
		c.failKind = kind
	}
}

// recordFailure records the connection's failure, if any, once both of
// its goroutines are done.
func (c *conn) recordFailure() {
	c.failMu.Lock()
	defer c.failMu.Unlock()
	if c.failKind != "" {
		c.rec.ConnFailed(c.failKind)
	}
}

// schedule waits for the next send time in open loop and returns it; in
// closed loop it returns at once. flush runs before any wait. It returns
// false when the run is over.
type scheduler struct {
	open     bool
	next     time.Duration
	interval time.Duration
	timer    *time.Timer
}

func (c *conn) newScheduler() *scheduler {
	cfg := c.run.cfg
	s := &scheduler{open: cfg.Rate > 0}
	if s.open {
		s.interval = time.Duration(float64(time.Second) * float64(cfg.Conns) / cfg.Rate)
		// Stagger connections so that the total schedule is even.
		s.next = s.interval * time.Duration(c.idx) / time.Duration(cfg.Conns)
		s.timer = time.NewTimer(time.Hour)
		s.timer.Stop()
	}
	return s
}

func (c *conn) wait(ctx context.Context, s *scheduler, flush func() error) (time.Duration, bool) {
	if s.open {
		intended := s.next
		s.next += s.interval
		if d := intended - c.run.since(); d > 0 {
			if flush() != nil {
				return 0, false
			}
			if !c.sleepUntil(ctx, s.timer, intended) {
				return 0, false
			}
		}
		return intended, ctx.Err() == nil && c.run.take()
	}
	select {
	case <-ctx.Done():
		return 0, false
	default:
	}
	return 0, c.run.take()
}

// timerSlop is how late the Go runtime's timers may fire: they sleep in the
// netpoller, whose timeout has millisecond resolution on Linux.
const timerSlop = time.Millisecond

// sleepUntil sleeps until at (since the run's start). A Go timer covers
// all but the last timerSlop, a nanosleep(2) the rest: it parks only this
// connection's OS thread and wakes within the kernel's timer slack (50 µs),
// so open-loop sends leave on schedule instead of up to a millisecond late,
// which the corrected latency would otherwise charge to the server.
func (c *conn) sleepUntil(ctx context.Context, timer *time.Timer, at time.Duration) bool {
	if d := at - c.run.since() - timerSlop; d > 0 {
		timer.Reset(d)
		select {
		case <-timer.C:
		case <-ctx.Done():
			return false
		}
	}
	for {
		rem := at - c.run.since()
		if rem <= 0 {
			return true
		}
		ts := unix.NsecToTimespec(rem.Nanoseconds())
		_ = unix.Nanosleep(&ts, nil) // EINTR: loop and sleep the rest
	}
}

// connErrorKind names a connection-level failure without addresses, so
// that kinds aggregate.
func connErrorKind(err error) string {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "connection reset"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, respclient.ErrProtocol):
		return "protocol error"
	}
	return "connection error"
}

// errorKind names a server error reply: its text up to the first quote or
// digit (which carry keys, slots or addresses), at most 80 bytes, e.g.
// "ERR unknown command" or "MOVED".
func errorKind(msg []byte) string {
	end := len(msg)
	for i, c := range msg {
		if c == '\'' || c == '"' || c >= '0' && c <= '9' {
			end = i
			break
		}
	}
	end = min(end, 80)
	kind := strings.TrimRight(string(msg[:end]), " ,:(")
	if kind == "" {
		return "error reply"
	}
	return kind
}
