package breaker

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// ErrNotPermitted is returned by Do when the breaker rejects the call.
var ErrNotPermitted = errors.New("breaker: call not permitted")

// errPanicked is recorded for a Do whose function panicked.
var errPanicked = errors.New("breaker: call panicked")

// Breaker is one circuit breaker. All methods are safe for concurrent use.
type Breaker struct {
	// state holds a State. It is read without the lock (the hot path) and written only with
	// mu held, so transitions are serialized.
	state atomic.Uint32
	// openUntil is the breaker-clock time (ns since base) from which an Open breaker lets a
	// probe through. Stored before state becomes Open, so a reader that sees Open sees it.
	openUntil    atomic.Int64
	notPermitted atomic.Uint64
	listeners    atomic.Pointer[[]func(Transition)] // copy-on-write, appended under mu

	name     string
	cfg      Config
	base     time.Time // breaker-clock zero; times are Now().Sub(base), monotonic with time.Now
	system   bool      // the clock is time.Now, so time.Since(base) reads it at half the cost
	minCalls int       // MinimumCalls as the closed window applies it

	mu         sync.Mutex
	closed     *window // closed and metrics-only window
	probes     *window // half-open window: count-based, HalfOpenCalls long
	view       *window // the window Snapshot reports and Open records into
	issued     int     // probes let through in the current half-open (<= HalfOpenCalls)
	halfOpenAt int64   // breaker-clock time half-open began
	attempts   int     // consecutive openings since last closed; drives the backoff
	seq        uint64  // Seq of the last transition
	entered    [numStates]uint64
}

// New returns a closed breaker called name with cfg (zero fields take their defaults).
func New(name string, cfg Config) (*Breaker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("breaker %q: %w", name, err)
	}
	cfg = cfg.WithDefaults()
	b := &Breaker{name: name, cfg: cfg, base: cfg.Clock.Now(), minCalls: cfg.minCalls()}
	_, b.system = cfg.Clock.(systemClock)
	if cfg.WindowType == TimeBased {
		b.closed = newTimeWindow(cfg.WindowSize, int64(cfg.BucketWidth))
	} else {
		b.closed = newCountWindow(cfg.WindowSize)
	}
	b.probes = newCountWindow(cfg.HalfOpenCalls)
	b.view = b.closed
	return b, nil
}

// Name returns the breaker's name.
func (b *Breaker) Name() string { return b.name }

// State returns the current state with one atomic load. An Open breaker whose wait has passed
// still reads Open until a check (Allow, Poll) moves it to half-open.
func (b *Breaker) State() State { return State(b.state.Load()) }

// Allow reports whether a call may go ahead; a caller that gets true must later call Record
// (or Release). In the closed state it is one atomic load and allocates nothing. In open it
// counts a not-permitted call; the first check after the open wait has passed moves the
// breaker to half-open (lazily, like resilience4j with automaticTransition off) and takes a probe.
func (b *Breaker) Allow() bool {
	if State(b.state.Load()) == Closed {
		return true
	}
	return b.allowNotClosed()
}

func (b *Breaker) allowNotClosed() bool {
	switch State(b.state.Load()) {
	case Closed, Disabled, MetricsOnly:
		return true
	case ForcedOpen:
		b.notPermitted.Add(1)
		return false
	case Open:
		if b.nanos() < b.openUntil.Load() {
			b.notPermitted.Add(1)
			return false
		}
	}
	// Open past its wait, or HalfOpen: probes are handed out under the lock.
	var i instant
	b.mu.Lock()
	t, moved := b.tickLocked(&i)
	ok := b.admitLocked()
	b.mu.Unlock()
	if moved {
		b.notify(t)
	}
	if !ok {
		b.notPermitted.Add(1)
	}
	return ok
}

// admitLocked decides a call once time-driven transitions are applied.
func (b *Breaker) admitLocked() bool {
	switch State(b.state.Load()) {
	case Closed, Disabled, MetricsOnly:
		return true
	case HalfOpen:
		if b.issued < b.cfg.HalfOpenCalls {
			b.issued++
			return true
		}
	}
	return false
}

