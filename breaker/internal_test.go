package breaker

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/dorivo/dorivo/breaker/internal/fakeclock"
)

func newFake(t testing.TB, cfg Config) (*Breaker, *fakeclock.Clock) {
	t.Helper()
	clk := fakeclock.New(time.Unix(1_700_000_000, 0))
	cfg.Clock = clk
	b, err := New("t", cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b, clk
}

// Listeners run after the lock is released: they can take it and call back into the breaker.
func TestListenersRunOutsideTheLock(t *testing.T) {
	b, clk := newFake(t, Config{WindowSize: 2, MinimumCalls: 2, HalfOpenCalls: 1, OpenWait: time.Second})
	var seen []State
	b.AddListener(func(tr Transition) {
		if !b.mu.TryLock() {
			t.Errorf("%v>%v: listener called with the breaker's lock held", tr.From, tr.To)
			return
		}
		b.mu.Unlock()
		if s := b.Snapshot(); s.State != tr.To || s.Seq != tr.Seq {
			t.Errorf("snapshot in listener: state %v seq %d, transition to %v seq %d", s.State, s.Seq, tr.To, tr.Seq)
		}
		seen = append(seen, tr.To)
	})
	err := errors.New("x")
	b.Record(0, err)
	b.Record(0, err) // closed -> open (Record)
	clk.Advance(time.Second)
	b.Allow()        // open -> half-open (Allow)
	b.Record(0, nil) // half-open -> closed (Record)
	b.TransitionTo(ForcedOpen)
	b.Reset()
	want := []State{Open, HalfOpen, Closed, ForcedOpen, Closed}
	if len(seen) != len(want) {
		t.Fatalf("listener saw %v, want %v", seen, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("listener saw %v, want %v", seen, want)
		}
	}
}

// The hot path allocates nothing: checks in every state, recording, and whole transition cycles.
func TestHotPathAllocatesNothing(t *testing.T) {
	err := errors.New("x")
	for _, wt := range []WindowType{CountBased, TimeBased} {
		b, clk := newFake(t, Config{WindowType: wt, WindowSize: 4, MinimumCalls: 4, HalfOpenCalls: 2,
			OpenWait: time.Second, OpenWaitMultiplier: 2})
		check := func(what string, f func()) {
			t.Helper()
			if n := testing.AllocsPerRun(200, f); n != 0 {
				t.Errorf("%v: %s allocates %v per run", wt, what, n)
			}
		}
		check("Allow (closed)", func() { b.Allow() })
		check("Record (closed)", func() { b.Record(time.Millisecond, nil); clk.Advance(time.Millisecond) })
		b.TransitionTo(Open)
		check("Allow (open)", func() { b.Allow() })
		b.TransitionTo(ForcedOpen)
		check("Allow (forced open)", func() { b.Allow() })
		b.Reset()
		check("Snapshot", func() { b.Snapshot() })
		check("a closed>open>half-open>closed cycle", func() {
			for range 4 {
				b.Allow()
				b.Record(time.Millisecond, err)
			}
			clk.Advance(time.Hour)
			for range 2 {
				b.Allow()
				b.Record(time.Millisecond, nil)
			}
		})
		if s := b.Snapshot(); s.State != Closed || s.Transitions[Open] < 200 {
			t.Errorf("%v: the cycle did not cycle: %+v", wt, s)
		}
	}
}

func TestOpenWaitBackoffSaturates(t *testing.T) {
	c := Config{OpenWait: time.Second, OpenWaitMultiplier: 3, MaxOpenWait: time.Hour}.WithDefaults()
	for attempts, want := range map[int]time.Duration{0: time.Second, 1: time.Second, 2: 3 * time.Second,
		3: 9 * time.Second, 8: 2187 * time.Second, 9: time.Hour, 10_000: time.Hour} {
		if got := c.openWait(attempts); got != want {
			t.Errorf("openWait(%d) = %v, want %v", attempts, got, want)
		}
	}
	if got := addSat(1<<62, 1<<62); got != 1<<63-1 {
		t.Errorf("addSat overflowed to %d", got)
	}
}

func TestWindowCounts(t *testing.T) {
	w := newCountWindow(3)
	for _, o := range []outcome{outcomeFailed, outcomeSlow, outcomeFailed | outcomeSlow, 0, 0} {
		w.add(0, o)
	}
	// Holds the last three: slow-failed, ok, ok.
	if w.total != (tally{calls: 3, failed: 1, slow: 1, slowFailed: 1}) {
		t.Errorf("count window total %+v", w.total)
	}
	tw := newTimeWindow(3, 10)
	tw.reset(5)
	tw.add(5, outcomeFailed) // epoch 0
	tw.add(25, outcomeSlow)  // epoch 2
	tw.add(31, 0)            // epoch 3: epoch 0 leaves
	if tw.total != (tally{calls: 2, slow: 1}) {
		t.Errorf("time window total %+v", tw.total)
	}
	tw.add(20, outcomeFailed) // a clock that went back lands in the newest bucket
	tw.advance(1000)
	if tw.total != (tally{}) {
		t.Errorf("time window after expiry %+v", tw.total)
	}
}

func TestTransitionLogValue(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	log.Info("breaker", "t", Transition{Breaker: "peer-2", From: Closed, To: Open, Reason: ReasonSlowCallRate,
		Seq: 4, OpenFor: 5 * time.Second, FailureRate: 0, SlowCallRate: 62.5})
	for _, want := range []string{"t.breaker=peer-2", "t.from=closed", "t.to=open", "t.reason=slow-call-rate",
		"t.seq=4", "t.slow_call_rate=62.5", "t.open_for=5s"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log line %q lacks %q", buf.String(), want)
		}
	}
}

// With the system clock the breaker reads time.Since(base); check its units and sign.
func TestSystemClock(t *testing.T) {
	b, err := New("sys", Config{OpenWait: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !b.system {
		t.Fatal("the default clock is not recognised as the system clock")
	}
	var at time.Time
	b.AddListener(func(tr Transition) { at = tr.At })
	before := time.Now()
	b.TransitionTo(Open)
	after := time.Now()
	if at.Before(before) || at.After(after) {
		t.Errorf("transition stamped %v, outside [%v, %v]", at, before, after)
	}
	if r := b.Snapshot().RetryAfter; r <= 59*time.Minute || r > time.Hour {
		t.Errorf("RetryAfter = %v just after opening for 1h", r)
	}
	if b.Allow() {
		t.Error("an open breaker allowed a call")
	}
}
