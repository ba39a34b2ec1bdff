package shed

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// LoadOptions configure a LoadMonitor.
type LoadOptions struct {
	// Loops is the number of event loops.
	Loops int
	// Socket returns a descriptor of loop i's UDP socket the monitor owns
	// (server.Server.UDPSocket); nil watches no queue.
	Socket func(ctx context.Context, i int) (int, error)
	// Probe runs nothing on loop i and returns once it ran
	// (server.Server.RunOnLoop with an empty func): how long that takes is
	// the loop's service latency. Nil measures none.
	Probe func(ctx context.Context, i int) error
	// Every is the sampling period (default 10 ms).
	Every time.Duration
	// MaxQueue is the bound on a loop's UDP receive queue, as a fraction
	// of its receive buffer (default 0.5: past it the kernel is about to
	// drop datagrams the loop has not read).
	MaxQueue float64
	// MaxLatency is the bound on the loop's service latency (default 20 ms),
	// passed when LatencySamples samples in a row (default 3) reach it: one
	// slow probe is as often the machine's scheduler as the loop.
	MaxLatency     time.Duration
	LatencySamples int
	// Hold is how long an overloaded loop's slots are shed at least, and
	// the retry-after XDP gives (default 200 ms). A loop recovers when,
	// after Hold, both measures are under half their bounds.
	Hold   time.Duration
	Logger *slog.Logger
}

// LoopLoad is one loop's last sample and state.
type LoopLoad struct {
	Loop int
	// Queue is the receive queue's share of the buffer (0..1), Latency the
	// last probe's time (MaxLatency when it timed out).
	Queue   float64
	Latency time.Duration
	// Overloaded: the loop's slots are shed now; Sheds counts the times
	// it became overloaded.
	Overloaded bool
	Sheds      uint64
}

// LoadMonitor samples every loop's UDP receive queue and service latency
// and marks a loop overloaded in the Mirror while either is past its bound.
type LoadMonitor struct {
	opts  LoadOptions
	mir   *Mirror
	fds   []int
	mu    sync.Mutex
	loads []LoopLoad
	until []time.Time // shed at least until
	slow  []int       // consecutive samples at MaxLatency or more
}

// NewLoadMonitor opens the loops' socket descriptors; Close closes them.
func NewLoadMonitor(ctx context.Context, mir *Mirror, opts LoadOptions) (*LoadMonitor, error) {
	if opts.Loops < 1 {
		return nil, fmt.Errorf("shed: load monitor of %d loops", opts.Loops)
	}
	if opts.Every <= 0 {
		opts.Every = 10 * time.Millisecond
	}
	if opts.MaxQueue <= 0 {
		opts.MaxQueue = 0.5
	}
	if opts.MaxLatency <= 0 {
		opts.MaxLatency = 20 * time.Millisecond
	}
	if opts.LatencySamples <= 0 {
		opts.LatencySamples = 3
	}
	if opts.Hold <= 0 {
		opts.Hold = 200 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	lm := &LoadMonitor{opts: opts, mir: mir, loads: make([]LoopLoad, opts.Loops), until: make([]time.Time, opts.Loops),
		slow: make([]int, opts.Loops)}
	for i := range opts.Loops {
		lm.loads[i].Loop = i
		fd := -1
		if opts.Socket != nil {
			var err error
			if fd, err = opts.Socket(ctx, i); err != nil {
				lm.Close()
				return nil, fmt.Errorf("shed: load monitor: %w", err)
			}
		}
		lm.fds = append(lm.fds, fd)
	}
	return lm, nil
}

// Close closes the descriptors.
func (lm *LoadMonitor) Close() {
	for i, fd := range lm.fds {
		if fd >= 0 {
			unix.Close(fd)
			lm.fds[i] = -1
		}
	}
}

// Loads returns every loop's last sample.
func (lm *LoadMonitor) Loads() []LoopLoad {
	lm.mu.Lock()
	defer lm.mu.Unlock()
	return append([]LoopLoad(nil), lm.loads...)
}

// Run samples until ctx ends.
func (lm *LoadMonitor) Run(ctx context.Context) {
	t := time.NewTicker(lm.opts.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for i := range lm.fds {
			lm.sample(ctx, i)
		}
	}
}

// sample measures loop i and moves it in or out of overload.
func (lm *LoadMonitor) sample(ctx context.Context, i int) {
	q := lm.queue(i)
	lat := lm.latency(ctx, i)
	now := time.Now()
	lm.mu.Lock()
	if lat >= lm.opts.MaxLatency {
		lm.slow[i]++
	} else {
		lm.slow[i] = 0
	}
	over := q > lm.opts.MaxQueue || lm.slow[i] >= lm.opts.LatencySamples
	calm := q <= lm.opts.MaxQueue/2 && lat < lm.opts.MaxLatency/2
	l := &lm.loads[i]
	l.Queue, l.Latency = q, lat
	was := l.Overloaded
	switch {
	case over:
		lm.until[i] = now.Add(lm.opts.Hold)
		if !was {
			l.Overloaded = true
			l.Sheds++
		}
	case was && calm && !now.Before(lm.until[i]):
		l.Overloaded = false
	}
	is := l.Overloaded
	lm.mu.Unlock()
	if is == was {
		return
	}
	if is {
		lm.opts.Logger.Warn("loop overloaded: XDP sheds its slots' datagrams", "loop", i, "queue", q, "latency", lat, "hold", lm.opts.Hold)
		lm.mir.SetOverloaded(i, lm.opts.Hold)
		return
	}
	lm.opts.Logger.Info("loop recovered: its slots are served again", "loop", i, "queue", q, "latency", lat)
	lm.mir.SetOverloaded(i, 0)
}

// queue is loop i's receive queue over its buffer (0 without a socket).
func (lm *LoadMonitor) queue(i int) float64 {
	if lm.fds[i] < 0 {
		return 0
	}
	rmem, rcvbuf, err := sockMem(lm.fds[i])
	if err != nil || rcvbuf == 0 {
		return 0
	}
	return float64(rmem) / float64(rcvbuf)
}

// latency is how long a no-op takes to run on loop i, at most MaxLatency.
func (lm *LoadMonitor) latency(ctx context.Context, i int) time.Duration {
	if lm.opts.Probe == nil {
		return 0
	}
	ctx, cancel := context.WithTimeout(ctx, lm.opts.MaxLatency)
	defer cancel()
	start := time.Now()
	if err := lm.opts.Probe(ctx, i); err != nil {
		return lm.opts.MaxLatency
	}
	return time.Since(start)
}

// sockMem reads a socket's receive memory and buffer size (SO_MEMINFO:
// SK_MEMINFO_RMEM_ALLOC and SK_MEMINFO_RCVBUF, in bytes).
func sockMem(fd int) (rmem, rcvbuf uint32, err error) {
	var mi [unix.SK_MEMINFO_VARS]uint32
	n := uint32(unsafe.Sizeof(mi))
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_MEMINFO,
		uintptr(unsafe.Pointer(&mi[0])), uintptr(unsafe.Pointer(&n)), 0)
	if e != 0 {
		return 0, 0, fmt.Errorf("getsockopt SO_MEMINFO: %w", e)
	}
	return mi[unix.SK_MEMINFO_RMEM_ALLOC], mi[unix.SK_MEMINFO_RCVBUF], nil
}
