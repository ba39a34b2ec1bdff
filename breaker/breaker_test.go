package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dorivo/dorivo/breaker"
	"github.com/dorivo/dorivo/breaker/internal/fakeclock"
)

var errBoom = errors.New("boom")

// harness drives one breaker on a fake clock and logs the transitions its listener sees.
type harness struct {
	t   *testing.T
	b   *breaker.Breaker
	clk *fakeclock.Clock
	log []breaker.Transition
}

type step func(h *harness)

// calls makes n permitted calls of duration d ending in err; every Allow must say yes.
func calls(n int, d time.Duration, err error) step {
	return func(h *harness) {
		h.t.Helper()
		for i := range n {
			if !h.b.Allow() {
				h.t.Fatalf("call %d of %d (%v, %v) not permitted in %v", i+1, n, d, err, h.b.State())
			}
			h.b.Record(d, err)
		}
	}
}

func ok(n int) step   { return calls(n, time.Millisecond, nil) }
func fail(n int) step { return calls(n, time.Millisecond, errBoom) }
func slow(n int) step { return calls(n, 51*time.Millisecond, nil) }

// late records n outcomes of calls that were permitted earlier (no Allow now).
func late(n int, err error) step {
	return func(h *harness) {
		for range n {
			h.b.Record(time.Millisecond, err)
		}
	}
}

// allow checks that the next n checks all return want (without recording anything).
func allow(n int, want bool) step {
	return func(h *harness) {
		h.t.Helper()
		for i := range n {
			if got := h.b.Allow(); got != want {
				h.t.Fatalf("check %d of %d: Allow() = %v, want %v (state %v)", i+1, n, got, want, h.b.State())
			}
		}
	}
}

func advance(d time.Duration) step { return func(h *harness) { h.clk.Advance(d) } }

func state(want breaker.State) step {
	return func(h *harness) {
		h.t.Helper()
		if got := h.b.State(); got != want {
			h.t.Fatalf("State() = %v, want %v", got, want)
		}
	}
}

// window checks the snapshot's buffered, failed and slow calls.
func window(calls, failed, slow int) step {
	return func(h *harness) {
		h.t.Helper()
		s := h.b.Snapshot()
		if s.BufferedCalls != calls || s.FailedCalls != failed || s.SlowCalls != slow {
			h.t.Fatalf("window = %d calls, %d failed, %d slow; want %d, %d, %d",
				s.BufferedCalls, s.FailedCalls, s.SlowCalls, calls, failed, slow)
		}
	}
}

func rates(failure, slow float64) step {
	return func(h *harness) {
		h.t.Helper()
		s := h.b.Snapshot()
		if s.FailureRate != failure || s.SlowCallRate != slow {
			h.t.Fatalf("rates = %v%% failed, %v%% slow; want %v%%, %v%%", s.FailureRate, s.SlowCallRate, failure, slow)
		}
	}
}

func notPermitted(want uint64) step {
	return func(h *harness) {
		h.t.Helper()
		if got := h.b.Snapshot().NotPermittedCalls; got != want {
			h.t.Fatalf("NotPermittedCalls = %d, want %d", got, want)
		}
	}
}

func retryAfter(want time.Duration) step {
	return func(h *harness) {
		h.t.Helper()
		if got := h.b.Snapshot().RetryAfter; got != want {
			h.t.Fatalf("RetryAfter = %v, want %v", got, want)
		}
	}
}

func force(s breaker.State) step {
	return func(h *harness) {
		h.t.Helper()
		if err := h.b.TransitionTo(s); err != nil {
			h.t.Fatal(err)
		}
	}
}

func reset() step { return func(h *harness) { h.b.Reset() } }

func poll(want breaker.State) step {
	return func(h *harness) {
		h.t.Helper()
		if got := h.b.Poll(); got != want {
			h.t.Fatalf("Poll() = %v, want %v", got, want)
		}
	}
}

// base: a count window of 10 calls judged from 10, 3 probes, a fixed 10 s open wait.
func base(mod func(*breaker.Config)) breaker.Config {
	c := breaker.Config{
		WindowSize:         10,
		MinimumCalls:       10,
		HalfOpenCalls:      3,
		OpenWait:           10 * time.Second,
		OpenWaitMultiplier: 1,
	}
	if mod != nil {
		mod(&c)
	}
	return c
}

