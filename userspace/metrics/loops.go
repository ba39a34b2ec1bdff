package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dorivo/dorivo/datapath/server"
	"github.com/dorivo/dorivo/userspace/stats"
)

// LoopCollector exports the datapath's per-loop counters as dorivo_loop_*
// with a loop label. It reads them at scrape time with atomics
// (server.Stats), so the loops pay nothing between scrapes.
type LoopCollector struct {
	read  func() []server.LoopStats
	descs []*prometheus.Desc
}

// NewLoopCollector collects what read returns (normally Server.Stats).
func NewLoopCollector(read func() []server.LoopStats) *LoopCollector {
	c := &LoopCollector{read: read}
	for _, f := range stats.LoopFields {
		c.descs = append(c.descs, prometheus.NewDesc(f.Metric, f.Help, []string{"loop"}, nil))
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *LoopCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *LoopCollector) Collect(ch chan<- prometheus.Metric) {
	loops := c.read()
	for i := range loops {
		label := strconv.Itoa(loops[i].Loop)
		for j, f := range stats.LoopFields {
			kind := prometheus.CounterValue
			if f.Gauge {
				kind = prometheus.GaugeValue
			}
			ch <- prometheus.MustNewConstMetric(c.descs[j], kind, float64(f.Get(&loops[i])), label)
		}
	}
}
