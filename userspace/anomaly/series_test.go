package anomaly

import (
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// sampleVia gathers reg at each step and returns what the series sampled.
func sampleVia(t *testing.T, reg prometheus.Gatherer, s Series, steps int, between func(i int)) []float64 {
	t.Helper()
	p := &sampler{s: s}
	t0 := time.Unix(1_000_000, 0)
	var out []float64
	for i := range steps {
		between(i)
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		if x, ok := p.sample(newIndex(mfs), t0.Add(time.Duration(i)*5*time.Second)); ok {
			out = append(out, x)
		}
	}
	return out
}

// A counter read every 5 s gives its per-second rate; a reset (the value
// going down, as after a restart) skips that one interval instead of
// producing a negative or huge rate.
func TestRateAndReset(t *testing.T) {
	total := 0.0
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "reqs_total", Help: "h"}, func() float64 { return total }))
	got := sampleVia(t, reg, Rate("r", "reqs_total", nil), 10, func(i int) {
		if i == 5 {
			total = 20 // reset: restarted and counted 20
			return
		}
		total += 50
	})
	want := []float64{10, 10, 10, 10 /* reset skipped */, 10, 10, 10, 10}
	if len(got) != len(want) {
		t.Fatalf("rates %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("rates %v, want %v", got, want)
		}
	}
}

// A counter that resets every 50 samples while rising steadily never
// alerts through the detector.
func TestCounterResetsDoNotAlert(t *testing.T) {
	total := 0.0
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "c_total", Help: "h"}, func() float64 { return total }))
	d, err := New(Config{Gatherer: reg, Series: []Series{Rate("c", "c_total", nil)}, Rule: Rule{MinSamples: 20}})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(0, 0)
	for i := range 2000 {
		if i%50 == 0 {
			total = 0
		}
		total += 100 + float64(i%7) // 20 ± a bit per second
		d.Step(t0.Add(time.Duration(i) * 5 * time.Second))
	}
	r := d.Report()
	if len(r.Firing)+len(r.Resolved) != 0 {
		t.Fatalf("resets alerted: %+v", r)
	}
	if s := r.Series[0]; s.Samples != 2000-1-2000/50+1 || !s.Judged || s.Value < 20 || s.Value > 21.3 {
		t.Fatalf("series %+v", s)
	}
}

// Quantiles come from the observations of the interval only: a histogram
// whose early observations were all 1 ms then sees 100 observations
// spread over 0–100 ms reports p50 ≈ 50 ms, not a mix with the old ones.
func TestQuantileOfInterval(t *testing.T) {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "lat_seconds", Help: "h", Buckets: prometheus.LinearBuckets(0.01, 0.01, 10)}, []string{"loop"})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(h)
	got := sampleVia(t, reg, Quantile("p50", "lat_seconds", nil, 0.5), 3, func(i int) {
		switch i {
		case 0:
			for range 1000 {
				h.WithLabelValues("0").Observe(0.001)
			}
		case 1:
			for j := range 100 { // half on each loop: summed bucket-wise
				h.WithLabelValues([]string{"0", "1"}[j%2]).Observe(float64(j)/1000 + 0.0005)
			}
		}
	})
	// The first gather has no earlier one and the third interval no
	// observations: neither gives a sample.
	if len(got) != 1 || math.Abs(got[0]-0.05) > 0.002 {
		t.Fatalf("p50s %v, want [~0.05]", got)
	}
}

func TestQuantileMath(t *testing.T) {
	bounds := []float64{1, 2, 4, math.Inf(1)}
	prev := hist{bounds, []float64{10, 10, 10, 10}}
	cur := hist{bounds, []float64{10, 20, 30, 40}} // 10 in (1,2], 10 in (2,4], 10 above 4: the median is half-way into (2,4]
	for _, c := range []struct{ q, want float64 }{{0.1, 1.3}, {0.5, 3}, {0.99, 4}} {
		got, ok := quantile(c.q, prev, cur)
		if !ok || math.Abs(got-c.want) > 1e-9 {
			t.Errorf("q%v = %v %v, want %v", c.q, got, ok, c.want)
		}
	}
	if _, ok := quantile(0.5, cur, cur); ok {
		t.Error("quantile of no observations")
	}
	if _, ok := quantile(0.5, cur, prev); ok {
		t.Error("quantile across a reset")
	}
}

// Ratio divides the increases (mean latency = Δsum/Δcount), and selectors
// match labels exactly or by a trailing "*" prefix.
func TestRatioAndSelectors(t *testing.T) {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pk_total", Help: "h"}, []string{"reason"})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(v)
	got := sampleVia(t, reg, Ratio("drop_share", Selector{"pk_total", map[string]string{"reason": "drop_*"}}, Selector{"pk_total", nil}), 3, func(i int) {
		v.WithLabelValues("pass_udp").Add(90)
		v.WithLabelValues("drop_acl").Add(6)
		v.WithLabelValues("drop_quota").Add(4)
	})
	if len(got) != 2 || math.Abs(got[0]-0.1) > 1e-12 || math.Abs(got[1]-0.1) > 1e-12 {
		t.Fatalf("ratio %v, want [0.1 0.1]", got)
	}
	got = sampleVia(t, reg, Gauge("g", "pk_total", map[string]string{"reason": "pass_udp"}), 1, func(int) {})
	if len(got) != 1 || got[0] != 270 {
		t.Fatalf("exact match %v, want [270]", got)
	}
	if got := sampleVia(t, reg, Gauge("g", "pk_total", map[string]string{"nolabel": "x"}), 1, func(int) {}); len(got) != 0 {
		t.Fatalf("a label the metrics lack matched: %v", got)
	}
}
