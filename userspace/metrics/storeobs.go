package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dorivo/dorivo/shardstore/durable"
)

var (
	fsyncSeconds = prometheus.NewDesc("dorivo_store_fsync_seconds",
		"Time the raft log syncer took to write and fdatasync one record: every durable write waits for one.", nil, nil)
	fsyncEntries = prometheus.NewDesc("dorivo_store_fsync_entries",
		"Raft log entries made durable by one fdatasync (the group-commit batch size).", nil, nil)
	raftHasLeader = prometheus.NewDesc("dorivo_raft_has_leader",
		"1 while the shard's raft group knows a leader; 0 means its writes cannot commit.", []string{"shard"}, nil)
	raftIsLeader = prometheus.NewDesc("dorivo_raft_is_leader",
		"1 while this node leads the shard's raft group.", []string{"shard"}, nil)
	raftTerm = prometheus.NewDesc("dorivo_raft_term",
		"The shard's raft term; a rising term means elections.", []string{"shard"}, nil)
	raftCommit = prometheus.NewDesc("dorivo_raft_commit_index",
		"The shard's raft commit index.", []string{"shard"}, nil)
	raftApplied = prometheus.NewDesc("dorivo_raft_applied_index",
		"The shard's raft applied index; commit minus applied is the apply backlog.", []string{"shard"}, nil)
	raftLeaderChanges = prometheus.NewDesc("dorivo_raft_leader_changes_total",
		"Times the shard's raft group got a new leader since the agent started.", []string{"shard"}, nil)
)

// StoreObsCollector exports the store's syncer histograms and each shard's
// raft status, read at scrape time (Store.SyncStats, Store.RaftStatus).
type StoreObsCollector struct {
	sync func() durable.SyncStats
	raft func() []durable.RaftStatus
}

// NewStoreObsCollector collects what sync and raft return.
func NewStoreObsCollector(sync func() durable.SyncStats, raft func() []durable.RaftStatus) *StoreObsCollector {
	return &StoreObsCollector{sync: sync, raft: raft}
}

// Describe implements prometheus.Collector.
func (c *StoreObsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{fsyncSeconds, fsyncEntries, raftHasLeader, raftIsLeader, raftTerm, raftCommit, raftApplied, raftLeaderChanges} {
		ch <- d
	}
}

// syncHistogram turns per-bucket counts into a Prometheus histogram.
func syncHistogram(d *prometheus.Desc, h durable.SyncHistogram, bounds [durable.NumSyncBuckets]float64) prometheus.Metric {
	cum := make(map[float64]uint64, len(bounds))
	var n uint64
	for i, b := range bounds {
		n += h.Counts[i]
		cum[b] = n
	}
	n += h.Counts[len(bounds)]
	return prometheus.MustNewConstHistogram(d, n, h.Sum, cum)
}

// Collect implements prometheus.Collector.
func (c *StoreObsCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.sync()
	ch <- syncHistogram(fsyncSeconds, s.Latency, durable.SyncLatencyBounds)
	ch <- syncHistogram(fsyncEntries, s.Entries, durable.SyncBatchBounds)
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	for _, r := range c.raft() {
		sh := strconv.Itoa(int(r.Shard))
		gauge := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, sh)
		}
		gauge(raftHasLeader, b(r.Leader != 0))
		gauge(raftIsLeader, b(r.Leader != 0 && r.Leader == r.ID))
		gauge(raftTerm, float64(r.Term))
		gauge(raftCommit, float64(r.Commit))
		gauge(raftApplied, float64(r.Applied))
		ch <- prometheus.MustNewConstMetric(raftLeaderChanges, prometheus.CounterValue, float64(r.LeaderChanges), sh)
	}
}
