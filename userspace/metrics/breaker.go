package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dorivo/dorivo/breaker"
)

// breakerStates are the states a breaker can be in, in breaker.State order.
var breakerStates = []breaker.State{breaker.Closed, breaker.Open, breaker.HalfOpen, breaker.Disabled, breaker.ForcedOpen, breaker.MetricsOnly}

var (
	breakerState = prometheus.NewDesc("dorivo_breaker_state",
		"1 for the state the circuit breaker is in, 0 for the others.", []string{"breaker", "state"}, nil)
	breakerFailureRate = prometheus.NewDesc("dorivo_breaker_failure_rate_percent",
		"Failed calls in the breaker's window, percent; -1 while the window holds too few calls to judge (as resilience4j).", []string{"breaker"}, nil)
	breakerSlowRate = prometheus.NewDesc("dorivo_breaker_slow_call_rate_percent",
		"Calls over the slow-call duration in the breaker's window, percent; -1 while it holds too few calls to judge.", []string{"breaker"}, nil)
	breakerWindowCalls = prometheus.NewDesc("dorivo_breaker_window_calls",
		"Calls in the breaker's current window: all of them (buffered), failed, slow, and slow and failed.", []string{"breaker", "kind"}, nil)
	breakerNotPermitted = prometheus.NewDesc("dorivo_breaker_not_permitted_calls_total",
		"Calls the breaker rejected (open, forced open, or half-open with its probes taken).", []string{"breaker"}, nil)
	breakerTransitions = prometheus.NewDesc("dorivo_breaker_transitions_total",
		"Times the breaker entered each state.", []string{"breaker", "state"}, nil)
	breakerRetryAfter = prometheus.NewDesc("dorivo_breaker_retry_after_seconds",
		"Open wait left before the breaker lets a probe through (0 unless open).", []string{"breaker"}, nil)
)

// BreakerCollector exports the state, rates and counters of a set of
// circuit breakers (breaker.Snapshot), read at every scrape.
type BreakerCollector struct {
	list func() []*breaker.Breaker
}

// NewBreakerCollector collects the breakers list returns at each scrape
// (breakers may come and go, e.g. one per peer).
func NewBreakerCollector(list func() []*breaker.Breaker) *BreakerCollector {
	return &BreakerCollector{list: list}
}

// Describe implements prometheus.Collector.
func (c *BreakerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{breakerState, breakerFailureRate, breakerSlowRate, breakerWindowCalls,
		breakerNotPermitted, breakerTransitions, breakerRetryAfter} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *BreakerCollector) Collect(ch chan<- prometheus.Metric) {
	for _, b := range c.list() {
		s := b.Snapshot()
		name := s.Breaker
		gauge := func(d *prometheus.Desc, v float64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{name}, labels...)...)
		}
		for _, st := range breakerStates {
			v := 0.0
			if s.State == st {
				v = 1
			}
			gauge(breakerState, v, st.String())
			ch <- prometheus.MustNewConstMetric(breakerTransitions, prometheus.CounterValue, float64(s.Transitions[st]), name, st.String())
		}
		gauge(breakerFailureRate, s.FailureRate)
		gauge(breakerSlowRate, s.SlowCallRate)
		gauge(breakerWindowCalls, float64(s.BufferedCalls), "buffered")
		gauge(breakerWindowCalls, float64(s.FailedCalls), "failed")
		gauge(breakerWindowCalls, float64(s.SlowCalls), "slow")
		gauge(breakerWindowCalls, float64(s.SlowFailedCalls), "slow_failed")
		gauge(breakerRetryAfter, s.RetryAfter.Seconds())
		ch <- prometheus.MustNewConstMetric(breakerNotPermitted, prometheus.CounterValue, float64(s.NotPermittedCalls), name)
	}
}
