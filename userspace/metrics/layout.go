package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dorivo/dorivo/shardstore/durable"
)

var (
	layoutVersion = prometheus.NewDesc("dorivo_layout_version",
		"Version of the cluster layout this node applied (0: none yet).", nil, nil)
	layoutLeader = prometheus.NewDesc("dorivo_layout_leader",
		"Raft ID of the layout group's leader as this node last saw it (0: none known).", nil, nil)
	layoutMismatch = prometheus.NewDesc("dorivo_layout_mismatch",
		"1 while the applied layout differs from this node's shards (it then refuses writes).", nil, nil)
	layoutPreferred = prometheus.NewDesc("dorivo_layout_preferred_leader",
		"The shard's preferred leader in the applied layout.", []string{"shard"}, nil)
)

// LayoutCollector exports the store's applied cluster layout, read at
// scrape time.
type LayoutCollector struct{ st *durable.Store }

// NewLayoutCollector collects st's layout.
func NewLayoutCollector(st *durable.Store) *LayoutCollector { return &LayoutCollector{st: st} }

// Describe implements prometheus.Collector.
func (c *LayoutCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{layoutVersion, layoutLeader, layoutMismatch, layoutPreferred} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *LayoutCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	l := c.st.Layout()
	if l != nil {
		for i, sh := range l.Shards {
			gauge(layoutPreferred, float64(sh.Preferred), strconv.Itoa(i))
		}
	}
	gauge(layoutVersion, float64(l.GetVersion()))
	gauge(layoutLeader, float64(c.st.LayoutStatus().Leader))
	gauge(layoutMismatch, boolGauge(c.st.LayoutError() != nil))
}
