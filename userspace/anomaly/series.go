package anomaly

import (
	"math"
	"sort"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// Kind says how a series turns gathered metrics into one sample.
type Kind int

const (
	KindGauge    Kind = iota // the value (summed over matching series)
	KindRate                 // per-second rate of a counter; a reset skips one interval
	KindDeriv                // per-second change of a gauge (memory growth)
	KindRatio                // rate(Sel) / rate(Den): mean latency from _sum/_count, error fraction
	KindQuantile             // quantile Q of a histogram's observations since the last sample
)

// Selector picks metrics from one family: every metric whose labels
// include Match (all of them when Match is empty); a Match value ending in
// "*" matches by prefix ("drop_*"). Values of several matches are summed
// (histograms bucket by bucket).
type Selector struct {
	Family string
	Match  map[string]string
}

// Series is one signal the detector follows.
type Series struct {
	Name string // the series label of dorivo_anomaly and of alerts
	Kind Kind
	Sel  Selector
	Den  Selector // KindRatio's denominator
	Q    float64  // KindQuantile's quantile, in (0, 1)
	Side Side
	// Floor is the smallest sigma the series is judged with, in its unit
	// (e.g. 1 ms for a latency): a near-constant series does not alert on
	// changes nobody would care about. RelFloor is the same as a fraction
	// of the mean.
	Floor, RelFloor float64
	// Func, when set, replaces Sel: it returns the raw value (a counter's
	// total for KindRate) and whether there is one.
	Func func() (float64, bool)
	Help string // shown in alerts: what the series is and what to check
}

// Gauge follows the value of a gauge family.
func Gauge(name, family string, match map[string]string) Series {
	return Series{Name: name, Kind: KindGauge, Sel: Selector{family, match}}
}

// Rate follows the per-second rate of a counter family.
func Rate(name, family string, match map[string]string) Series {
	return Series{Name: name, Kind: KindRate, Sel: Selector{family, match}}
}

// Deriv follows the per-second change of a gauge family.
func Deriv(name, family string, match map[string]string) Series {
	return Series{Name: name, Kind: KindDeriv, Sel: Selector{family, match}}
}

// Ratio follows rate(num)/rate(den); intervals with no den increase are skipped.
func Ratio(name string, num, den Selector) Series {
	return Series{Name: name, Kind: KindRatio, Sel: num, Den: den}
}

// Quantile follows quantile q of a histogram over each sampling interval;
// intervals with no observations are skipped.
func Quantile(name, family string, match map[string]string, q float64) Series {
	return Series{Name: name, Kind: KindQuantile, Sel: Selector{family, match}, Q: q}
}

// With returns s with side and sigma floors set.
func (s Series) With(side Side, floor, relFloor float64) Series {
	s.Side, s.Floor, s.RelFloor = side, floor, relFloor
	return s
}

// index maps family names to families for one gather.
type index map[string]*dto.MetricFamily

func newIndex(mfs []*dto.MetricFamily) index {
	ix := make(index, len(mfs))
	for _, mf := range mfs {
		ix[mf.GetName()] = mf
	}
	return ix
}

func matches(m *dto.Metric, want map[string]string) bool {
	found := 0
	for _, l := range m.GetLabel() {
		if v, ok := want[l.GetName()]; ok {
			if p, glob := strings.CutSuffix(v, "*"); glob && !strings.HasPrefix(l.GetValue(), p) || !glob && v != l.GetValue() {
				return false
			}
			found++
		}
	}
	return found == len(want)
}

// scalar sums the counter, gauge or untyped values of the selection.
func (ix index) scalar(sel Selector) (float64, bool) {
	mf := ix[sel.Family]
	if mf == nil {
		return 0, false
	}
	sum, n := 0.0, 0
	for _, m := range mf.GetMetric() {
		if !matches(m, sel.Match) {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Untyped != nil:
			sum += m.Untyped.GetValue()
		default:
			continue
		}
		n++
	}
	return sum, n > 0
}

// hist is a cumulative histogram: counts[i] observations ≤ bounds[i], the
// last bound +Inf.
type hist struct {
	bounds []float64
	counts []float64
}

// histogram sums the selected histograms bucket-wise; ones whose bounds
// differ from the first are left out.
func (ix index) histogram(sel Selector) (hist, bool) {
	mf := ix[sel.Family]
	if mf == nil {
		return hist{}, false
	}
	var h hist
	for _, m := range mf.GetMetric() {
		dh := m.GetHistogram()
		if dh == nil || !matches(m, sel.Match) {
			continue
		}
		bs := dh.GetBucket()
		if h.bounds == nil {
			for _, b := range bs {
				h.bounds = append(h.bounds, b.GetUpperBound())
				h.counts = append(h.counts, 0)
			}
			if len(h.bounds) == 0 || !math.IsInf(h.bounds[len(h.bounds)-1], 1) {
				h.bounds = append(h.bounds, math.Inf(1))
				h.counts = append(h.counts, 0)
			}
		}
		if len(bs) != len(h.bounds) && len(bs) != len(h.bounds)-1 {
			continue
		}
		for i, b := range bs {
			if b.GetUpperBound() != h.bounds[i] {
				break
			}
			h.counts[i] += float64(b.GetCumulativeCount())
		}
		if len(bs) == len(h.bounds)-1 { // implicit +Inf bucket
			h.counts[len(bs)] += float64(dh.GetSampleCount())
		}
	}
	return h, h.bounds != nil
}

// quantile of the observations in cur that are not in prev, interpolated
// linearly within the bucket as Prometheus's histogram_quantile does. ok
// is false when there are none, or the counts went down (a reset).
func quantile(q float64, prev, cur hist) (float64, bool) {
	if len(prev.counts) != len(cur.counts) {
		return 0, false
	}
	n := len(cur.counts)
	total := cur.counts[n-1] - prev.counts[n-1]
	if total <= 0 {
		return 0, false
	}
	delta := func(i int) float64 { return cur.counts[i] - prev.counts[i] }
	rank := q * total
	i := sort.Search(n, func(i int) bool { return delta(i) >= rank })
	if i >= n {
		i = n - 1
	}
	if math.IsInf(cur.bounds[i], 1) { // in the overflow bucket: the highest finite bound
		if i == 0 {
			return 0, false
		}
		return cur.bounds[i-1], true
	}
	lo, below := 0.0, 0.0
	if i > 0 {
		lo, below = cur.bounds[i-1], delta(i-1)
	}
	in := delta(i) - below
	if in <= 0 {
		return cur.bounds[i], true
	}
	return lo + (cur.bounds[i]-lo)*(rank-below)/in, true
}

// sampler turns one Series' gathers into samples, keeping what the next
// sample is computed against.
type sampler struct {
	s          Series
	prevT      time.Time
	prev, prvD float64
	prevH      hist
	have       bool
}

// sample returns the series' value at now, or false when this gather
// gives none (missing series, first sample of a rate, reset, no events).
func (p *sampler) sample(ix index, now time.Time) (float64, bool) {
	s := p.s
	if s.Kind == KindQuantile {
		h, ok := ix.histogram(s.Sel)
		if !ok {
			return 0, false
		}
		prev, had := p.prevH, p.have
		p.prevH, p.have = h, true
		if !had {
			return 0, false
		}
		return quantile(s.Q, prev, h)
	}
	var x, den float64
	var ok bool
	if s.Func != nil {
		x, ok = s.Func()
	} else {
		x, ok = ix.scalar(s.Sel)
	}
	if ok && s.Kind == KindRatio {
		den, ok = ix.scalar(s.Den)
	}
	if !ok {
		return 0, false
	}
	if s.Kind == KindGauge {
		return x, true
	}
	prevT, prev, prevD, had := p.prevT, p.prev, p.prvD, p.have
	p.prevT, p.prev, p.prvD, p.have = now, x, den, true
	dt := now.Sub(prevT).Seconds()
	if !had || dt <= 0 {
		return 0, false
	}
	switch s.Kind {
	case KindDeriv:
		return (x - prev) / dt, true
	case KindRate:
		if x < prev { // counter reset (restart): this interval's increase is unknown
			return 0, false
		}
		return (x - prev) / dt, true
	case KindRatio:
		if x < prev || den <= prevD {
			return 0, false
		}
		return (x - prev) / (den - prevD), true
	}
	return 0, false
}
