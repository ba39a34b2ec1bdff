package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dorivo/dorivo/shardstore/durable"
	"github.com/dorivo/dorivo/shardstore/replica/transport"
)

// The leader's followers show as match, lag and active per shard and
// follower, snapshots as store-wide counters and peers as connection gauges
// and counters; a follower shard exports no follower series, and a single
// node no peer series. The exposition lints clean.
func TestRaftCollector(t *testing.T) {
	since := time.Unix(1700000000, 500_000_000)
	shards := []durable.ShardStatus{
		{Shard: 0, Leader: 1, Last: 50, Followers: []durable.FollowerStatus{
			{ID: 2, Match: 50, Lag: 0, Active: true}, {ID: 3, Match: 20, Lag: 30, Active: false}}},
		{Shard: 1, Leader: 2, Last: 12},
	}
	stats := durable.Stats{SnapshotsSent: 3, SnapshotsApplied: 1, GoneLeaders: 2, Rejoins: 3}
	peers := transport.Stats{Peers: []transport.PeerStats{
		{Node: 2, Connected: true, StateSince: since, MsgsSent: 100, MsgsReceived: 90, MsgsDropped: 4, BytesSent: 5000, BytesReceived: 4000, Reconnects: 1, Gone: 2},
		{Node: 3, Connected: false, StateSince: since.Add(time.Second)},
	}}
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewRaftCollector(func() []durable.ShardStatus { return shards },
		func() durable.Stats { return stats }, func() transport.Stats { return peers }))
	want := `
# HELP dorivo_peer_connected 1 while this node's raft stream to the peer is up.
# TYPE dorivo_peer_connected gauge
dorivo_peer_connected{peer="2"} 1
dorivo_peer_connected{peer="3"} 0
# HELP dorivo_peer_gone_total Times the peer's stream ended and its address refused connections (its process gone).
# TYPE dorivo_peer_gone_total counter
dorivo_peer_gone_total{peer="2"} 2
dorivo_peer_gone_total{peer="3"} 0
# HELP dorivo_peer_messages_dropped_total Raft messages for the peer dropped (full queue or stream down; raft resends).
# TYPE dorivo_peer_messages_dropped_total counter
dorivo_peer_messages_dropped_total{peer="2"} 4
dorivo_peer_messages_dropped_total{peer="3"} 0
# HELP dorivo_peer_sent_bytes_total Batch frame bytes sent to the peer.
# TYPE dorivo_peer_sent_bytes_total counter
dorivo_peer_sent_bytes_total{peer="2"} 5000
dorivo_peer_sent_bytes_total{peer="3"} 0
# HELP dorivo_peer_state_change_timestamp_seconds Unix time the peer's stream last went up or down (or the peer was added).
# TYPE dorivo_peer_state_change_timestamp_seconds gauge
dorivo_peer_state_change_timestamp_seconds{peer="2"} 1.7000000005e+09
dorivo_peer_state_change_timestamp_seconds{peer="3"} 1.7000000015e+09
# HELP dorivo_raft_follower_active On the shard's leader: 1 while the follower was heard from within the election timeout.
# TYPE dorivo_raft_follower_active gauge
dorivo_raft_follower_active{follower="2",shard="0"} 1
dorivo_raft_follower_active{follower="3",shard="0"} 0
# HELP dorivo_raft_follower_lag_entries On the shard's leader: its last log index minus the follower's match index.
# TYPE dorivo_raft_follower_lag_entries gauge
dorivo_raft_follower_lag_entries{follower="2",shard="0"} 0
dorivo_raft_follower_lag_entries{follower="3",shard="0"} 30
# HELP dorivo_raft_follower_match_index On the shard's leader: the highest log index known replicated on the follower.
# TYPE dorivo_raft_follower_match_index gauge
dorivo_raft_follower_match_index{follower="2",shard="0"} 50
dorivo_raft_follower_match_index{follower="3",shard="0"} 20
# HELP dorivo_raft_gone_leaders_total Shards whose leader's process was found gone while this node followed it, all shards (each started a fast election).
# TYPE dorivo_raft_gone_leaders_total counter
dorivo_raft_gone_leaders_total 2
# HELP dorivo_raft_last_index The last index of the shard's raft log on this node.
# TYPE dorivo_raft_last_index gauge
dorivo_raft_last_index{shard="0"} 50
dorivo_raft_last_index{shard="1"} 12
# HELP dorivo_raft_rejoins_total Raft groups this node rejoined as a learner after it found its store corrupt at start (its copy moved aside).
# TYPE dorivo_raft_rejoins_total counter
dorivo_raft_rejoins_total 3
# HELP dorivo_raft_snapshots_applied_total Raft snapshots this node received and applied, all shards.
# TYPE dorivo_raft_snapshots_applied_total counter
dorivo_raft_snapshots_applied_total 1
# HELP dorivo_raft_snapshots_sent_total Raft snapshots this node sent to followers, all shards.
# TYPE dorivo_raft_snapshots_sent_total counter
dorivo_raft_snapshots_sent_total 3
`
	names := []string{"dorivo_peer_connected", "dorivo_peer_gone_total", "dorivo_peer_messages_dropped_total", "dorivo_peer_sent_bytes_total",
		"dorivo_peer_state_change_timestamp_seconds", "dorivo_raft_follower_active", "dorivo_raft_follower_lag_entries",
		"dorivo_raft_follower_match_index", "dorivo_raft_gone_leaders_total", "dorivo_raft_last_index", "dorivo_raft_rejoins_total", "dorivo_raft_snapshots_applied_total", "dorivo_raft_snapshots_sent_total"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(NewRaftCollector(func() []durable.ShardStatus { return shards },
		func() durable.Stats { return stats }, func() transport.Stats { return peers })); n != 2+6+4+2*9 {
		t.Errorf("%d series, want 30", n)
	}
	lintRegistry(t, reg)

	// A single node: the same shard series, no peer series.
	single := NewRaftCollector(func() []durable.ShardStatus { return shards[1:] }, func() durable.Stats { return durable.Stats{} }, nil)
	if n := testutil.CollectAndCount(single, "dorivo_peer_connected"); n != 0 {
		t.Errorf("single node: %d peer series", n)
	}
	if n := testutil.CollectAndCount(single); n != 5 {
		t.Errorf("single node: %d series, want 5 (last index, 2 snapshot counters, gone leaders, rejoins)", n)
	}
}
