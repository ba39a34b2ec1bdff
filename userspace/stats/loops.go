package stats

import (
	"strconv"

	"github.com/dorivo/dorivo/datapath/server"
)

// LoopField is one per-loop datapath counter (datapath/server.LoopStats).
// One list of fields backs both INFO's Datapath section and the
// dorivo_loop_* metrics, so the two always name and count the same thing.
type LoopField struct {
	// Name is the INFO field ("loop0_" + Name) and the metric's stem.
	Name string
	// Metric is the Prometheus name: _total for counters, units in the name.
	Metric string
	Help   string
	// Gauge marks a level (open connections, keys) rather than a counter.
	Gauge bool
	Get   func(*server.LoopStats) int64
}

// LoopFields are the per-loop counters in the order INFO prints them.
var LoopFields = []LoopField{
	{"requests", "dorivo_loop_requests_total", "RESP requests parsed on this loop's TCP connections.", false,
		func(s *server.LoopStats) int64 { return int64(s.Requests) }},
	{"datagrams", "dorivo_loop_datagrams_total", "Datagrams received on this loop's UDP socket.", false,
		func(s *server.LoopStats) int64 { return int64(s.Datagrams) }},
	{"executed", "dorivo_loop_executed_total", "Requests and datagrams executed against this loop's keyspace, from any loop.", false,
		func(s *server.LoopStats) int64 { return int64(s.Executed) }},
	{"cross_sent", "dorivo_loop_cross_sent_total", "Messages this loop sent to other loops: requests for slots it does not own and forwarded datagrams.", false,
		func(s *server.LoopStats) int64 { return int64(s.CrossSent) }},
	{"cross_recv", "dorivo_loop_cross_received_total", "Requests this loop served for other loops.", false,
		func(s *server.LoopStats) int64 { return int64(s.CrossRecv) }},
	{"nonowner_datagrams", "dorivo_loop_nonowner_datagrams_total", "Datagrams delivered to this loop for a slot another loop owns (0 while the kernel steers).", false,
		func(s *server.LoopStats) int64 { return int64(s.NonOwner) }},
	{"drops", "dorivo_loop_drops_total", "Malformed datagrams and forwards refused for lack of ring room.", false,
		func(s *server.LoopStats) int64 { return int64(s.Drops) }},
	{"stalls", "dorivo_loop_stalls_total", "Times a connection stopped reading for lack of cross-loop credit or reply room (backpressure).", false,
		func(s *server.LoopStats) int64 { return int64(s.Stalls) }},
	{"wakeups", "dorivo_loop_wakeups_total", "Doorbell rings that woke this loop for cross-loop work.", false,
		func(s *server.LoopStats) int64 { return int64(s.Wakeups) }},
	{"accepted", "dorivo_loop_connections_accepted_total", "TCP connections accepted by this loop's listener.", false,
		func(s *server.LoopStats) int64 { return int64(s.Accepted) }},
	{"conns", "dorivo_loop_connections", "TCP connections open on this loop now.", true,
		func(s *server.LoopStats) int64 { return int64(s.Conns) }},
	{"keys", "dorivo_loop_keys", "Keys this loop holds (published after every command).", true,
		func(s *server.LoopStats) int64 { return int64(s.Keys) }},
	{"hot_value_bytes", "dorivo_loop_hot_value_bytes", "Memory of the values this loop holds (sampled on its last drain; bounded by --cache-memory).", true,
		func(s *server.LoopStats) int64 { return int64(s.HotBytes) }},
	{"cold_keys", "dorivo_loop_cold_keys", "Keys of this loop whose value is on disk only (sampled on its last drain).", true,
		func(s *server.LoopStats) int64 { return int64(s.ColdKeys) }},
	{"cold_fetches", "dorivo_loop_cold_fetches_total", "Cold values read back from the store (through its read cache) for a command.", false,
		func(s *server.LoopStats) int64 { return int64(s.Fetches) }},
	{"evictions", "dorivo_loop_evictions_total", "Values dropped from memory to stay within the loop's share of --cache-memory.", false,
		func(s *server.LoopStats) int64 { return int64(s.Evictions) }},
	{"writes_refused", "dorivo_loop_writes_refused_total", "Writes refused before they ran: the disk was full, or the loop diverged from the store.", false,
		func(s *server.LoopStats) int64 { return int64(s.WritesRefused) }},
	{"auth_drops", "dorivo_loop_auth_drops_total", "Datagrams dropped without a reply because they did not authenticate (forged, replayed, unsigned where a key is required).", false,
		func(s *server.LoopStats) int64 { return int64(s.AuthDrops) }},
	{"moved", "dorivo_loop_moved_total", "Tenant connections this loop adopted from another loop (all their keys live here).", false,
		func(s *server.LoopStats) int64 { return int64(s.Moved) }},
	{"client_output_bytes", "dorivo_loop_client_output_bytes", "Reply bytes this loop's clients have not read yet (gnet's outbound buffers), sampled.", true,
		func(s *server.LoopStats) int64 { return int64(s.OutputBytes) }},
	{"client_recent_max_output", "dorivo_loop_client_recent_max_output_bytes", "The most reply bytes one client of this loop held in the last few seconds.", true,
		func(s *server.LoopStats) int64 { return int64(s.RecentMaxOutput) }},
	{"clients_paused", "dorivo_loop_clients_paused", "Clients paused now: over dorivo-client-pause-bytes (or the node-wide bound), they run no request until they read.", true,
		func(s *server.LoopStats) int64 { return int64(s.Paused) }},
	{"client_pauses", "dorivo_loop_client_pauses_total", "Times a client was paused for holding too many unread reply bytes.", false,
		func(s *server.LoopStats) int64 { return int64(s.Pauses) }},
	{"output_limit_closes", "dorivo_loop_output_buffer_limit_disconnections_total", "Clients closed over client-output-buffer-limit.", false,
		func(s *server.LoopStats) int64 { return int64(s.OutputCloses) }},
	{"idle_timeouts", "dorivo_loop_idle_timeout_disconnections_total", "Clients closed for being idle longer than timeout.", false,
		func(s *server.LoopStats) int64 { return int64(s.Timeouts) }},
	{"quota_rejections", "dorivo_loop_tenant_quota_rejections_total", "RESP requests refused over their tenant's quota.", false,
		func(s *server.LoopStats) int64 { return int64(s.QuotaDenied) }},
	{"forwarded", "dorivo_loop_forwarded_total", "Requests sent to the node leading their shard (cluster).", false,
		func(s *server.LoopStats) int64 { return int64(s.Forwarded) }},
	{"follower_reads", "dorivo_loop_follower_reads_total", "Linearizable reads of shards led elsewhere served from this node's replica after a raft ReadIndex (cluster).", false,
		func(s *server.LoopStats) int64 { return int64(s.FollowerReads) }},
	{"replica_reads", "dorivo_loop_replica_reads_total", "READONLY reads served from this node's replica of a shard led elsewhere (cluster; may be stale).", false,
		func(s *server.LoopStats) int64 { return int64(s.ReplicaReads) }},
	{"stale_fallbacks", "dorivo_loop_stale_read_fallbacks_total", "Reads served from this node's replica because their shard's leader could not be asked (breaker open, unreachable, no leader) and the tenant allows stale reads.", false,
		func(s *server.LoopStats) int64 { return int64(s.StaleFallbacks) }},
	{"shed", "dorivo_loop_shed_total", "Requests and datagrams this loop answered -TRYAGAIN or UNAVAILABLE because a breaker shed their slot.", false,
		func(s *server.LoopStats) int64 { return int64(s.Shed) }},
	{"cpu", "dorivo_loop_cpu", "CPU the loop's thread is pinned to (-1: unpinned).", true,
		func(s *server.LoopStats) int64 { return int64(s.CPU) }},
}

// LoopInfo renders INFO's Datapath section: the loop count and steering
// mode, the sum of every counter over the loops (total_cross_sent is how
// many requests crossed loops), then every loop's fields.
func LoopInfo(steering string, loops []server.LoopStats) []string {
	lines := make([]string, 0, 2+len(LoopFields)*(len(loops)+1))
	lines = append(lines, "loops:"+strconv.Itoa(len(loops)), "steering:"+steering)
	for _, f := range LoopFields {
		if f.Gauge && f.Name == "cpu" {
			continue
		}
		var sum int64
		for i := range loops {
			sum += f.Get(&loops[i])
		}
		lines = append(lines, "total_"+f.Name+":"+strconv.FormatInt(sum, 10))
	}
	for i := range loops {
		p := "loop" + strconv.Itoa(loops[i].Loop) + "_"
		for _, f := range LoopFields {
			lines = append(lines, p+f.Name+":"+strconv.FormatInt(f.Get(&loops[i]), 10))
		}
	}
	return lines
}
