package shed

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cilium/ebpf"

	"github.com/dorivo/dorivo/bpf"
	"github.com/dorivo/dorivo/breaker"
	"github.com/dorivo/dorivo/datapath/core"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// Map is the part of the kernel's slot_shed map the Mirror writes
// (*ebpf.Map); keys are []uint32 slots, values []bpf.DorivoShedEntry.
type Map interface {
	BatchUpdate(keys, values any, opts *ebpf.BatchOptions) (int, error)
}

// Options configure a Mirror.
type Options struct {
	// Map is the kernel's slot_shed map; nil writes none (tests of the loops).
	Map Map
	// Board is where the loops take their copy; nil publishes none.
	Board *core.ShedBoard
	// Table maps slots to loops, for shedding an overloaded loop's slots.
	Table *slot.Table
	// PollEvery is how often breakers are polled while one is not closed
	// (default 50 ms): an idle open breaker moves to half-open only then.
	PollEvery time.Duration
	// OpenRetry is the retry-after of a breaker forced open, which has no
	// wait of its own (default 1 s).
	OpenRetry time.Duration
	Logger    *slog.Logger
}

// source is a breaker and what it sheds while open.
type source struct {
	b      *breaker.Breaker
	reason core.ShedReason
	slots  []uint16 // nil: every slot
}

// Mirror keeps slot_shed and the loops' shed set in step with its sources.
type Mirror struct {
	opts Options
	kick chan struct{}

	mu         sync.Mutex // sources, overloaded and trans; never held by the datapath
	sources    []source
	overloaded map[int]time.Duration // loop -> retry-after while shed
	trans      []breaker.Transition  // to log, in the Mirror's goroutine
	lostLogs   int
	last       core.ShedSet // what the map and the board hold
	lastShed   int          // slots shed in last
	// written: the map holds last. Until the first write it holds what a
	// crashed agent left in the pinned map, so every entry is written.
	written     bool
	writeErrors int
}

// maxQueuedTransitions bounds the transitions waiting to be logged.
const maxQueuedTransitions = 1024

// NewMirror returns a Mirror with no sources; Run starts it.
func NewMirror(opts Options) (*Mirror, error) {
	if opts.Table == nil {
		return nil, fmt.Errorf("shed: a slot table is required")
	}
	if opts.PollEvery <= 0 {
		opts.PollEvery = 50 * time.Millisecond
	}
	if opts.OpenRetry <= 0 {
		opts.OpenRetry = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Mirror{opts: opts, kick: make(chan struct{}, 1), overloaded: map[int]time.Duration{}}, nil
}

// Watch makes b shed slots (nil: every slot) for reason while it is open,
// and logs its transitions.
func (m *Mirror) Watch(b *breaker.Breaker, reason core.ShedReason, slots []uint16) {
	m.mu.Lock()
	m.sources = append(m.sources, source{b: b, reason: reason, slots: slots})
	m.mu.Unlock()
	b.AddListener(m.onTransition)
	m.Kick()
}

// onTransition runs on whatever goroutine moved the breaker (the store's
// syncer for the disk): it only queues and wakes the Mirror.
func (m *Mirror) onTransition(t breaker.Transition) {
	m.mu.Lock()
	if len(m.trans) < maxQueuedTransitions {
		m.trans = append(m.trans, t)
	} else {
		m.lostLogs++
	}
	m.mu.Unlock()
	m.Kick()
}

// SetOverloaded sheds (retry > 0) or serves again (0) loop i's slots.
func (m *Mirror) SetOverloaded(i int, retry time.Duration) {
	m.mu.Lock()
	if retry > 0 {
		m.overloaded[i] = retry
	} else {
		delete(m.overloaded, i)
	}
	m.mu.Unlock()
	m.Kick()
}

// Kick asks the Mirror to recompute now; it never blocks.
func (m *Mirror) Kick() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// Run recomputes and writes on every kick, and polls while a breaker is
// not closed, until ctx ends.
func (m *Mirror) Run(ctx context.Context) { m.RunUntil(ctx.Done()) }

// RunUntil is Run until stop is closed.
func (m *Mirror) RunUntil(stop <-chan struct{}) {
	t := time.NewTimer(m.opts.PollEvery)
	defer t.Stop()
	for {
		polling := m.Sync()
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		if polling {
			t.Reset(m.opts.PollEvery)
		}
		select {
		case <-stop:
			return
		case <-m.kick:
		case <-t.C:
		}
	}
}

// Sync logs queued transitions, polls the breakers, and writes what
// changed; it reports whether a breaker is not closed (keep polling). Run
// calls it; tests call it directly.
func (m *Mirror) Sync() (polling bool) {
	m.mu.Lock()
	trans, lost := m.trans, m.lostLogs
	m.trans, m.lostLogs = nil, 0
	sources := m.sources
	overloaded := make(map[int]time.Duration, len(m.overloaded))
	for i, d := range m.overloaded {
		overloaded[i] = d
	}
	m.mu.Unlock()
	for _, t := range trans {
		m.logTransition(t)
	}
	if lost > 0 {
		m.opts.Logger.Warn("breaker transitions not logged (queue full)", "lost", lost)
	}
	next := new(core.ShedSet)
	for _, src := range sources {
		st := src.b.Poll()
		if st != breaker.Closed && st != breaker.Disabled && st != breaker.MetricsOnly {
			polling = true
		}
		if st != breaker.Open && st != breaker.ForcedOpen {
			continue
		}
		retry := m.opts.OpenRetry
		if st == breaker.Open {
			retry = src.b.Snapshot().RetryAfter
		}
		m.shedSlots(next, src.slots, src.reason, retry)
	}
	for i, retry := range overloaded {
		for s, o := range m.opts.Table {
			if int(o) == i {
				addEntry(&next[s], core.ShedOverload, retry)
			}
		}
	}
	m.write(next)
	return polling
}

func (m *Mirror) shedSlots(set *core.ShedSet, slots []uint16, r core.ShedReason, retry time.Duration) {
	if slots == nil {
		for s := range set {
			addEntry(&set[s], r, retry)
		}
		return
	}
	for _, s := range slots {
		addEntry(&set[s], r, retry)
	}
}

// addEntry adds reason r to e; e's retry-after is the longest of its reasons'.
func addEntry(e *core.ShedEntry, r core.ShedReason, retry time.Duration) {
	e.Reasons |= r
	ms := min((retry+time.Millisecond-1)/time.Millisecond, time.Duration(bpf.DorivoUnavailableReplyUNAVAILABLE_MAX_RETRY_MS))
	e.RetryAfterMs = max(e.RetryAfterMs, uint16(max(ms, 0)))
}

func (m *Mirror) logTransition(t breaker.Transition) {
	level := slog.LevelInfo
	if t.To == breaker.Open || t.To == breaker.ForcedOpen {
		level = slog.LevelWarn
	}
	m.opts.Logger.Log(context.Background(), level, "breaker state changed", "transition", t)
}
