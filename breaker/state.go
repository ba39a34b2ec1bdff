package breaker

import (
	"fmt"
	"log/slog"
	"time"
)

// State is a breaker's state. The numbers are resilience4j's State.getOrder() and are stable,
// so they can be mirrored into a BPF map; the zero value is Closed (a zeroed map entry fails open).
type State uint32

const (
	Closed   State = 0 // calls pass; outcomes fill the sliding window
	Open     State = 1 // calls are rejected until the open wait has passed
	HalfOpen State = 2 // HalfOpenCalls probes pass; their rates decide closed or open
	// Disabled is operator-forced: every call passes, nothing is recorded, no transitions.
	Disabled State = 3
	// ForcedOpen is operator-forced: every call is rejected until an operator moves it.
	ForcedOpen State = 4
	// MetricsOnly is operator-forced: every call passes and is recorded, but the breaker never opens.
	MetricsOnly State = 5

	numStates = 6
)

func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half-open"
	case Disabled:
		return "disabled"
	case ForcedOpen:
		return "forced-open"
	case MetricsOnly:
		return "metrics-only"
	}
	return fmt.Sprintf("State(%d)", uint32(s))
}

func (s State) valid() bool { return s < numStates }

// Reason says why a transition happened.
type Reason uint8

const (
	// ReasonFailureRate and the next two: the window (closed) or the probes (half-open) reached
	// the failure-rate threshold, the slow-call-rate threshold, or both.
	ReasonFailureRate Reason = iota + 1
	ReasonSlowCallRate
	ReasonFailureAndSlowCallRate
	// ReasonOpenWaitElapsed: a check came after the open wait had passed (open → half-open).
	ReasonOpenWaitElapsed
	// ReasonProbesPassed: the half-open probes stayed below both thresholds (half-open → closed).
	ReasonProbesPassed
	// ReasonHalfOpenTimeout: the probes did not all report within MaxWaitInHalfOpen.
	ReasonHalfOpenTimeout
	// ReasonOperator: TransitionTo was called.
	ReasonOperator
	// ReasonReset: Reset was called.
	ReasonReset
)

func (r Reason) String() string {
	switch r {
	case ReasonFailureRate:
		return "failure-rate"
	case ReasonSlowCallRate:
		return "slow-call-rate"
	case ReasonFailureAndSlowCallRate:
		return "failure-and-slow-call-rate"
	case ReasonOpenWaitElapsed:
		return "open-wait-elapsed"
	case ReasonProbesPassed:
		return "probes-passed"
	case ReasonHalfOpenTimeout:
		return "half-open-timeout"
	case ReasonOperator:
		return "operator"
	case ReasonReset:
		return "reset"
	}
	return fmt.Sprintf("Reason(%d)", uint8(r))
}

// Transition is what listeners receive, after the breaker's lock is released. Listeners of
// concurrent transitions may run out of order; Seq (1, 2, 3… per breaker) restores the order.
type Transition struct {
	Breaker  string
	From, To State
	Reason   Reason
	// At is when it happened, on the breaker's clock (the start reading plus the elapsed
	// monotonic time, so a wall-clock step does not move it).
	At  time.Time
	Seq uint64
	// OpenFor is the wait before probing, when To is Open (it grows with backoff).
	OpenFor time.Duration
	// FailureRate and SlowCallRate are the window's rates (percent) at the transition, -1 when
	// it held fewer calls than it needs to judge.
	FailureRate, SlowCallRate float64
}

// LogValue makes a Transition print as a group of fields under log/slog.
func (t Transition) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("breaker", t.Breaker),
		slog.String("from", t.From.String()),
		slog.String("to", t.To.String()),
		slog.String("reason", t.Reason.String()),
		slog.Uint64("seq", t.Seq),
		slog.Float64("failure_rate", t.FailureRate),
		slog.Float64("slow_call_rate", t.SlowCallRate),
	}
	if t.To == Open {
		attrs = append(attrs, slog.Duration("open_for", t.OpenFor))
	}
	return slog.GroupValue(attrs...)
}

// Snapshot is a breaker's state and counters at one moment, for operators.
type Snapshot struct {
	Breaker string
	State   State
	// FailureRate and SlowCallRate are percentages over the current window, -1 while it holds
	// fewer calls than it needs to judge (MinimumCalls; HalfOpenCalls in half-open).
	FailureRate, SlowCallRate float64
	// BufferedCalls, FailedCalls, SlowCalls and SlowFailedCalls count the current window: the
	// closed window in closed, metrics-only and open after closed; the probes in half-open and
	// open after half-open (as resilience4j reports them).
	BufferedCalls, FailedCalls, SlowCalls, SlowFailedCalls int
	// NotPermittedCalls counts rejected checks since New (cumulative, unlike resilience4j's
	// per-state count, so it can be exported as a Prometheus counter).
	NotPermittedCalls uint64
	// Transitions[s] counts entries into state s since New.
	Transitions [numStates]uint64
	// Seq is the Seq of the last transition (0: none yet).
	Seq uint64
	// RetryAfter is the open wait left, in Open (0 once it has passed or in any other state).
	RetryAfter time.Duration
	// Attempts counts consecutive openings since the breaker was last closed; it drives backoff.
	Attempts int
}
