package anomaly

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The sliding window's mean and variance equal a two-pass computation over
// exactly the last Window samples, long after the ring has wrapped.
func TestWindowMatchesTwoPass(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	w := newWindow(50)
	var all []float64
	for i := range 5000 {
		x := 1e6 + rng.NormFloat64()*3 + float64(i%17) // large offset: cancellation-prone
		w.add(x)
		all = append(all, x)
		if i%97 != 0 {
			continue
		}
		last := all[max(0, len(all)-50):]
		var sum float64
		for _, v := range last {
			sum += v
		}
		mean := sum / float64(len(last))
		var m2 float64
		for _, v := range last {
			m2 += (v - mean) * (v - mean)
		}
		want := 0.0
		if len(last) > 1 {
			want = m2 / float64(len(last)-1)
		}
		if w.n != len(last) || math.Abs(w.mean-mean) > 1e-6 || math.Abs(w.variance()-want) > 1e-6*math.Max(1, want) {
			t.Fatalf("after %d: n %d mean %v var %v, want %d %v %v", i+1, w.n, w.mean, w.variance(), len(last), mean, want)
		}
	}
}

// gaussianFires counts alerts fired over n samples of N(0,1).
func gaussianFires(r Rule, side Side, n int, seed uint64) int {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	tr := newTracker(r.withDefaults(), side, 0, 0)
	fires := 0
	for range n {
		if tr.observe(rng.NormFloat64()).Fired {
			fires++
		}
	}
	return fires
}

// Gaussian noise fires at the rate 3 sigma and K consecutive samples
// predict. With p = P(|Z| > 3) = 0.27 % per sample, an alert fires where a
// run of K exceedances starts: rate ≈ (1-p)·p^K per sample (runs are
// separated by the 2-sigma clear, which almost always follows at once).
// The estimated (not known) sigma and the clamped learning raise the rate
// a few percent; the tolerances allow that plus Poisson noise (k=1:
// ±10 % is 7 sd; k=2: ±35 % is ~4 sd).
func TestGaussianFalseAlertRate(t *testing.T) {
	pBoth := math.Erfc(3 / math.Sqrt2)
	for _, c := range []struct {
		name string
		k    int
		side Side
		n    int
		p    float64
		tol  float64
	}{
		{"k=1 two-sided", 1, Both, 2_000_000, pBoth, 0.10},
		{"k=1 above", 1, Above, 2_000_000, pBoth / 2, 0.12},
		{"k=2 two-sided", 2, Both, 20_000_000, pBoth, 0.35},
	} {
		r := Rule{Window: 1000, MinSamples: 1000, K: c.k, Fire: 3, Clear: 2}
		got := gaussianFires(r, c.side, c.n, 1)
		want := float64(c.n-1000) * math.Pow(c.p, float64(c.k)) * (1 - c.p)
		t.Logf("%s: %d alerts in %d samples, expected %.1f (ratio %.3f)", c.name, got, c.n, want, float64(got)/want)
		if math.Abs(float64(got)/want-1) > c.tol {
			t.Errorf("%s: %d alerts, expected %.1f ± %.0f%%", c.name, got, want, c.tol*100)
		}
	}
	// The default rule (K=4): p^4 ≈ 5e-11 per sample, so 2 M samples
	// (about 4 months at 5 s) expect 1e-4 alerts.
	if got := gaussianFires(DefaultRule, Both, 2_000_000, 2); got != 0 {
		t.Errorf("default rule: %d alerts on 2M Gaussian samples", got)
	}
}

// warm returns a tracker fed 1000 samples of N(0,1).
func warm(rng *rand.Rand, side Side) *tracker {
	tr := newTracker(DefaultRule, side, 0, 0)
	for range 1000 {
		if tr.observe(rng.NormFloat64()).Fired {
			panic("fired while warming")
		}
	}
	return tr
}

// firstFire feeds f(i) + noise and returns the index of the sample that
// fired (-1: none in n).
func firstFire(tr *tracker, rng *rand.Rand, n int, f func(i int) float64) int {
	for i := range n {
		if tr.observe(f(i) + rng.NormFloat64()).Fired {
			return i
		}
	}
	return -1
}

