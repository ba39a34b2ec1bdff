package anomaly

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// rig is a detector on a real registry holding a latency gauge the test
// drives, with the detector's own gauges registered on the same registry
// (as in the agent) and a JSON slog handler capturing its lines.
type rig struct {
	d     *Detector
	reg   *prometheus.Registry
	value float64
	log   *bytes.Buffer
	now   time.Time
	rng   *rand.Rand
}

func newRig(t *testing.T, am string) *rig {
	t.Helper()
	r := &rig{reg: prometheus.NewPedanticRegistry(), log: &bytes.Buffer{}, now: time.Unix(1_700_000_000, 0).UTC(), rng: rand.New(rand.NewPCG(1, 1))}
	r.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lat_seconds", Help: "h"}, func() float64 { return r.value }))
	d, err := New(Config{
		Gatherer: r.reg, Series: []Series{Gauge("latency", "lat_seconds", nil).With(Above, 0, 0)},
		Logger: slog.New(slog.NewJSONHandler(r.log, nil)), Alertmanager: am, Instance: "node-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	r.reg.MustRegister(d)
	r.d = d
	return r
}

// step sets the gauge to base + noise (sigma 1 ms) and runs one detector step.
func (r *rig) step(base float64) {
	r.value = base + r.rng.NormFloat64()*1e-3
	r.now = r.now.Add(5 * time.Second)
	r.d.Step(r.now)
}

func (r *rig) logLines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(r.log.Bytes()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// A latency jump from 10 ms to 30 ms fires after K samples: the gauge
// turns 1, one WARN line names the series, GET /alerts lists it and Fetch
// reads it back; back at 10 ms it clears: gauge 0, an INFO line, and the
// alert moves to resolved.
func TestDetectorFiresAndClears(t *testing.T) {
	r := newRig(t, "")
	web := httptest.NewServer(r.d.Handler())
	defer web.Close()
	for range 200 {
		r.step(0.010)
	}
	if got := testutil.ToFloat64(gaugeOf(r.reg, "dorivo_anomaly", "latency")); got != 0 {
		t.Fatalf("firing on noise: %v", got)
	}
	for i := range DefaultRule.K {
		r.step(0.030)
		if firing := len(r.d.Report().Firing); firing != 0 && i < DefaultRule.K-1 || firing != 1 && i == DefaultRule.K-1 {
			t.Fatalf("after %d high samples: %d firing", i+1, firing)
		}
	}
	if got := testutil.ToFloat64(gaugeOf(r.reg, "dorivo_anomaly", "latency")); got != 1 {
		t.Fatalf("dorivo_anomaly{series=latency} = %v while firing", got)
	}
	rep, err := Fetch(context.Background(), web.Client(), web.URL)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Firing) != 1 || rep.Firing[0].Series != "latency" || rep.Firing[0].Z < 3 || rep.Firing[0].Value < 0.025 || !rep.Firing[0].Since.Equal(r.now) {
		t.Fatalf("/alerts while firing: %+v", rep)
	}
	var text strings.Builder
	rep.WriteText(&text, r.now.Add(time.Minute))
	if !strings.Contains(text.String(), "1 firing") || !strings.Contains(text.String(), "latency for 1m0s") {
		t.Errorf("status text %q", text.String())
	}

	r.step(0.010)
	if got := testutil.ToFloat64(gaugeOf(r.reg, "dorivo_anomaly", "latency")); got != 0 {
		t.Fatalf("still firing after the latency came back: %v", got)
	}
	rep, err = Fetch(context.Background(), web.Client(), web.URL)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Firing) != 0 || len(rep.Resolved) != 1 || rep.Resolved[0].Resolved == nil || !rep.Resolved[0].Resolved.Equal(r.now) {
		t.Fatalf("/alerts after clearing: %+v", rep)
	}
	var msgs []string
	for _, l := range r.logLines(t) {
		if l["series"] != "latency" {
			t.Errorf("log line without the series: %v", l)
		}
		msgs = append(msgs, l["level"].(string)+" "+l["msg"].(string))
	}
	if strings.Join(msgs, "; ") != "WARN anomaly firing; INFO anomaly cleared" {
		t.Errorf("log lines %v", msgs)
	}
	resp, err := web.Client().Post(web.URL, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /alerts: %s", resp.Status)
	}
}

func gaugeOf(g prometheus.Gatherer, family, series string) prometheus.Collector {
	return collectorFunc(func(ch chan<- prometheus.Metric) {
		mfs, _ := g.Gather()
		for _, mf := range mfs {
			if mf.GetName() != family {
				continue
			}
			for _, m := range mf.GetMetric() {
				if m.GetLabel()[0].GetValue() == series {
					ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(family, "h", nil, nil), prometheus.GaugeValue, m.GetGauge().GetValue())
				}
			}
		}
	})
}

