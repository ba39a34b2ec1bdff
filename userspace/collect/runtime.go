package collect

import (
	"runtime/metrics"

	"github.com/prometheus/client_golang/prometheus"
)

// Runtime exports the Go runtime figures that the GoCollector registered by
// metrics.NewRegistry (MetricsGC + MetricsScheduler + memstats) leaves out:
// CPU time by class (GC share of the agent's CPU) and mutex wait. The GC
// pause and scheduler-latency histograms, heap, allocation counters and
// goroutines are already there as go_sched_pauses_total_gc_seconds,
// go_sched_latencies_seconds, go_gc_heap_*, go_gc_heap_allocs_*_total and
// go_goroutines; repeating them under dorivo_ names would be padding.
type Runtime struct {
	samples []metrics.Sample
	descs   []runtimeDesc
}

type runtimeDesc struct {
	desc   *prometheus.Desc
	labels []string
}

var (
	goCPU       = prometheus.NewDesc("dorivo_go_cpu_seconds_total", "Estimated CPU time of the Go runtime by class: user (Go code), gc (all GC work), scavenge (returning memory to the OS).", []string{"class"}, nil)
	goMutexWait = prometheus.NewDesc("dorivo_go_mutex_wait_seconds_total", "Approximate time goroutines spent blocked on sync.Mutex/RWMutex (lock contention).", nil, nil)
)

// NewRuntime returns the collector; a runtime that lacks one of the metrics
// (an older or newer Go) leaves that series out.
func NewRuntime() *Runtime {
	want := []struct {
		name string
		d    runtimeDesc
	}{
		{"/cpu/classes/user:cpu-seconds", runtimeDesc{goCPU, []string{"user"}}},
		{"/cpu/classes/gc/total:cpu-seconds", runtimeDesc{goCPU, []string{"gc"}}},
		{"/cpu/classes/scavenge/total:cpu-seconds", runtimeDesc{goCPU, []string{"scavenge"}}},
		{"/sync/mutex/wait/total:seconds", runtimeDesc{goMutexWait, nil}},
	}
	known := map[string]bool{}
	for _, d := range metrics.All() {
		known[d.Name] = d.Kind == metrics.KindFloat64
	}
	r := &Runtime{}
	for _, w := range want {
		if known[w.name] {
			r.samples = append(r.samples, metrics.Sample{Name: w.name})
			r.descs = append(r.descs, w.d)
		}
	}
	return r
}

// Describe implements prometheus.Collector.
func (r *Runtime) Describe(ch chan<- *prometheus.Desc) {
	ch <- goCPU
	ch <- goMutexWait
}

// Collect implements prometheus.Collector. metrics.Read into a private copy
// keeps concurrent gathers apart without a lock.
func (r *Runtime) Collect(ch chan<- prometheus.Metric) {
	s := make([]metrics.Sample, len(r.samples))
	copy(s, r.samples)
	metrics.Read(s)
	for i := range s {
		if s[i].Value.Kind() != metrics.KindFloat64 {
			continue
		}
		ch <- prometheus.MustNewConstMetric(r.descs[i].desc, prometheus.CounterValue, s[i].Value.Float64(), r.descs[i].labels...)
	}
}
