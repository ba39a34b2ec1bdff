package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dorivo/dorivo/shardstore/durable"
	"github.com/dorivo/dorivo/shardstore/replica/transport"
)

// What storeobs.go's dorivo_raft_* gauges leave out: the leader's view of
// its followers, the log's last index, snapshots, and the peer connections.
var (
	raftLastIndex = prometheus.NewDesc("dorivo_raft_last_index",
		"The last index of the shard's raft log on this node.", []string{"shard"}, nil)
	raftFollowerMatch = prometheus.NewDesc("dorivo_raft_follower_match_index",
		"On the shard's leader: the highest log index known replicated on the follower.", []string{"shard", "follower"}, nil)
	raftFollowerLag = prometheus.NewDesc("dorivo_raft_follower_lag_entries",
		"On the shard's leader: its last log index minus the follower's match index.", []string{"shard", "follower"}, nil)
	raftFollowerActive = prometheus.NewDesc("dorivo_raft_follower_active",
		"On the shard's leader: 1 while the follower was heard from within the election timeout.", []string{"shard", "follower"}, nil)
	raftSnapshotsSent = prometheus.NewDesc("dorivo_raft_snapshots_sent_total",
		"Raft snapshots this node sent to followers, all shards.", nil, nil)
	raftSnapshotsApplied = prometheus.NewDesc("dorivo_raft_snapshots_applied_total",
		"Raft snapshots this node received and applied, all shards.", nil, nil)
	peerConnected = prometheus.NewDesc("dorivo_peer_connected",
		"1 while this node's raft stream to the peer is up.", []string{"peer"}, nil)
	peerStateSince = prometheus.NewDesc("dorivo_peer_state_change_timestamp_seconds",
		"Unix time the peer's stream last went up or down (or the peer was added).", []string{"peer"}, nil)
	peerMsgsSent = prometheus.NewDesc("dorivo_peer_messages_sent_total",
		"Raft messages sent to the peer.", []string{"peer"}, nil)
	peerMsgsReceived = prometheus.NewDesc("dorivo_peer_messages_received_total",
		"Raft messages received from the peer.", []string{"peer"}, nil)
	peerMsgsDropped = prometheus.NewDesc("dorivo_peer_messages_dropped_total",
		"Raft messages for the peer dropped (full queue or stream down; raft resends).", []string{"peer"}, nil)
	peerBytesSent = prometheus.NewDesc("dorivo_peer_sent_bytes_total",
		"Batch frame bytes sent to the peer.", []string{"peer"}, nil)
	peerBytesReceived = prometheus.NewDesc("dorivo_peer_received_bytes_total",
		"Batch frame bytes received from the peer.", []string{"peer"}, nil)
	peerReconnects = prometheus.NewDesc("dorivo_peer_reconnects_total",
		"Raft streams to the peer opened after the first.", []string{"peer"}, nil)
	peerGone = prometheus.NewDesc("dorivo_peer_gone_total",
		"Times the peer's stream ended and its address refused connections (its process gone).", []string{"peer"}, nil)
	raftRejoins = prometheus.NewDesc("dorivo_raft_rejoins_total",
		"Raft groups this node rejoined as a learner after it found its store corrupt at start (its copy moved aside).", nil, nil)
	raftGoneLeaders = prometheus.NewDesc("dorivo_raft_gone_leaders_total",
		"Shards whose leader's process was found gone while this node followed it, all shards (each started a fast election).", nil, nil)
)

// RaftCollector exports each shard's followers (on the leader) and log
// end, the store's snapshot counters and, on a replica, every peer
// connection, read at scrape time.
type RaftCollector struct {
	shards func() []durable.ShardStatus
	stats  func() durable.Stats
	peers  func() transport.Stats // nil: single node, no peers
}

// NewRaftCollector collects what shards (every shard's Store.Status),
// stats (Store.Stats) and peers (Transport.Stats; nil without one) return.
func NewRaftCollector(shards func() []durable.ShardStatus, stats func() durable.Stats, peers func() transport.Stats) *RaftCollector {
	return &RaftCollector{shards: shards, stats: stats, peers: peers}
}

// StoreShardStatus returns every shard's Store.Status, for NewRaftCollector.
func StoreShardStatus(st *durable.Store) func() []durable.ShardStatus {
	return func() []durable.ShardStatus {
		out := make([]durable.ShardStatus, st.Shards())
		for i := range out {
			out[i] = st.Status(uint32(i))
		}
		return out
	}
}

// Describe implements prometheus.Collector.
func (c *RaftCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{raftLastIndex, raftFollowerMatch, raftFollowerLag, raftFollowerActive,
		raftSnapshotsSent, raftSnapshotsApplied, peerConnected, peerStateSince, peerMsgsSent, peerMsgsReceived,
		peerMsgsDropped, peerBytesSent, peerBytesReceived, peerReconnects, peerGone, raftGoneLeaders, raftRejoins} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *RaftCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for _, s := range c.shards() {
		sh := strconv.FormatUint(uint64(s.Shard), 10)
		gauge(raftLastIndex, float64(s.Last), sh)
		for _, f := range s.Followers {
			id := strconv.FormatUint(f.ID, 10)
			gauge(raftFollowerMatch, float64(f.Match), sh, id)
			gauge(raftFollowerLag, float64(f.Lag), sh, id)
			gauge(raftFollowerActive, boolGauge(f.Active), sh, id)
		}
	}
	st := c.stats()
	counter(raftSnapshotsSent, st.SnapshotsSent)
	counter(raftSnapshotsApplied, st.SnapshotsApplied)
	counter(raftGoneLeaders, st.GoneLeaders)
	counter(raftRejoins, st.Rejoins)
	if c.peers == nil {
		return
	}
	for _, p := range c.peers().Peers {
		id := strconv.FormatUint(p.Node, 10)
		gauge(peerConnected, boolGauge(p.Connected), id)
		gauge(peerStateSince, float64(p.StateSince.UnixNano())/1e9, id)
		counter(peerMsgsSent, p.MsgsSent, id)
		counter(peerMsgsReceived, p.MsgsReceived, id)
		counter(peerMsgsDropped, p.MsgsDropped, id)
		counter(peerBytesSent, p.BytesSent, id)
		counter(peerBytesReceived, p.BytesReceived, id)
		counter(peerReconnects, p.Reconnects, id)
		counter(peerGone, p.Gone, id)
	}
}

func boolGauge(v bool) float64 {
	if v {
		return 1
	}
	return 0
}