// Record reports the outcome of a permitted call: how long it took and its error (nil for
// success). It takes the breaker's lock briefly and allocates nothing. A result counts in the
// state it arrives in: a call let through while closed that ends in half-open counts as a probe,
// as in resilience4j.
func (b *Breaker) Record(d time.Duration, err error) {
	s := State(b.state.Load())
	if s == Disabled || s == ForcedOpen {
		return
	}
	if err != nil && b.cfg.IsIgnored != nil && b.cfg.IsIgnored(err) {
		b.Release()
		return
	}
	var o outcome
	if err != nil && (b.cfg.IsFailure == nil || b.cfg.IsFailure(err)) {
		o |= outcomeFailed
	}
	if d > b.cfg.SlowCallDuration {
		o |= outcomeSlow
	}
	var i instant
	if b.cfg.WindowType == TimeBased {
		b.read(&i) // read the clock outside the lock
	}
	b.mu.Lock()
	t, moved := b.recordLocked(o, &i)
	b.mu.Unlock()
	if moved {
		b.notify(t)
	}
}

func (b *Breaker) recordLocked(o outcome, i *instant) (Transition, bool) {
	switch State(b.state.Load()) {
	case Closed:
		b.closed.add(i.ns, o)
		if r, trip := b.judge(&b.closed.total, b.minCalls); trip {
			return b.moveLocked(Open, r, i), true
		}
	case MetricsOnly:
		b.closed.add(i.ns, o)
	case Open:
		// A call let through before the breaker opened: kept for operators, not judged.
		b.view.add(i.ns, o)
	case HalfOpen:
		b.probes.add(0, o)
		if b.probes.total.calls < b.cfg.HalfOpenCalls {
			break
		}
		if r, trip := b.judge(&b.probes.total, b.cfg.HalfOpenCalls); trip {
			return b.moveLocked(Open, r, i), true
		}
		return b.moveLocked(Closed, ReasonProbesPassed, i), true
	}
	return Transition{}, false
}

// judge compares a window's rates with the thresholds; trip is false below minCalls.
func (b *Breaker) judge(t *tally, minCalls int) (r Reason, trip bool) {
	failure, slow := t.rates(minCalls)
	if failure < 0 {
		return 0, false
	}
	failed := failure >= b.cfg.FailureRateThreshold
	slowed := slow >= b.cfg.SlowCallRateThreshold
	switch {
	case failed && slowed:
		return ReasonFailureAndSlowCallRate, true
	case failed:
		return ReasonFailureRate, true
	case slowed:
		return ReasonSlowCallRate, true
	}
	return 0, false
}

// Release gives back a permission that was granted but not used for a call. Only a half-open
// breaker keeps count of permissions, so elsewhere it does nothing.
func (b *Breaker) Release() {
	if State(b.state.Load()) != HalfOpen {
		return
	}
	b.mu.Lock()
	if State(b.state.Load()) == HalfOpen && b.issued > 0 {
		b.issued--
	}
	b.mu.Unlock()
}

// Do runs fn if the breaker allows it and records its duration and error; otherwise it returns
// ErrNotPermitted without calling fn. A panic in fn is recorded as a failure and propagates.
func (b *Breaker) Do(fn func() error) error {
	if !b.Allow() {
		return ErrNotPermitted
	}
	start := b.nanos()
	recorded := false
	defer func() {
		if !recorded {
			b.Record(time.Duration(b.nanos()-start), errPanicked)
		}
	}()
	err := fn()
	recorded = true
	b.Record(time.Duration(b.nanos()-start), err)
	return err
}

// Poll applies the time-driven transitions (open wait passed → half-open; half-open past
// MaxWaitInHalfOpen → open) without taking a probe, and returns the state. An agent that mirrors
// state elsewhere (a BPF map) calls it on a ticker so an idle breaker still leaves Open.
func (b *Breaker) Poll() State {
	switch s := State(b.state.Load()); s {
	case Open:
		if b.nanos() < b.openUntil.Load() {
			return s
		}
	case HalfOpen:
		if b.cfg.MaxWaitInHalfOpen <= 0 {
			return s
		}
	default:
		return s
	}
	var i instant
	b.mu.Lock()
	t, moved := b.tickLocked(&i)
	s := State(b.state.Load())
	b.mu.Unlock()
	if moved {
		b.notify(t)
	}
	return s
}

// tickLocked applies the transitions that time alone causes.
func (b *Breaker) tickLocked(i *instant) (Transition, bool) {
	switch State(b.state.Load()) {
	case Open:
		if b.read(i) >= b.openUntil.Load() {
			return b.moveLocked(HalfOpen, ReasonOpenWaitElapsed, i), true
		}
	case HalfOpen:
		if wait := b.cfg.MaxWaitInHalfOpen; wait > 0 && b.read(i)-b.halfOpenAt >= int64(wait) {
			return b.moveLocked(Open, ReasonHalfOpenTimeout, i), true
		}
	}
	return Transition{}, false
}