type collectorFunc func(chan<- prometheus.Metric)

func (f collectorFunc) Describe(chan<- *prometheus.Desc)    {}
func (f collectorFunc) Collect(ch chan<- prometheus.Metric) { f(ch) }

// amServer is a stand-in Alertmanager: it decodes every POST to
// /api/v2/alerts as Alertmanager's PostableAlerts.
type amServer struct {
	mu    sync.Mutex
	posts [][]postableAlert
	got   chan struct{}
}

func (a *amServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/api/v2/alerts" || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "bad request "+r.Method+" "+r.URL.Path, http.StatusBadRequest)
		return
	}
	var batch []postableAlert
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&batch); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	a.mu.Lock()
	a.posts = append(a.posts, batch)
	a.mu.Unlock()
	a.got <- struct{}{}
}

func (a *amServer) wait(t *testing.T) []postableAlert {
	t.Helper()
	select {
	case <-a.got:
	case <-time.After(10 * time.Second):
		t.Fatal("no post reached the alertmanager")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.posts[len(a.posts)-1]
}

// Firing pushes the alert with its labels, startsAt and an endsAt in the
// future; it is re-pushed every ResendEvery while it fires; clearing
// pushes it with endsAt = the time it cleared.
func TestAlertmanagerPush(t *testing.T) {
	am := &amServer{got: make(chan struct{}, 16)}
	srv := httptest.NewServer(am)
	defer srv.Close()
	r := newRig(t, srv.URL)
	for range 200 {
		r.step(0.010)
	}
	for range DefaultRule.K {
		r.step(0.030)
	}
	fired := r.now
	batch := am.wait(t)
	if len(batch) != 1 {
		t.Fatalf("posted %d alerts", len(batch))
	}
	a := batch[0]
	if a.Labels["alertname"] != "DorivoAnomaly" || a.Labels["series"] != "latency" || a.Labels["instance"] != "node-1" ||
		!a.StartsAt.Equal(fired) || !a.EndsAt.After(fired) || !strings.Contains(a.Annotations["summary"], "latency is") {
		t.Fatalf("posted %+v", a)
	}
	for range 12 { // one minute more of firing: one resend
		r.step(0.030)
	}
	if batch := am.wait(t); !batch[0].StartsAt.Equal(fired) || !batch[0].EndsAt.After(r.now) {
		t.Fatalf("resend %+v", batch[0])
	}
	for range 3 { // the window has absorbed part of the shift: wait for the clear
		r.step(0.010)
		if len(r.d.Report().Firing) == 0 {
			break
		}
	}
	if batch := am.wait(t); !batch[0].EndsAt.Equal(r.now) {
		t.Fatalf("resolve posted endsAt %v, want %v", batch[0].EndsAt, r.now)
	}
}

// A failing Alertmanager is logged, and sampling goes on.
func TestAlertmanagerError(t *testing.T) {
	hit := make(chan struct{}, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
		hit <- struct{}{}
	}))
	defer srv.Close()
	r := newRig(t, srv.URL)
	for range 200 {
		r.step(0.010)
	}
	for range DefaultRule.K {
		r.step(0.030)
	}
	<-hit
	r.d.Close() // drains the pusher: its log line is written
	if !strings.Contains(r.log.String(), "push to alertmanager failed") || !strings.Contains(r.log.String(), "500: boom") {
		t.Fatalf("log %s", r.log.String())
	}
}

func TestConfigErrors(t *testing.T) {
	reg := prometheus.NewRegistry()
	for _, c := range []Config{
		{},
		{Gatherer: reg, Series: []Series{Gauge("", "x", nil)}},
		{Gatherer: reg, Series: []Series{Gauge("a", "x", nil), Gauge("a", "y", nil)}},
		{Gatherer: reg, Series: []Series{Gauge("a", "", nil)}},
		{Gatherer: reg, Series: []Series{Quantile("a", "x", nil, 1)}},
		{Gatherer: reg, Series: []Series{Ratio("a", Selector{Family: "x"}, Selector{})}},
		{Gatherer: reg, Alertmanager: "localhost:9093"},
		{Gatherer: reg, Rule: Rule{Window: 50}},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if _, err := New(Config{Gatherer: reg, Series: DefaultSeries()}); err != nil {
		t.Errorf("default series: %v", err)
	}
}