// tripped: a breaker that has just opened on failures (10 of 10 failed).
var tripped = fail(10)

// transitionCases follow resilience4j's documented CircuitBreaker behaviour. want lists the
// transitions the listener saw, as "from>to:reason" with "/wait" for openings.
var transitionCases = []struct {
	name  string
	cfg   breaker.Config
	steps []step
	want  []string
}{
	{
		name:  "closed stays closed below minimum calls",
		cfg:   base(func(c *breaker.Config) { c.MinimumCalls = 5 }),
		steps: []step{fail(4), state(breaker.Closed), window(4, 4, 0), rates(-1, -1), fail(1), state(breaker.Open)},
		want:  []string{"closed>open:failure-rate/10s"},
	},
	{
		name:  "minimum calls is capped at a count window's size",
		cfg:   base(func(c *breaker.Config) { c.WindowSize, c.MinimumCalls = 4, 100 }),
		steps: []step{fail(3), state(breaker.Closed), fail(1), state(breaker.Open)},
		want:  []string{"closed>open:failure-rate/10s"},
	},
	{
		name:  "closed stays closed below the failure-rate threshold",
		cfg:   base(nil),
		steps: []step{ok(6), fail(4), state(breaker.Closed), rates(40, 0)},
	},
	{
		name:  "opens when the failure rate reaches the threshold",
		cfg:   base(nil),
		steps: []step{ok(5), fail(4), state(breaker.Closed), fail(1), state(breaker.Open), rates(50, 0)},
		want:  []string{"closed>open:failure-rate/10s"},
	},
	{
		name: "a count window forgets calls older than its size",
		cfg:  base(func(c *breaker.Config) { c.WindowSize, c.MinimumCalls, c.FailureRateThreshold = 5, 5, 60 }),
		// Without eviction the last step would judge 5 of 10 = 50 % and stay closed.
		steps: []step{fail(2), ok(3), rates(40, 0), ok(2), rates(0, 0), fail(2), rates(40, 0),
			state(breaker.Closed), fail(1), rates(60, 0), state(breaker.Open)},
		want: []string{"closed>open:failure-rate/10s"},
	},
	{
		name: "opens on the slow-call rate; exactly the threshold duration is not slow",
		cfg:  base(func(c *breaker.Config) { c.SlowCallRateThreshold = 50 }),
		steps: []step{calls(5, 50*time.Millisecond, nil), slow(4), state(breaker.Closed), window(9, 0, 4),
			slow(1), state(breaker.Open), rates(0, 50)},
		want: []string{"closed>open:slow-call-rate/10s"},
	},
	{
		name: "slow failures count in both rates",
		cfg:  base(func(c *breaker.Config) { c.SlowCallRateThreshold = 50 }),
		steps: []step{ok(5), calls(4, time.Second, errBoom), window(9, 4, 4), state(breaker.Closed),
			calls(1, time.Second, errBoom), rates(50, 50)},
		want: []string{"closed>open:failure-and-slow-call-rate/10s"},
	},
	{
		name: "the default slow-call threshold is 50 ms at 100 %",
		cfg: breaker.Config{WindowSize: 10, MinimumCalls: 10, OpenWait: time.Second,
			SlowCallDuration: 0 /* default */},
		steps: []step{calls(1, 50*time.Millisecond, nil), calls(9, 51*time.Millisecond, nil), state(breaker.Closed),
			rates(0, 90), slow(1), state(breaker.Open)},
		want: []string{"closed>open:slow-call-rate/1s"},
	},
	{
		name: "a time window keeps calls inside its span",
		cfg:  base(func(c *breaker.Config) { c.WindowType, c.MinimumCalls = breaker.TimeBased, 4 }),
		steps: []step{fail(3), advance(9*time.Second + 999*time.Millisecond), window(3, 3, 0),
			ok(1), state(breaker.Open), rates(75, 0)},
		want: []string{"closed>open:failure-rate/10s"},
	},
	{
		name: "a time window drops expired buckets one by one",
		cfg:  base(func(c *breaker.Config) { c.WindowType, c.MinimumCalls = breaker.TimeBased, 4 }),
		steps: []step{fail(2), advance(5 * time.Second), fail(1), advance(5 * time.Second), window(1, 1, 0),
			ok(2), rates(-1, -1), advance(5 * time.Second), window(2, 0, 0), ok(2), rates(0, 0),
			advance(time.Hour), window(0, 0, 0), state(breaker.Closed)},
	},
	{
		name: "a time window with sub-second buckets",
		cfg: base(func(c *breaker.Config) {
			c.WindowType, c.WindowSize, c.BucketWidth, c.MinimumCalls = breaker.TimeBased, 5, 100*time.Millisecond, 2
		}),
		steps: []step{fail(1), advance(500 * time.Millisecond), ok(1), rates(-1, -1), window(1, 0, 0)},
	},
	{
		name: "open rejects calls, counts them and does not judge late results",
		cfg:  base(nil),
		steps: []step{tripped, allow(3, false), notPermitted(3), retryAfter(10 * time.Second),
			late(5, nil), state(breaker.Open), window(10, 5, 0), advance(4 * time.Second), allow(1, false),
			retryAfter(6 * time.Second), notPermitted(4)},
		want: []string{"closed>open:failure-rate/10s"},
	},
	{
		name: "half-open after the open wait, with a fixed number of probes",
		cfg:  base(nil),
		steps: []step{tripped, advance(10*time.Second - 1), allow(1, false), state(breaker.Open),
			advance(1), allow(3, true), state(breaker.HalfOpen), allow(2, false), notPermitted(3)},
		want: []string{"closed>open:failure-rate/10s", "open>half-open:open-wait-elapsed"},
	},
	{
		name: "half-open closes when the probes succeed, with a fresh window",
		cfg:  base(nil),
		steps: []step{tripped, advance(10 * time.Second), ok(2), state(breaker.HalfOpen), window(2, 0, 0),
			rates(-1, -1), ok(1), state(breaker.Closed), window(0, 0, 0), fail(9), state(breaker.Closed)},
		want: []string{"closed>open:failure-rate/10s", "open>half-open:open-wait-elapsed",
			"half-open>closed:probes-passed"},
	},
	{
		name:  "half-open judges probes by rate: one failure in three is below 50 %",
		cfg:   base(nil),
		steps: []step{tripped, advance(10 * time.Second), fail(1), ok(2), state(breaker.Closed)},
		want: []string{"closed>open:failure-rate/10s", "open>half-open:open-wait-elapsed",
			"half-open>closed:probes-passed"},
	},
	{
		name:  "half-open reopens when the probes fail",
		cfg:   base(nil),
		steps: []step{tripped, advance(10 * time.Second), ok(1), fail(2), state(breaker.Open), allow(1, false), window(3, 2, 0)},
		want: []string{"closed>open:failure-rate/10s", "open>half-open:open-wait-elapsed",
			"half-open>open:failure-rate/10s"},
	},
	{
		name: "half-open reopens when the probes are slow",
		cfg:  base(func(c *breaker.Config) { c.SlowCallRateThreshold = 50 }),
		steps: []step{tripped, advance(10 * time.Second), slow(2), ok(1), state(breaker.Open),
			rates(0, float64(2)*100/3)},
		want: []string{"closed>open:failure-rate/10s", "open>half-open:open-wait-elapsed",
			"half-open>open:slow-call-rate/10s"},
	},
	{
		name: "the open wait backs off while probes fail and starts over once closed",
		cfg:  base(func(c *breaker.Config) { c.OpenWaitMultiplier, c.MaxOpenWait = 2, 35*time.Second }),
		steps: []step{
			tripped, retryAfter(10 * time.Second), advance(10 * time.Second), fail(3),
			retryAfter(20 * time.Second), advance(20*time.Second - 1), allow(1, false), advance(1), fail(3),
			retryAfter(35 * time.Second), advance(35 * time.Second), fail(3), // capped, not 40 s
			advance(35 * time.Second), ok(3), state(breaker.Closed), tripped, retryAfter(10 * time.Second),
		},
		want: []string{
			"closed>open:failure-rate/10s", "open>half-open:open-wait-elapsed",
			"half-open>open:failure-rate/20s", "open>half-open:open-wait-elapsed",
			"half-open>open:failure-rate/35s", "open>half-open:open-wait-elapsed",
			"half-open>open:failure-rate/35s", "open>half-open:open-wait-elapsed",
			"half-open>closed:probes-passed", "closed>open:failure-rate/10s",
		},
	},
	{
		name: "half-open reopens when probes do not report within MaxWaitInHalfOpen",
		cfg:  base(func(c *breaker.Config) { c.MaxWaitInHalfOpen = 5 * time.Second }),
		steps: []step{tripped, advance(10 * time.Second), ok(1), allow(2, true), advance(5*time.Second - 1),
			allow(1, false), state(breaker.HalfOpen), advance(1), allow(1, false), state(breaker.Open)},
		want: []string{"closed>open:failure-rate/10s", "open>half-open:open-wait-elapsed",
			"half-open>open:half-open-timeout/10s"},
	},
	{
		name: "a released probe lets another through",
		cfg:  base(nil),
		steps: []step{tripped, advance(10 * time.Second), allow(3, true), allow(1, false),
			func(h *harness) { h.b.Release() }, allow(1, true), allow(1, false)},
		want: []string{"closed>open:failure-rate/10s", "open>half-open:open-wait-elapsed"},
	},
	{
		name: "Poll leaves open after the wait without taking a probe",
		cfg:  base(nil),
		steps: []step{tripped, poll(breaker.Open), advance(10 * time.Second), state(breaker.Open), retryAfter(0),
			poll(breaker.HalfOpen), allow(3, true), allow(1, false)},
		want: []string{"closed>open:failure-rate/10s", "open>half-open:open-wait-elapsed"},
	},
	{
		name: "forced open rejects everything, ignores results and holds past the wait",
		cfg:  base(nil),
		steps: []step{ok(3), force(breaker.ForcedOpen), allow(2, false), late(10, errBoom), window(0, 0, 0),
			advance(time.Hour), allow(1, false), poll(breaker.ForcedOpen), notPermitted(3),
			force(breaker.Closed), allow(1, true), fail(9), state(breaker.Closed), fail(1), state(breaker.Open)},
		want: []string{"closed>forced-open:operator", "forced-open>closed:operator", "closed>open:failure-rate/10s"},
	},
	{
		name: "disabled lets everything through and records nothing",
		cfg:  base(nil),
		steps: []step{force(breaker.Disabled), fail(50), state(breaker.Disabled), window(0, 0, 0),
			notPermitted(0), reset(), state(breaker.Closed)},
		want: []string{"closed>disabled:operator", "disabled>closed:reset"},
	},
	{
		name: "metrics-only records and rates but never opens",
		cfg:  base(nil),
		steps: []step{force(breaker.MetricsOnly), fail(20), state(breaker.MetricsOnly), window(10, 10, 0),
			rates(100, 0), force(breaker.Closed), window(0, 0, 0)},
		want: []string{"closed>metrics-only:operator", "metrics-only>closed:operator"},
	},
	{
		name: "operator opens and half-opens; an operator opening backs off too",
		cfg:  base(func(c *breaker.Config) { c.OpenWaitMultiplier = 2 }),
		steps: []step{force(breaker.Open), allow(1, false), retryAfter(10 * time.Second),
			force(breaker.HalfOpen), allow(3, true), force(breaker.Open), retryAfter(20 * time.Second)},
		want: []string{"closed>open:operator/10s", "open>half-open:operator", "half-open>open:operator/20s"},
	},
	{
		name: "reset closes an open breaker, empties its window and drops the backoff",
		cfg:  base(func(c *breaker.Config) { c.OpenWaitMultiplier = 2 }),
		steps: []step{tripped, advance(10 * time.Second), fail(3), retryAfter(20 * time.Second), reset(),
			state(breaker.Closed), allow(1, true), window(0, 0, 0), notPermitted(0), tripped,
			retryAfter(10 * time.Second)},
		want: []string{"closed>open:failure-rate/10s", "open>half-open:open-wait-elapsed",
			"half-open>open:failure-rate/20s", "open>closed:reset", "closed>open:failure-rate/10s"},
	},
	{
		name: "ignored errors are neither success nor failure",
		cfg: base(func(c *breaker.Config) {
			c.MinimumCalls = 2
			c.IsIgnored = func(err error) bool { return errors.Is(err, context.Canceled) }
		}),
		steps: []step{calls(5, time.Second, context.Canceled), window(0, 0, 0), ok(1), fail(1), state(breaker.Open),
			advance(10 * time.Second), calls(3, 0, context.Canceled), state(breaker.HalfOpen), ok(3),
			state(breaker.Closed)},
		want: []string{"closed>open:failure-rate/10s", "open>half-open:open-wait-elapsed",
			"half-open>closed:probes-passed"},
	},
	{
		name: "IsFailure decides which errors are failures",
		cfg: base(func(c *breaker.Config) {
			c.IsFailure = func(err error) bool { return !errors.Is(err, errNotFound) }
		}),
		steps: []step{calls(10, time.Millisecond, errNotFound), state(breaker.Closed), rates(0, 0), fail(5),
			state(breaker.Open)},
		want: []string{"closed>open:failure-rate/10s"},
	},
}

