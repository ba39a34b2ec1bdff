package anomaly

import (
	"math/rand/v2"
	"testing"
	"time"
)

// One sample through the rule: score, fire/clear, window update.
func BenchmarkTrackerObserve(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	tr := newTracker(DefaultRule, Both, 0, 0)
	xs := make([]float64, 4096)
	for i := range xs {
		xs[i] = rng.NormFloat64()
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tr.observe(xs[i&4095])
		i++
	}
}

// One detector step over the agent's registry (without BPF): a gather of
// every collector and the 17 default series sampled and scored. "fresh"
// reads /proc as a step every 5 s does (MaxAge 2 s < 5 s); "cached" is a
// step that finds the snapshot a scrape just took.
func BenchmarkDetectorStep(b *testing.B) {
	for _, c := range []struct {
		name   string
		maxAge time.Duration
	}{{"fresh", -1}, {"cached", time.Hour}} {
		b.Run(c.name, func(b *testing.B) {
			reg := agentRegistry(b, b.TempDir(), c.maxAge)
			d, err := New(Config{Gatherer: reg, Series: DefaultSeries()})
			if err != nil {
				b.Fatal(err)
			}
			now := time.Now()
			b.ReportAllocs()
			for b.Loop() {
				now = now.Add(5 * time.Second)
				d.Step(now)
			}
		})
	}
}