// A step of 6 sigma makes every sample an exceedance (P = 99.87 %), so it
// fires on its K-th sample; a ramp of 0.1 sigma per sample crosses 3 sigma
// near sample 30 and fires by the time it has climbed 3 more sigma (noise
// margin) plus K samples; a spike of 20 sigma lasting 5 samples fires on
// its K-th and clears on the first normal sample. Each over 20 seeds.
func TestStepRampSpikeDetected(t *testing.T) {
	k := DefaultRule.K
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 3))
		if got := firstFire(warm(rng, Above), rng, 100, func(int) float64 { return 6 }); got < 0 || got > k-1+1 {
			t.Errorf("seed %d: step fired at sample %d, want %d (±1)", seed, got, k-1)
		}
		const slope = 0.1
		limit := int(math.Ceil((DefaultRule.Fire+3)/slope)) + k
		if got := firstFire(warm(rng, Above), rng, 1000, func(i int) float64 { return slope * float64(i) }); got < 0 || got > limit {
			t.Errorf("seed %d: ramp fired at sample %d, want ≤ %d", seed, got, limit)
		}
		tr := warm(rng, Both)
		fired, cleared := -1, -1
		for i := range 20 {
			x := rng.NormFloat64()
			if i < 5 {
				x += 20
			}
			v := tr.observe(x)
			if v.Fired {
				fired = i
			}
			if v.Cleared && cleared < 0 {
				cleared = i
			}
		}
		if fired != k-1 || cleared < 5 || cleared > 7 {
			t.Errorf("seed %d: spike fired at %d (want %d), cleared at %d (want 5..7)", seed, fired, k-1, cleared)
		}
	}
}

// A spike shorter than K samples does not fire.
func TestShortSpikeIgnored(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	tr := warm(rng, Both)
	for i := range 50 {
		x := rng.NormFloat64()
		if i < DefaultRule.K-1 {
			x += 50
		}
		if tr.observe(x).Fired {
			t.Fatalf("a %d-sample spike fired at %d", DefaultRule.K-1, i)
		}
	}
}

// A constant series never alerts and never produces NaN; a move off it is
// infinitely far (fires after K), unless a floor says the move is small.
func TestConstantSeries(t *testing.T) {
	for _, c := range []float64{0, 42, -1e9} {
		tr := newTracker(DefaultRule, Both, 0, 0)
		for i := range 5000 {
			v := tr.observe(c)
			if v.Fired || math.IsNaN(v.Z) || math.IsNaN(v.Sigma) || (v.Judged && v.Z != 0) {
				t.Fatalf("constant %v, sample %d: %+v", c, i, v)
			}
		}
		fired := -1
		for i := range 10 {
			v := tr.observe(c + 1)
			if math.IsNaN(v.Z) {
				t.Fatalf("NaN z: %+v", v)
			}
			if v.Fired {
				fired = i
				break
			}
		}
		if fired != DefaultRule.K-1 {
			t.Errorf("constant %v then +1: fired at %d, want %d", c, fired, DefaultRule.K-1)
		}
		// With a floor of 1, a +1 move is within 3 sigma.
		tr = newTracker(DefaultRule, Both, 1, 0)
		for range 1000 {
			tr.observe(c)
		}
		for range 100 {
			if v := tr.observe(c + 1); v.Fired || v.Z > 1 {
				t.Fatalf("floored constant %v: %+v", c, v)
			}
		}
	}
}

// An alert stays while the anomaly lasts and clears at the first sample
// back within 2 sigma; a sample between 2 and 3 sigma holds it.
func TestAlertClears(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	tr := warm(rng, Above)
	sd := math.Sqrt(tr.win.variance())
	for range DefaultRule.K {
		tr.observe(10 * sd)
	}
	if !tr.firing {
		t.Fatal("did not fire")
	}
	if v := tr.observe(tr.win.mean + 2.5*sd); v.Cleared || !tr.firing {
		t.Fatalf("cleared at 2.5 sigma: %+v", v)
	}
	if v := tr.observe(tr.win.mean); !v.Cleared || tr.firing {
		t.Fatalf("not cleared at the mean: %+v", v)
	}
}

func TestRuleValidate(t *testing.T) {
	for _, r := range []Rule{{Window: 10, MinSamples: 20}, {Fire: 2, Clear: 3}, {MinSamples: 1}} {
		if err := r.withDefaults().validate(); err == nil {
			t.Errorf("%+v accepted", r)
		}
	}
	if err := DefaultRule.validate(); err != nil {
		t.Error(err)
	}
}
