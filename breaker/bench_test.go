package breaker_test

import (
	"errors"
	"testing"
	"time"

	"github.com/dorivo/dorivo/breaker"
)

// The benchmarks use the system clock, as production does.

func newBench(b *testing.B, cfg breaker.Config) *breaker.Breaker {
	b.Helper()
	br, err := breaker.New("bench", cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	return br
}

func BenchmarkAllowClosed(b *testing.B) {
	br := newBench(b, breaker.Config{})
	for b.Loop() {
		br.Allow()
	}
}

func BenchmarkAllowClosedParallel(b *testing.B) {
	br := newBench(b, breaker.Config{})
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			br.Allow()
		}
	})
}

// Open within its wait: a clock read, an atomic load and a counter increment.
func BenchmarkAllowOpen(b *testing.B) {
	br := newBench(b, breaker.Config{OpenWait: time.Hour})
	br.TransitionTo(breaker.Open)
	for b.Loop() {
		br.Allow()
	}
	if br.State() != breaker.Open {
		b.Fatal("left open")
	}
}

func BenchmarkAllowOpenParallel(b *testing.B) {
	br := newBench(b, breaker.Config{OpenWait: time.Hour})
	br.TransitionTo(breaker.Open)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			br.Allow()
		}
	})
}

func BenchmarkRecordCountWindow(b *testing.B) {
	br := newBench(b, breaker.Config{})
	for b.Loop() {
		br.Record(time.Millisecond, nil)
	}
}

func BenchmarkRecordTimeWindow(b *testing.B) {
	br := newBench(b, breaker.Config{WindowType: breaker.TimeBased, WindowSize: 10})
	for b.Loop() {
		br.Record(time.Millisecond, nil)
	}
}

// Failures below the threshold: every Record judges the rates.
func BenchmarkRecordFailures(b *testing.B) {
	br := newBench(b, breaker.Config{FailureRateThreshold: 100})
	err := errors.New("x")
	for b.Loop() {
		br.Record(time.Millisecond, err)
		br.Record(time.Millisecond, nil)
	}
}

func BenchmarkRecordParallel(b *testing.B) {
	br := newBench(b, breaker.Config{})
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			br.Record(time.Millisecond, nil)
		}
	})
}

// Allow, time the call with the system clock, Record: what a caller pays per guarded call.
func BenchmarkDo(b *testing.B) {
	br := newBench(b, breaker.Config{})
	fn := func() error { return nil }
	for b.Loop() {
		br.Do(fn)
	}
}
