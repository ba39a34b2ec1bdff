package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dorivo/dorivo/datapath/server"
	"github.com/dorivo/dorivo/datapath/svctime"
)

var (
	serviceSeconds = prometheus.NewDesc("dorivo_loop_service_seconds",
		"Time an event loop spent on one request, parse included, by class (read, write, admin, other: run here; cross: this loop's part of a request sent to other loops; remote: another loop's request run here; datagram), all loops merged.",
		[]string{"class"}, nil)
	busySeconds = prometheus.NewDesc("dorivo_loop_busy_seconds_total",
		"Time the loop spent serving requests (the sum of its service times); its rate is the loop's busy fraction of one CPU.",
		[]string{"loop"}, nil)
	ringDepth = prometheus.NewDesc("dorivo_loop_ring_depth",
		"Requests and transaction messages from other loops waiting in this loop's inbound rings (a moment's view).", []string{"loop"}, nil)
	ringCapacity = prometheus.NewDesc("dorivo_loop_ring_capacity",
		"Slots of this loop's inbound rings; a depth near it means senders stall (dorivo_loop_stalls_total).", []string{"loop"}, nil)
)

// ServiceCollector exports the loops' service-time histograms (merged
// over loops per class: the loops' own histograms are merged at scrape
// time, so the loops share nothing) with each loop's busy time, and the
// loops' inbound ring depths.
type ServiceCollector struct {
	times func() []svctime.SetSnap
	rings func() []server.RingDepth
}

// NewServiceCollector collects what times and rings return (normally
// Server.ServiceTimes and Server.RingDepths).
func NewServiceCollector(times func() []svctime.SetSnap, rings func() []server.RingDepth) *ServiceCollector {
	return &ServiceCollector{times: times, rings: rings}
}

// Describe implements prometheus.Collector.
func (c *ServiceCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{serviceSeconds, busySeconds, ringDepth, ringCapacity} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *ServiceCollector) Collect(ch chan<- prometheus.Metric) {
	loops := c.times()
	merged := svctime.Merge(loops)
	for cl := range svctime.NumClasses {
		s := &merged[cl]
		ch <- prometheus.MustNewConstHistogram(serviceSeconds, s.Count(), float64(s.SumNs)/1e9, s.Cumulative(), cl.String())
	}
	for i := range loops {
		ch <- prometheus.MustNewConstMetric(busySeconds, prometheus.CounterValue, float64(loops[i].BusyNs())/1e9, strconv.Itoa(i))
	}
	for i, r := range c.rings() {
		if r.Capacity == 0 {
			continue // one loop: no rings
		}
		l := strconv.Itoa(i)
		ch <- prometheus.MustNewConstMetric(ringDepth, prometheus.GaugeValue, float64(r.Depth), l)
		ch <- prometheus.MustNewConstMetric(ringCapacity, prometheus.GaugeValue, float64(r.Capacity), l)
	}
}
