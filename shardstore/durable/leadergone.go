package durable

import (
	"slices"

	"go.etcd.io/raft/v3"
)

// goneRetryTicks is how often a successor re-campaigns while its shard is
// still leaderless after PeerGone: its first pre-vote may reach a peer that
// has not heard of the loss yet, which refuses it inside the leader's lease.
const goneRetryTicks = 2

// PeerGone tells the store that node's process is gone: the transport saw
// its stream end and its address refuse connections. Every follower here of
// a shard node led forgets that leader, so it grants pre-votes at once
// (CheckQuorum's lease no longer holds them back), and the shard's
// successor campaigns: a failover in a few round trips instead of an
// election timeout. Safety is raft's own (votes and log checks are
// unchanged; reads use ReadIndex, never a lease). It never blocks.
func (s *Store) PeerGone(node uint64) {
	if node == 0 || node == s.opts.NodeID {
		return
	}
	if s.closed.Load() {
		return
	}
	select {
	case s.gonec <- node:
	default: // 64 reports queued already: the driver is about to forget every gone leader
	}
}

// leaderGone runs on the driver for PeerGone.
func (s *Store) leaderGone(node uint64) {
	for _, sh := range s.shards {
		if sh.soleVoter || sh.rejoining || sh.lead != node || sh.rn.BasicStatus().RaftState != raft.StateFollower {
			continue
		}
		if err := sh.rn.ForgetLeader(); err != nil {
			continue
		}
		if !sh.layoutGroup {
			s.stats.goneLeaders.Add(1)
		}
		sh.goneCampaigns = 0
		switch {
		case s.draining.Load():
			// A draining node takes no leadership; forgetting lets it vote.
		case s.successor(sh, node) == s.opts.NodeID:
			s.log.Info("durable: shard leader's process is gone, campaigning", "shard", sh.id, "gone", node)
			// Retries until half an election timeout: a peer that learns
			// of the loss a little later grants one of them.
			sh.goneCampaigns, sh.goneNextTick = max(s.opts.ElectionTicks/(2*goneRetryTicks), 1), s.d.ticks
			s.campaignGone(sh)
		default:
			// The successor campaigns; should it not win (its log is
			// behind, or it is gone too), this node tries at half an
			// election timeout, before its own timeout would.
			sh.goneCampaigns, sh.goneNextTick = 1, s.d.ticks+uint64(max(s.opts.ElectionTicks/2, 1))
		}
	}
}

// campaignGone is called on every tick while sh.goneCampaigns > 0.
func (s *Store) campaignGone(sh *shard) {
	if s.d.ticks < sh.goneNextTick {
		return
	}
	st := sh.rn.BasicStatus()
	if st.Lead != raft.None || st.RaftState == raft.StateLeader || st.RaftState == raft.StateCandidate {
		sh.goneCampaigns = 0 // a leader is known, or a real election runs
		return
	}
	sh.goneCampaigns--
	sh.goneNextTick = s.d.ticks + goneRetryTicks
	if err := sh.rn.Campaign(); err != nil {
		s.log.Debug("durable: campaign refused", "shard", sh.id, "err", err)
	}
}

// successor is the node that takes sh over from gone: the next one
// in the shard's preference order (which starts at its preferred leader),
// the same on every node.
func (s *Store) successor(sh *shard, gone uint64) uint64 {
	p := s.opts.Peers
	start := slices.Index(p, s.preferredLeader(sh))
	if start < 0 {
		return 0
	}
	for k := range len(p) {
		if n := p[(start+k)%len(p)]; n != gone {
			return n
		}
	}
	return 0
}
