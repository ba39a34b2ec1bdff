package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dorivo/dorivo/shardstore/durable"
)

// storeCounter is one durable.Stats field exported as a counter.
type storeCounter struct {
	desc *prometheus.Desc
	get  func(durable.Stats) uint64
}

// StoreCollector exports the durable store's write-path counters as
// dorivo_store_*. Group commit shows as
// rate(dorivo_store_entries_total) / rate(dorivo_store_fsyncs_total)
// (writes per fsync) and rate(dorivo_store_fsyncs_total) (fsyncs per
// second). The counters are atomics read at scrape time.
type StoreCollector struct {
	read     func() durable.Stats
	diskErr  func() error
	counters []storeCounter
	diskFull *prometheus.Desc
}

// NewStoreCollector collects what read returns (normally Store.Stats) and
// whether diskErr reports a write stalled on a full disk (Store.DiskError).
func NewStoreCollector(read func() durable.Stats, diskErr func() error) *StoreCollector {
	c := func(name, help string, get func(durable.Stats) uint64) storeCounter {
		return storeCounter{prometheus.NewDesc("dorivo_store_"+name, help, nil, nil), get}
	}
	return &StoreCollector{
		read:    read,
		diskErr: diskErr,
		counters: []storeCounter{
			c("proposals_total", "Writes accepted by the durable store.", func(s durable.Stats) uint64 { return s.Proposals }),
			c("rejected_total", "Writes refused up front (disk full, overloaded, closed).", func(s durable.Stats) uint64 { return s.Rejected }),
			c("acked_total", "Writes committed (synced) and acknowledged.", func(s durable.Stats) uint64 { return s.Acked }),
			c("failed_total", "Writes that failed after being accepted.", func(s durable.Stats) uint64 { return s.Failed }),
			c("entries_total", "Raft log entries written.", func(s durable.Stats) uint64 { return s.Entries }),
			c("batches_total", "Pebble batches committed by the store's driver.", func(s durable.Stats) uint64 { return s.Batches }),
			c("fsyncs_total", "Synced batches (one WAL fsync each); entries_total / fsyncs_total is writes per fsync.", func(s durable.Stats) uint64 { return s.Fsyncs }),
			c("reads_total", "Values read from the store for cold keys.", func(s durable.Stats) uint64 { return s.Reads }),
			c("cache_hits_total", "Reads the store's ristretto read cache answered without pebble.", func(s durable.Stats) uint64 { return s.CacheHits }),
			c("disk_stalls_total", "Writes that hit a full disk and were held until space came back.", func(s durable.Stats) uint64 { return s.Stalls }),
		},
		diskFull: prometheus.NewDesc("dorivo_store_disk_full", "1 while writes are stalled on a full disk (new writes are refused).", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *StoreCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, k := range c.counters {
		ch <- k.desc
	}
	ch <- c.diskFull
}

// Collect implements prometheus.Collector.
func (c *StoreCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.read()
	for _, k := range c.counters {
		ch <- prometheus.MustNewConstMetric(k.desc, prometheus.CounterValue, float64(k.get(s)))
	}
	full := 0.0
	if c.diskErr() != nil {
		full = 1
	}
	ch <- prometheus.MustNewConstMetric(c.diskFull, prometheus.GaugeValue, full)
}
