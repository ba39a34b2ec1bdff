package anomaly

import (
	"fmt"
	"math"
)

// Rule is the per-series test: a sample is an exceedance when it lies more
// than Fire standard deviations from the mean of the previous Window
// samples; K consecutive exceedances fire an alert, which clears at the
// first sample within Clear deviations.
type Rule struct {
	Window     int     // samples in the rolling baseline (default 720: 1 h at 5 s)
	MinSamples int     // no verdict before this many samples (default 100)
	K          int     // consecutive exceedances that fire (default 4)
	Fire       float64 // default 3
	Clear      float64 // default 2
}

// DefaultRule is the rule research/obs.md §5.2 recommends.
var DefaultRule = Rule{Window: 720, MinSamples: 100, K: 4, Fire: 3, Clear: 2}

func (r Rule) withDefaults() Rule {
	d := DefaultRule
	if r.Window > 0 {
		d.Window = r.Window
	}
	if r.MinSamples > 0 {
		d.MinSamples = r.MinSamples
	}
	if r.K > 0 {
		d.K = r.K
	}
	if r.Fire > 0 {
		d.Fire = r.Fire
	}
	if r.Clear > 0 {
		d.Clear = r.Clear
	}
	return d
}

func (r Rule) validate() error {
	switch {
	case r.MinSamples < 2 || r.MinSamples > r.Window:
		return fmt.Errorf("anomaly: rule needs 2 <= MinSamples (%d) <= Window (%d)", r.MinSamples, r.Window)
	case r.Clear > r.Fire:
		return fmt.Errorf("anomaly: rule clears at %v sigma, above its firing %v sigma", r.Clear, r.Fire)
	}
	return nil
}

// Side says which deviations count.
type Side int

const (
	Both  Side = iota // too high or too low
	Above             // too high only (latency, errors, stalls)
)

// tracker applies a Rule to one series of samples.
type tracker struct {
	rule     Rule
	side     Side
	floor    float64 // absolute floor on sigma, in the series' unit
	relFloor float64 // floor on sigma as a fraction of |mean|
	win      *window
	streak   int
	firing   bool
	last     verdict
}

// verdict is what a tracker concluded about one sample.
type verdict struct {
	Value, Mean, Sigma, Z float64
	Judged                bool // enough history to score
	Fired, Cleared        bool // the transition this sample caused
}

func newTracker(r Rule, side Side, floor, relFloor float64) *tracker {
	return &tracker{rule: r, side: side, floor: floor, relFloor: relFloor, win: newWindow(r.Window)}
}

// observe scores x against the window as it was before x, applies the
// fire/clear rule, then lets x into the window.
func (t *tracker) observe(x float64) verdict {
	v := verdict{Value: x, Mean: t.win.mean}
	if t.win.n < t.rule.MinSamples {
		t.win.add(x)
		t.last = v
		return v
	}
	v.Judged = true
	v.Sigma = math.Max(math.Sqrt(t.win.variance()), math.Max(t.floor, t.relFloor*math.Abs(v.Mean)))
	switch d := x - v.Mean; {
	case v.Sigma > 0:
		v.Z = d / v.Sigma
	case d > 0: // a constant series moved: infinitely unlikely, no division by zero
		v.Z = math.Inf(1)
	case d < 0:
		v.Z = math.Inf(-1)
	}
	dev := v.Z
	if t.side == Both {
		dev = math.Abs(dev)
	}
	if dev > t.rule.Fire {
		t.streak++
	} else {
		t.streak = 0
	}
	switch {
	case !t.firing && t.streak >= t.rule.K:
		t.firing, v.Fired = true, true
	case t.firing && dev < t.rule.Clear:
		t.firing, v.Cleared = false, true
	}
	t.win.add(t.learned(x, v))
	t.last = v
	return v
}

// learned is what x adds to the baseline: x itself, or x pulled in to the
// firing band so that one wild sample cannot blow up sigma.
func (t *tracker) learned(x float64, v verdict) float64 {
	if v.Sigma == 0 {
		return x
	}
	lim := t.rule.Fire * v.Sigma
	return math.Min(math.Max(x, v.Mean-lim), v.Mean+lim)
}