// TransitionTo moves the breaker to s on an operator's request, as resilience4j's
// transitionTo*State methods do: Open starts a (backed-off) open wait, HalfOpen starts probing,
// Closed starts a fresh window, and Disabled, ForcedOpen and MetricsOnly hold until the next
// TransitionTo or Reset. Moving to the current state starts it afresh.
func (b *Breaker) TransitionTo(s State) error {
	if !s.valid() {
		return fmt.Errorf("breaker %q: transition to unknown %v", b.name, s)
	}
	b.transition(s, ReasonOperator)
	return nil
}

// Reset returns the breaker to Closed with an empty window and no backoff. The cumulative
// counters in Snapshot (not-permitted calls, transitions) are kept.
func (b *Breaker) Reset() { b.transition(Closed, ReasonReset) }

func (b *Breaker) transition(s State, r Reason) {
	var i instant
	b.mu.Lock()
	t := b.moveLocked(s, r, &i)
	b.mu.Unlock()
	b.notify(t)
}

// moveLocked performs a transition and returns what listeners will get once mu is released.
func (b *Breaker) moveLocked(to State, r Reason, i *instant) Transition {
	now := b.read(i)
	b.view.advance(now)
	t := Transition{Breaker: b.name, From: State(b.state.Load()), To: to, Reason: r, At: b.base.Add(time.Duration(now))}
	t.FailureRate, t.SlowCallRate = b.view.total.rates(b.viewMinCalls())
	switch to {
	case Open:
		b.attempts++
		t.OpenFor = b.cfg.openWait(b.attempts)
		b.openUntil.Store(addSat(now, int64(t.OpenFor)))
		// Open keeps the window that tripped it, as resilience4j does.
	case HalfOpen:
		b.probes.reset(now)
		b.view, b.issued, b.halfOpenAt = b.probes, 0, now
	case ForcedOpen:
		b.attempts++
		b.closed.reset(now)
		b.view = b.closed
	default: // Closed, Disabled, MetricsOnly
		b.attempts = 0
		b.closed.reset(now)
		b.view = b.closed
	}
	b.state.Store(uint32(to))
	b.seq++
	b.entered[to]++
	t.Seq = b.seq
	return t
}

func (b *Breaker) viewMinCalls() int {
	if b.view == b.probes {
		return b.cfg.HalfOpenCalls
	}
	return b.minCalls
}

// Snapshot returns the state and counters for operators.
func (b *Breaker) Snapshot() Snapshot {
	var i instant
	now := b.read(&i)
	b.mu.Lock()
	b.view.advance(now)
	s := Snapshot{
		Breaker:         b.name,
		State:           State(b.state.Load()),
		BufferedCalls:   b.view.total.calls,
		FailedCalls:     b.view.total.failed,
		SlowCalls:       b.view.total.slow,
		SlowFailedCalls: b.view.total.slowFailed,
		Transitions:     b.entered,
		Seq:             b.seq,
		Attempts:        b.attempts,
	}
	s.FailureRate, s.SlowCallRate = b.view.total.rates(b.viewMinCalls())
	if s.State == Open {
		s.RetryAfter = time.Duration(max(b.openUntil.Load()-now, 0))
	}
	b.mu.Unlock()
	s.NotPermittedCalls = b.notPermitted.Load()
	return s
}

// AddListener registers fn for every later transition. Listeners run on the goroutine that
// caused the transition, after the breaker's lock is released, so they may call the breaker;
// they should be quick (hand slow work, such as a BPF map update, to another goroutine).
func (b *Breaker) AddListener(fn func(Transition)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var ls []func(Transition)
	if old := b.listeners.Load(); old != nil {
		ls = append(ls, *old...)
	}
	ls = append(ls, fn)
	b.listeners.Store(&ls)
}

func (b *Breaker) notify(t Transition) {
	if ls := b.listeners.Load(); ls != nil {
		for _, fn := range *ls {
			fn(t)
		}
	}
}

// instant is one clock reading, taken at most once per operation and only if needed.
type instant struct {
	ns  int64 // breaker-clock time
	set bool
}

func (b *Breaker) read(i *instant) int64 {
	if !i.set {
		i.ns, i.set = b.nanos(), true
	}
	return i.ns
}

// nanos reads the breaker clock: nanoseconds since base.
func (b *Breaker) nanos() int64 {
	if b.system {
		return int64(time.Since(b.base)) // one monotonic read; time.Now reads two clocks
	}
	return int64(b.cfg.Clock.Now().Sub(b.base))
}

// addSat adds without overflowing past math.MaxInt64.
func addSat(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}
