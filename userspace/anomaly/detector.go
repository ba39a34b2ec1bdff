package anomaly

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config configures a Detector.
type Config struct {
	Gatherer prometheus.Gatherer // where series are read (the agent's registry)
	Series   []Series
	Rule     Rule          // zero fields take DefaultRule's
	Interval time.Duration // sampling period for Run; default 5 s
	Logger   *slog.Logger  // fire and clear lines; nil discards
	// Alertmanager is the base URL of an Alertmanager (http://host:9093);
	// "" pushes nowhere. Instance labels the pushed alerts (the node).
	Alertmanager string
	Instance     string
	ResendEvery  time.Duration // re-push firing alerts this often; default 1 min
}

// Detector samples Config.Series every Interval and applies the Rule to
// each. It is a prometheus.Collector for dorivo_anomaly{series} (1 while
// firing) and dorivo_anomaly_zscore{series}, and serves GET /alerts.
type Detector struct {
	cfg  Config
	push *pusher // nil without an Alertmanager

	mu        sync.Mutex
	states    []*state
	resolved  []Alert // most recent first, at most keepResolved
	gatherErr string
}

const keepResolved = 32

type state struct {
	smp      sampler
	tr       *tracker
	samples  uint64
	firing   *Alert
	lastPush time.Time
}

var (
	anomalyDesc = prometheus.NewDesc("dorivo_anomaly", "1 while the series is anomalous: K consecutive samples beyond 3 sigma of its rolling window, until one within 2 sigma.", []string{"series"}, nil)
	zscoreDesc  = prometheus.NewDesc("dorivo_anomaly_zscore", "Last sample's distance from the series' rolling mean, in standard deviations (only once the window has enough samples).", []string{"series"}, nil)
)