var errNotFound = errors.New("not found")

func TestTransitions(t *testing.T) {
	for _, tc := range transitionCases {
		t.Run(tc.name, func(t *testing.T) {
			h := &harness{t: t, clk: fakeclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))}
			tc.cfg.Clock = h.clk
			b, err := breaker.New("peer-2", tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			h.b = b
			b.AddListener(func(tr breaker.Transition) {
				if !tr.At.Equal(h.clk.Now()) {
					t.Errorf("transition %v>%v stamped %v, the clock reads %v", tr.From, tr.To, tr.At, h.clk.Now())
				}
				h.log = append(h.log, tr)
			})
			for _, s := range tc.steps {
				s(h)
			}
			var got []string
			for i, tr := range h.log {
				if tr.Seq != uint64(i+1) || tr.Breaker != "peer-2" {
					t.Errorf("transition %d: Seq %d, Breaker %q", i, tr.Seq, tr.Breaker)
				}
				if i > 0 && tr.From != h.log[i-1].To {
					t.Errorf("transition %d starts from %v, the previous one ended in %v", i, tr.From, h.log[i-1].To)
				}
				s := fmt.Sprintf("%v>%v:%v", tr.From, tr.To, tr.Reason)
				if tr.To == breaker.Open {
					s += "/" + tr.OpenFor.String()
				}
				got = append(got, s)
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("transitions:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
			snap := b.Snapshot()
			var entered uint64
			for _, n := range snap.Transitions {
				entered += n
			}
			if entered != uint64(len(h.log)) || snap.Seq != uint64(len(h.log)) {
				t.Errorf("snapshot counts %d transitions, Seq %d; the listener saw %d", entered, snap.Seq, len(h.log))
			}
		})
	}
}

func TestDo(t *testing.T) {
	clk := fakeclock.New(time.Unix(0, 0))
	b, err := breaker.New("origin", breaker.Config{WindowSize: 2, MinimumCalls: 2, SlowCallRateThreshold: 50,
		Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Do(func() error { clk.Advance(60 * time.Millisecond); return nil }); err != nil {
		t.Fatalf("Do returned %v for a successful call", err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Do swallowed the panic")
			}
		}()
		b.Do(func() error { panic("origin crashed") })
	}()
	s := b.Snapshot()
	if s.State != breaker.Open || s.FailedCalls != 1 || s.SlowCalls != 1 {
		t.Fatalf("after a slow call and a panic: %v with %d failed, %d slow; want open, 1, 1",
			s.State, s.FailedCalls, s.SlowCalls)
	}
	ran := false
	if err := b.Do(func() error { ran = true; return nil }); !errors.Is(err, breaker.ErrNotPermitted) || ran {
		t.Errorf("Do on an open breaker = %v (ran %v), want ErrNotPermitted without running", err, ran)
	}
}
