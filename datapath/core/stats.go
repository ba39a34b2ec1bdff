package core

import (
	"strconv"
	"sync/atomic"

	"github.com/dorivo/dorivo/datapath/command"
)

// Stats are one loop's counters.
type Stats struct {
	// Loop is the loop index; CPU the CPU it pinned itself to (-1: unpinned).
	Loop, CPU int
	// Accepted counts TCP connections accepted by this loop's listener;
	// Conns is how many are open now.
	Accepted, Conns uint64
	// Requests counts RESP requests parsed on this loop; Datagrams
	// datagrams received on its UDP socket.
	Requests, Datagrams uint64
	// Executed counts requests and datagrams executed against this loop's
	// keyspace, from any loop.
	Executed uint64
	// CrossSent counts messages this loop sent to other loops (requests
	// and forwarded datagrams); CrossRecv requests it served for others.
	CrossSent, CrossRecv uint64
	// NonOwner counts datagrams that arrived here for a slot another loop
	// owns (zero with the steering program attached).
	NonOwner uint64
	// Drops counts malformed datagrams and forwards refused for lack of
	// room; Stalls counts times a connection stopped reading for lack of
	// ring credit or reply room (backpressure).
	Drops, Stalls uint64
	// Wakeups counts doorbell rings that woke this loop.
	Wakeups uint64
	// Keys is the number of keys the loop holds, Volatile those with an
	// expiry, Expired the keys it expired so far (published after every
	// write and expiry step).
	Keys, Volatile, Expired uint64
	// TxCross counts cross-loop transactions and multi-key commands this
	// loop coordinated; Deferred counts requests it parked because a
	// transaction locked a key they touch.
	TxCross, Deferred uint64
	// HotBytes is the memory of the values the loop holds and ColdKeys the
	// keys whose value is on disk only (both sampled on its last drain);
	// Fetches counts cold values read back from the store and Evictions
	// values dropped to stay within the loop's value budget.
	HotBytes, ColdKeys, Fetches, Evictions uint64
	// WritesRefused counts writes refused before they ran: the disk was
	// full, or the loop diverged from the store.
	WritesRefused uint64
	// AuthDrops counts datagrams dropped because they did not
	// authenticate (forged, replayed, unsigned where a key is required).
	AuthDrops uint64
	// Moved counts connections this loop adopted from another one (their
	// user's keys all live here).
	Moved uint64
	// Forwarded counts requests sent to the node leading their shard;
	// ReadsRaced reads answered -TRYAGAIN because a write executed before
	// them failed; FollowerReads linearizable reads of shards led
	// elsewhere served by this node's replica after a ReadIndex,
	// ReplicaReads READONLY reads served by it, StaleFallbacks reads it
	// served because their leader could not be asked (replicated.go).
	Forwarded, ReadsRaced, FollowerReads, ReplicaReads, StaleFallbacks uint64
	// Client memory and idleness (clients.go): OutputBytes is the unsent
	// reply bytes of this loop's clients now and RecentMaxOutput the
	// largest one client held in the last few seconds; Paused is how many
	// clients are paused now and Pauses how often one was; OutputCloses
	// counts clients closed over client-output-buffer-limit, Timeouts
	// clients closed idle past timeout, QuotaDenied requests refused over
	// their tenant's quota.
	OutputBytes, RecentMaxOutput, Paused, Pauses, OutputCloses, Timeouts, QuotaDenied uint64
	// Shed counts requests and datagrams the loop answered -TRYAGAIN or
	// UNAVAILABLE because a breaker shed their slot (shed.go).
	Shed uint64
}

// Counters are the atomics behind Stats, written on the loop and read
// from anywhere.
type Counters struct {
	accepted, conns, requests, datagrams, executed atomic.Uint64
	crossSent, crossRecv, nonOwner, drops, stalls  atomic.Uint64
	keys, volatile, expired, txCross, deferred     atomic.Uint64
	hotBytes, coldKeys, fetches, evictions         atomic.Uint64
	refused, authDrops, moved                      atomic.Uint64
	forwarded, readsRaced                          atomic.Uint64
	followerReads, replicaReads, staleFallbacks    atomic.Uint64
	outBytes, recentMax, pausedNow, pauses         atomic.Uint64
	outCloses, timeouts, quotaDenied               atomic.Uint64
	shed                                           atomic.Uint64
	cpu                                            atomic.Int64
}

