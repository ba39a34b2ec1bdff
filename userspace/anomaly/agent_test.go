package anomaly

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/dorivo/dorivo/datapath/server"
	"github.com/dorivo/dorivo/datapath/svctime"
	"github.com/dorivo/dorivo/shardstore/durable"
	"github.com/dorivo/dorivo/userspace/collect"
	"github.com/dorivo/dorivo/userspace/metrics"
	"github.com/dorivo/dorivo/userspace/stats"
)

// agentRegistry is the agent's registry without BPF: the collect
// collectors, the Go and process collectors as metrics.NewRegistry
// configures them, and the loop and store collectors over fixed stats.
func agentRegistry(t testing.TB, dataDir string, maxAge time.Duration) *prometheus.Registry {
	t.Helper()
	node, err := collect.NewNode(collect.Options{DataDir: dataDir, MaxAge: maxAge})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(node, collect.NewRuntime(),
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsGC, collectors.MetricsScheduler)),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		metrics.NewLoopCollector(func() []server.LoopStats { return []server.LoopStats{{Loop: 0}, {Loop: 1}} }),
		metrics.NewStoreCollector(func() durable.Stats { return durable.Stats{} }, func() error { return nil }),
		metrics.NewStoreObsCollector(func() durable.SyncStats { return durable.SyncStats{} }, func() []durable.RaftStatus { return nil }),
		metrics.NewServiceCollector(func() []svctime.SetSnap { return make([]svctime.SetSnap, 2) }, func() []server.RingDepth { return nil }),
	)
	return reg
}

// Every family DefaultSeries reads is one the agent exports (the BPF
// collector's from its Describe), so a renamed metric fails here rather
// than silently leaving a series without samples; and on this machine the
// node and process series get samples.
func TestDefaultSeriesMatchRealFamilies(t *testing.T) {
	dir := t.TempDir()
	reg := agentRegistry(t, dir, -1) // a fresh /proc read at every step
	names := exportedNames(t, reg)
	for _, s := range DefaultSeries() {
		for _, f := range []string{s.Sel.Family, s.Den.Family} {
			if f != "" && !names[f] {
				t.Errorf("series %s reads %s, which the agent does not export", s.Name, f)
			}
		}
		if s.Help == "" {
			t.Errorf("series %s has no help", s.Name)
		}
	}

	d, err := New(Config{Gatherer: reg, Series: DefaultSeries()})
	if err != nil {
		t.Fatal(err)
	}
	for range 4 {
		// Disk writes with fsync between steps, so the latency ratios have a denominator.
		os.WriteFile(filepath.Join(dir, "f"), make([]byte, 64<<10), 0o600)
		if f, err := os.OpenFile(filepath.Join(dir, "f"), os.O_RDWR, 0); err == nil {
			f.Sync()
			f.Close()
		}
		time.Sleep(50 * time.Millisecond)
		d.Step(time.Now())
	}
	got := map[string]uint64{}
	for _, s := range d.Report().Series {
		got[s.Name] = s.Samples
	}
	for _, name := range []string{"cpu_steal", "cpu_pressure", "memory_pressure", "io_pressure", "memory_growth", "loop_drops", "store_failed", "disk_write_latency", "tcp_listen_overflows"} {
		if got[name] < 2 {
			t.Errorf("series %s: %d samples from 4 steps", name, got[name])
		}
	}
}

// exportedNames is every family reg gathers plus what the collectors that
// cannot run here (BPF, perf counters without a PMU) describe.
func exportedNames(t *testing.T, reg prometheus.Gatherer) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	ch := make(chan *prometheus.Desc, 64)
	metrics.NewCollector(stats.Maps{}, nil).Describe(ch)
	// Families with no series without a store, rings or breakers.
	metrics.NewStoreObsCollector(nil, nil).Describe(ch)
	metrics.NewServiceCollector(nil, nil).Describe(ch)
	metrics.NewBreakerCollector(nil).Describe(ch)
	p := collect.NewPerf()
	p.Describe(ch)
	p.Close()
	(&Detector{}).Describe(ch)
	close(ch)
	for d := range ch {
		_, rest, _ := strings.Cut(d.String(), `fqName: "`)
		name, _, _ := strings.Cut(rest, `"`)
		names[name] = true
	}
	return names
}

// The shipped alerting rules and dashboard use only metric names the agent
// exports (histogram series by their family).
func TestDeployFilesUseExportedNames(t *testing.T) {
	names := exportedNames(t, agentRegistry(t, t.TempDir(), 0))
	metric := regexp.MustCompile(`\b(dorivo|go|process)_[a-z0-9_]+`)
	for _, f := range []string{"../../deploy/prometheus/dorivo-rules.yml", "../../deploy/grafana/dorivo-node.json"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		used := 0
		for _, m := range metric.FindAllString(string(data), -1) {
			if m == "dorivo_node" { // the dashboard's uid
				continue
			}
			used++
			base := m
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(m, suf); ok && names[b] {
					base = b
				}
			}
			if !names[base] {
				t.Errorf("%s uses %s, which the agent does not export", f, m)
			}
		}
		if used < 20 {
			t.Errorf("%s: only %d metric references", f, used)
		}
	}
}
