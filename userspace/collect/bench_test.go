package collect

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// One collection cycle: every source read from /proc and /sys (no cache),
// plus the runtime and perf collectors, gathered through a registry.
func BenchmarkCollectCycle(b *testing.B) {
	n, err := NewNode(Options{DataDir: b.TempDir(), MaxAge: -1})
	if err != nil {
		b.Fatal(err)
	}
	p := NewPerf()
	defer p.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(n, NewRuntime(), p)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}

// A gather served from the cached snapshot (a second reader within MaxAge).
func BenchmarkCollectCached(b *testing.B) {
	n, err := NewNode(Options{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(n)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}