// Stats returns the loop's counters; any goroutine may call it.
func (l *Loop) Stats() Stats {
	c := &l.stats
	return Stats{
		Loop: l.idx, CPU: int(c.cpu.Load()),
		Accepted: c.accepted.Load(), Conns: c.conns.Load(),
		Requests: c.requests.Load(), Datagrams: c.datagrams.Load(),
		Executed:  c.executed.Load(),
		CrossSent: c.crossSent.Load(), CrossRecv: c.crossRecv.Load(),
		NonOwner: c.nonOwner.Load(), Drops: c.drops.Load(), Stalls: c.stalls.Load(),
		Wakeups: l.bell.Rings(),
		Keys:    c.keys.Load(), Volatile: c.volatile.Load(), Expired: c.expired.Load(),
		TxCross: c.txCross.Load(), Deferred: c.deferred.Load(),
		HotBytes: c.hotBytes.Load(), ColdKeys: c.coldKeys.Load(),
		Fetches: c.fetches.Load(), Evictions: c.evictions.Load(),
		WritesRefused: c.refused.Load(), AuthDrops: c.authDrops.Load(), Moved: c.moved.Load(),
		Forwarded: c.forwarded.Load(), ReadsRaced: c.readsRaced.Load(),
		FollowerReads: c.followerReads.Load(), ReplicaReads: c.replicaReads.Load(), StaleFallbacks: c.staleFallbacks.Load(),
		OutputBytes: c.outBytes.Load(), RecentMaxOutput: c.recentMax.Load(),
		Paused: c.pausedNow.Load(), Pauses: c.pauses.Load(), OutputCloses: c.outCloses.Load(),
		Timeouts: c.timeouts.Load(), QuotaDenied: c.quotaDenied.Load(),
		Shed: c.shed.Load(),
	}
}

// PinnedTo records the CPU the shell pinned the loop's thread to.
func (l *Loop) PinnedTo(cpu int) { l.stats.cpu.Store(int64(cpu)) }

// publishKeys publishes the keyspace's sizes when they changed: after
// every command (a read may expire a key) and expiry step.
func (l *Loop) publishKeys() {
	ks, p := l.ks, &l.published
	if n := uint64(ks.Len()); n != p.Keys {
		p.Keys = n
		l.stats.keys.Store(n)
	}
	if n := uint64(ks.VolatileLen()); n != p.Volatile {
		p.Volatile = n
		l.stats.volatile.Store(n)
	}
	if ks.Expired != p.Expired {
		p.Expired = ks.Expired
		l.stats.expired.Store(ks.Expired)
	}
}

// KeyspaceTotals sums the published key counts of loops, for INFO.
func KeyspaceTotals(loops []*Loop) command.KeyspaceTotals {
	var t command.KeyspaceTotals
	for _, l := range loops {
		t.Keys += l.stats.keys.Load()
		t.Volatile += l.stats.volatile.Load()
		t.Expired += l.stats.expired.Load()
	}
	return t
}

// DatagramDropped counts a reply datagram the shell could not send.
func (l *Loop) DatagramDropped() { l.stats.drops.Add(1) }

// ClientsInfo are the lines of INFO's Clients section that the loops
// count, summed over loops: Redis's names where Redis has the field,
// dorivo_ ones for Dorivo's own bounds (clients.go).
func ClientsInfo(loops []*Loop) []string {
	var s Stats
	for _, l := range loops {
		c := &l.stats
		s.RecentMaxOutput = max(s.RecentMaxOutput, c.recentMax.Load())
		s.OutputBytes += c.outBytes.Load()
		s.Paused += c.pausedNow.Load()
		s.Pauses += c.pauses.Load()
		s.OutputCloses += c.outCloses.Load()
		s.Timeouts += c.timeouts.Load()
		s.QuotaDenied += c.quotaDenied.Load()
	}
	u := func(k string, v uint64) string { return k + ":" + strconv.FormatUint(v, 10) }
	return []string{
		"client_recent_max_input_buffer:0",
		u("client_recent_max_output_buffer", s.RecentMaxOutput),
		"blocked_clients:0",
		u("dorivo_client_output_bytes", s.OutputBytes),
		u("dorivo_paused_clients", s.Paused),
		u("dorivo_client_pauses", s.Pauses),
		u("dorivo_output_buffer_limit_disconnections", s.OutputCloses),
		u("dorivo_idle_timeout_disconnections", s.Timeouts),
		u("dorivo_tenant_quota_rejections", s.QuotaDenied),
	}
}
