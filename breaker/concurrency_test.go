package breaker_test

import (
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dorivo/dorivo/breaker"
	"github.com/dorivo/dorivo/breaker/internal/fakeclock"
)

// TestConcurrent hammers one breaker from callers (which also move the clock), a poller and an
// operator at once (run it with -race), then checks that the transitions form one ordered chain and the counters add up.
func TestConcurrent(t *testing.T) {
	for _, wt := range []breaker.WindowType{breaker.CountBased, breaker.TimeBased} {
		t.Run(wt.String(), func(t *testing.T) { runConcurrent(t, wt) })
	}
}

// load is the concurrent run's shared state.
type load struct {
	b                  *breaker.Breaker
	clk                *fakeclock.Clock
	start              time.Time
	rejected, admitted atomic.Uint64

	mu  sync.Mutex
	log []breaker.Transition // as the listener saw them
}

const callers, callsEach = 6, 4000

func runConcurrent(t *testing.T, wt breaker.WindowType) {
	l := &load{start: time.Unix(1_700_000_000, 0)}
	l.clk = fakeclock.New(l.start)
	b, err := breaker.New("peer", breaker.Config{
		WindowType: wt, WindowSize: 20, BucketWidth: 5 * time.Millisecond, MinimumCalls: 10,
		SlowCallRateThreshold: 50, HalfOpenCalls: 3, OpenWait: 50 * time.Millisecond,
		OpenWaitMultiplier: 2, MaxOpenWait: 400 * time.Millisecond, MaxWaitInHalfOpen: 300 * time.Millisecond,
		Clock: l.clk,
	})
	if err != nil {
		t.Fatal(err)
	}
	l.b = b
	b.AddListener(func(tr breaker.Transition) {
		l.mu.Lock()
		l.log = append(l.log, tr)
		l.mu.Unlock()
	})

	var wg, side sync.WaitGroup
	done := make(chan struct{})
	for g := range callers {
		wg.Go(func() { l.caller(g) })
	}
	// A mirror polling for time-driven transitions, and an operator's dashboard.
	side.Go(func() { repeat(done, 20*time.Microsecond, func() { b.Poll() }) })
	side.Go(func() { repeat(done, 10*time.Microsecond, func() { b.Snapshot() }) })
	wg.Wait()
	close(done)
	side.Wait()
	l.check(t)
}

// caller g makes callsEach calls; the dependency cycles through 250 ms phases of healthy,
// failing, slow, healthy, and time moves with the calls (~3 s in all).
func (l *load) caller(g int) {
	r := rand.New(rand.NewPCG(uint64(g), 1))
	for i := range callsEach {
		if i%8 == 0 {
			l.clk.Advance(time.Millisecond)
		}
		if g == 0 {
			operate(l.b, i)
		}
		if !l.b.Allow() {
			l.rejected.Add(1)
			continue
		}
		l.admitted.Add(1)
		var err error
		d := time.Millisecond
		switch phase := l.clk.Now().Sub(l.start) / (250 * time.Millisecond) % 4; {
		case phase == 1 && r.IntN(2) == 0:
			err = errBoom
		case phase == 2 && r.IntN(3) > 0:
			d = 80 * time.Millisecond
		}
		if r.IntN(50) == 0 {
			l.b.Release() // a caller that gave up before calling
		} else {
			l.b.Record(d, err)
		}
	}
}

// operate is the operator, at fixed points of caller 0's run.
func operate(b *breaker.Breaker, i int) {
	switch i {
	case 1500:
		b.TransitionTo(breaker.MetricsOnly)
	case 1700:
		b.Reset()
	case 2500:
		b.TransitionTo(breaker.ForcedOpen)
	case 2600:
		b.TransitionTo(breaker.Closed)
	}
}

func repeat(done <-chan struct{}, pause time.Duration, f func()) {
	for {
		select {
		case <-done:
			return
		default:
			f()
			time.Sleep(pause)
		}
	}
}

// check: the transitions form one chain ordered by Seq, and the counters add up.
func (l *load) check(t *testing.T) {
	snap := l.b.Snapshot()
	l.mu.Lock()
	defer l.mu.Unlock()
	log := l.log
	slices.SortFunc(log, func(a, b breaker.Transition) int { return int(a.Seq) - int(b.Seq) })
	var entered [6]uint64
	prev := breaker.Closed
	for i, tr := range log {
		if tr.Seq != uint64(i+1) {
			t.Fatalf("transition %d has Seq %d: a transition was lost or repeated", i, tr.Seq)
		}
		if tr.From != prev {
			t.Fatalf("transition %d (%v>%v) does not start where %d ended (%v)", tr.Seq, tr.From, tr.To, i, prev)
		}
		prev = tr.To
		entered[tr.To]++
	}
	if snap.State != prev || snap.Seq != uint64(len(log)) {
		t.Errorf("final state %v seq %d; the chain ends in %v after %d", snap.State, snap.Seq, prev, len(log))
	}
	if snap.Transitions != entered {
		t.Errorf("Transitions = %v, the listener saw %v", snap.Transitions, entered)
	}
	rejected, admitted := l.rejected.Load(), l.admitted.Load()
	if snap.NotPermittedCalls != rejected {
		t.Errorf("NotPermittedCalls = %d, callers saw %d rejections", snap.NotPermittedCalls, rejected)
	}
	if admitted+rejected != callers*callsEach {
		t.Errorf("%d admitted + %d rejected != %d checks", admitted, rejected, callers*callsEach)
	}
	// The run must have exercised the automatic machine as well as the operator's moves.
	for _, s := range []breaker.State{breaker.Open, breaker.HalfOpen, breaker.Closed} {
		if entered[s] < 2 {
			t.Errorf("entered %v %d times; transitions %v", s, entered[s], entered)
		}
	}
	if entered[breaker.MetricsOnly] != 1 || entered[breaker.ForcedOpen] != 1 {
		t.Errorf("the operator's two forced states were entered %d and %d times, want once each",
			entered[breaker.MetricsOnly], entered[breaker.ForcedOpen])
	}
	t.Logf("%d transitions %v, %d admitted, %d rejected", len(log), entered, admitted, rejected)
}

// Concurrent checks in half-open hand out exactly HalfOpenCalls probes.
func TestConcurrentProbesAreCapped(t *testing.T) {
	b, err := breaker.New("peer", breaker.Config{HalfOpenCalls: 5, Clock: fakeclock.New(time.Unix(0, 0))})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.TransitionTo(breaker.HalfOpen); err != nil {
		t.Fatal(err)
	}
	var permitted atomic.Uint64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if b.Allow() {
					permitted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if got, rejected := permitted.Load(), b.Snapshot().NotPermittedCalls; got != 5 || rejected != 795 {
		t.Errorf("%d probes permitted and %d rejected of 800, want 5 and 795", got, rejected)
	}
}