// New checks cfg and returns a Detector; Run starts sampling.
func New(cfg Config) (*Detector, error) {
	if cfg.Gatherer == nil {
		return nil, fmt.Errorf("anomaly: no gatherer")
	}
	cfg.Rule = cfg.Rule.withDefaults()
	if err := cfg.Rule.validate(); err != nil {
		return nil, err
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.ResendEvery <= 0 {
		cfg.ResendEvery = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	d := &Detector{cfg: cfg}
	seen := map[string]bool{}
	for _, s := range cfg.Series {
		switch {
		case s.Name == "" || seen[s.Name]:
			return nil, fmt.Errorf("anomaly: series name %q empty or repeated", s.Name)
		case s.Func == nil && s.Sel.Family == "":
			return nil, fmt.Errorf("anomaly: series %s selects no family", s.Name)
		case s.Kind == KindQuantile && (s.Q <= 0 || s.Q >= 1):
			return nil, fmt.Errorf("anomaly: series %s: quantile %v not in (0, 1)", s.Name, s.Q)
		case s.Kind == KindRatio && s.Den.Family == "":
			return nil, fmt.Errorf("anomaly: ratio series %s has no denominator", s.Name)
		}
		seen[s.Name] = true
		d.states = append(d.states, &state{smp: sampler{s: s}, tr: newTracker(cfg.Rule, s.Side, s.Floor, s.RelFloor)})
	}
	if cfg.Alertmanager != "" {
		p, err := newPusher(cfg.Alertmanager, cfg.Logger)
		if err != nil {
			return nil, err
		}
		d.push = p
	}
	return d, nil
}

// Run samples every Interval until ctx ends.
func (d *Detector) Run(ctx context.Context) {
	t := time.NewTicker(d.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			d.Step(now)
		}
	}
}

// Close stops the Alertmanager pusher after it has sent what is queued.
func (d *Detector) Close() {
	if d.push != nil {
		d.push.close()
	}
}

// Step takes one sample of every series at now. The gather happens
// outside the lock: the registry calls back into Collect.
func (d *Detector) Step(now time.Time) {
	mfs, err := d.cfg.Gatherer.Gather() // a partial gather still serves the series it has
	ix := newIndex(mfs)
	var out []postableAlert
	d.mu.Lock()
	d.gatherErr = ""
	if err != nil {
		d.gatherErr = err.Error()
	}
	for _, st := range d.states {
		x, ok := st.smp.sample(ix, now)
		if !ok {
			continue
		}
		st.samples++
		v := st.tr.observe(x)
		name := st.smp.s.Name
		switch {
		case v.Fired:
			st.firing = &Alert{Series: name, State: "firing", Since: now, Help: st.smp.s.Help}
			st.firing.set(v)
			d.cfg.Logger.Warn("anomaly firing", "series", name, "value", v.Value, "mean", v.Mean, "sigma", v.Sigma, "z", jsonSafe(v.Z), "samples", d.cfg.Rule.K)
		case v.Cleared:
			a := *st.firing
			a.set(v)
			a.State, a.Resolved = "resolved", &now
			st.firing = nil
			d.resolved = append([]Alert{a}, d.resolved[:min(len(d.resolved), keepResolved-1)]...)
			d.cfg.Logger.Info("anomaly cleared", "series", name, "value", v.Value, "mean", v.Mean, "sigma", v.Sigma, "z", jsonSafe(v.Z), "firing_for", now.Sub(a.Since).String())
			out = append(out, d.postable(a, now))
		case st.firing != nil:
			st.firing.set(v)
		}
		if st.firing != nil && (v.Fired || now.Sub(st.lastPush) >= d.cfg.ResendEvery) {
			st.lastPush = now
			out = append(out, d.postable(*st.firing, now))
		}
	}
	d.mu.Unlock()
	if d.push != nil && len(out) > 0 {
		d.push.send(out)
	}
}

// Describe implements prometheus.Collector.
func (d *Detector) Describe(ch chan<- *prometheus.Desc) {
	ch <- anomalyDesc
	ch <- zscoreDesc
}

// Collect implements prometheus.Collector.
func (d *Detector) Collect(ch chan<- prometheus.Metric) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, st := range d.states {
		name := st.smp.s.Name
		firing := 0.0
		if st.firing != nil {
			firing = 1
		}
		ch <- prometheus.MustNewConstMetric(anomalyDesc, prometheus.GaugeValue, firing, name)
		if st.tr.last.Judged {
			ch <- prometheus.MustNewConstMetric(zscoreDesc, prometheus.GaugeValue, st.tr.last.Z, name)
		}
	}
}

// Handler serves the Report as JSON for GET /alerts.
func (d *Detector) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "GET only", http.StatusMethodNotAllowed)
			return
		}
		writeJSON(w, d.Report())
	})
}

// Report returns the firing alerts, the recently resolved ones and where
// every series stands.
func (d *Detector) Report() Report {
	d.mu.Lock()
	defer d.mu.Unlock()
	r := Report{Firing: []Alert{}, Resolved: append([]Alert{}, d.resolved...), GatherError: d.gatherErr}
	for _, st := range d.states {
		if st.firing != nil {
			r.Firing = append(r.Firing, *st.firing)
		}
		l := st.tr.last
		r.Series = append(r.Series, SeriesStatus{
			Name: st.smp.s.Name, Samples: st.samples, Judged: l.Judged, Firing: st.firing != nil,
			Value: jsonSafe(l.Value), Mean: jsonSafe(l.Mean), Sigma: jsonSafe(l.Sigma), Z: jsonSafe(l.Z),
		})
	}
	return r
}

// jsonSafe maps ±Inf (a move off a constant baseline) to ±MaxFloat64 and
// NaN to 0: encoding/json refuses both.
func jsonSafe(x float64) float64 {
	switch {
	case math.IsNaN(x):
		return 0
	case math.IsInf(x, 1):
		return math.MaxFloat64
	case math.IsInf(x, -1):
		return -math.MaxFloat64
	}
	return x
}
