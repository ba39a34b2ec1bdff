package durable

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
)

// inboundQueue bounds raft messages from peers waiting for the driver; past
// it they are dropped and counted (raft retransmits).
const inboundQueue = 8192

// rebalanceTicks: how often a leader checks whether its shard's preferred
// leader is back and caught up, and hands leadership to it.
const rebalanceTicks = 50

// inbound is a raft message from a peer; a MsgSnap's data waits in the
// store's snapIntake.
type inbound struct {
	shard uint32
	m     *pb.Message
}

// Step hands a raft message from a peer to group's raft (a shard, or
// LayoutGroup). It never blocks: with the driver's queue full the message
// is dropped and counted. Local message types and unknown groups are
// refused, and so are shards' messages while the layout differs from this
// node's shards.
func (s *Store) Step(group uint32, m *pb.Message) error {
	shard, err := s.groupIndex(group, false)
	if err != nil {
		return err
	}
	if raft.IsLocalMsg(m.GetType()) || m.GetType() == pb.MsgSnap {
		return fmt.Errorf("durable: group %d: %s is not a peer message here", group, m.GetType())
	}
	s.enqueueInbound(inbound{shard: shard, m: m})
	return nil
}

func (s *Store) enqueueInbound(in inbound) {
	if s.closed.Load() {
		return
	}
	select {
	case s.recvc <- in:
	default:
		s.stats.dropped.Add(1)
	}
}

// stepInbound runs on the driver.
func (s *Store) stepInbound(in inbound) {
	sh := s.shards[in.shard]
	if in.m.GetType() == pb.MsgSnap && !s.takeSnapshot(sh, in.m) {
		return
	}
	if in.m.GetType() == pb.MsgTimeoutNow && s.draining.Load() {
		s.log.Info("durable: draining, so refusing leadership of a shard handed over", "shard", sh.id, "from", in.m.GetFrom())
		return
	}
	if refusesVote(sh, in.m) || in.m.GetType() == pb.MsgProp && !s.admitPeerProposal(sh, in.m) {
		return
	}
	clampRejoinCommit(sh, in.m)
	if in.m.GetFrom() == sh.lead && sh.lead != 0 {
		sh.leaderHeard = time.Now().UnixNano()
	}
	if err := sh.rn.Step(in.m); err != nil {
		s.log.Debug("durable: raft refused a peer message", "shard", sh.id, "type", in.m.GetType().String(), "from", in.m.GetFrom(), "err", err)
	}
}

// preferredLeader is the node that should lead sh when it is up (0:
// none, with one replica): the layout's choice, else shard i prefers
// Peers[i%len(Peers)]. The layout group prefers the lowest ID, on every
// node whatever its shards.
func (s *Store) preferredLeader(sh *shard) uint64 {
	p := s.opts.Peers
	switch l := s.cluster.Load(); {
	case len(p) < 2:
		return 0
	case sh.layoutGroup:
		return slices.Min(p)
	case l != nil && int(sh.id) < len(l.Shards):
		return l.Shards[sh.id].Preferred
	}
	return p[int(sh.id)%len(p)]
}

// LeaderInfo is a shard's leader as this node last saw it (0: unknown).
type LeaderInfo struct {
	Leader, Term uint64
}

// Leader returns shard's leader as this node last saw it.
func (s *Store) Leader(shard uint32) LeaderInfo {
	if p := s.shards[shard].leadPub.Load(); p != nil {
		return *p
	}
	return LeaderInfo{}
}

// IsLeader reports whether this node leads shard.
func (s *Store) IsLeader(shard uint32) bool { return s.Leader(shard).Leader == s.opts.NodeID }

// NodeID returns this node's raft ID.
func (s *Store) NodeID() uint64 { return s.opts.NodeID }

// noteSoftState records a leadership change raft reported for sh.
func (s *Store) noteSoftState(sh *shard, ss *raft.SoftState) {
	term := sh.rn.BasicStatus().GetTerm()
	switch {
	case ss.RaftState == raft.StateLeader:
		if sh.leaderTerm != 0 && sh.leaderTerm != term {
			// Led again in a new term without a Ready in between that
			// showed the loss: the old term's proposals are orphans.
			sh.orphanTerm, sh.orphanSince = sh.leaderTerm, s.d.ticks
		}
		sh.leaderTerm = term
	case sh.leaderTerm != 0:
		// What this node proposed as leader may still commit under the
		// next leader: settled in settleOrphans.
		sh.orphanTerm, sh.orphanSince, sh.leaderTerm = sh.leaderTerm, s.d.ticks, 0
	}
	if ss.Lead == sh.lead && (ss.Lead != s.opts.NodeID || term == sh.leadTerm) {
		return
	}
	if ss.Lead == s.opts.NodeID && sh.lead == s.opts.NodeID {
		// The same node, a new term: what it read in the old one is stale.
		s.failLeaderReads(sh, fmt.Errorf("%w: shard %d: leader again in term %d", ErrNotLeader, sh.id, term))
	}
	sh.lead, sh.leadTerm = ss.Lead, term
	if ss.Lead != 0 { // an election with no leader yet is not a change
		if sh.knownLead != 0 && sh.knownLead != ss.Lead {
			sh.leadChanges++
		}
		sh.knownLead = ss.Lead
		if !sh.soleVoter { // raft's own election lines are at Debug
			s.log.Info("durable: raft leader", "group", groupName(sh), "leader", ss.Lead, "term", term)
		}
	}
	sh.leadPub.Store(&LeaderInfo{Leader: ss.Lead, Term: term})
	s.stats.leaderChanges.Add(1)
	if ss.Lead != s.opts.NodeID {
		s.failLeaderReads(sh, fmt.Errorf("%w: shard %d: leader changed to %d", ErrNotLeader, sh.id, ss.Lead))
	}
	s.reissueReads(sh)
	if hook := s.leaderHook.Load(); hook != nil && !sh.layoutGroup {
		(*hook)(sh.id, ss.Lead, term)
	}
}

// groupName names sh's raft group in log lines: its shard index, or
// "layout" for the layout group.
func groupName(sh *shard) string {
	if sh.layoutGroup {
		return "layout"
	}
	return strconv.FormatUint(uint64(sh.id), 10)
}

// SetLeaderHook makes fn hear, on the driver goroutine, of every change of
// this node's view of a shard's leader (leader 0: none known; the layout
// group's are not reported) from now on; Leader gives the view before. fn
// must not block.
func (s *Store) SetLeaderHook(fn func(shard uint32, leader, term uint64)) {
	s.leaderHook.Store(&fn)
}

// settleOrphans settles the proposals this node made as leader of a term
// it lost. Once an entry of a later term is applied, every entry of the
// lost term that will ever commit is applied (a leader appends its own
// term's entries after all it inherited), so the proposals still pending
// were dropped: a definite ErrNotLeader. Without that proof in
// orphanTicks, their outcome is unknown.
func (s *Store) settleOrphans(sh *shard) {
	if sh.orphanTerm == 0 {
		return
	}
	switch {
	case sh.appliedTerm > sh.orphanTerm:
		s.failPendingUpTo(sh.id, sh.orphanTerm, fmt.Errorf("%w: shard %d: the write was dropped when this node lost leadership", ErrNotLeader, sh.id))
	case s.d.ticks-sh.orphanSince > uint64(4*s.opts.ElectionTicks):
		s.failPendingUpTo(sh.id, sh.orphanTerm, fmt.Errorf("%w: shard %d: this node lost leadership before the write committed", ErrUnknownOutcome, sh.id))
	default:
		return
	}
	sh.orphanTerm = 0
}

// rebalance hands leadership of each shard this node leads to its
// preferred leader once that one is active and has the whole log.
// A hand-back the preferred leader refused (it is draining) is retried
// with a backoff, since raft drops proposals while a transfer is pending.
func (s *Store) rebalance() {
	for _, sh := range s.shards {
		s.repairMembers(sh)
		pref := s.preferredLeader(sh)
		if sh.lead != s.opts.NodeID {
			sh.handBacks = 0
		}
		if pref == 0 || pref == s.opts.NodeID || sh.lead != s.opts.NodeID || s.d.ticks < sh.handBackAt {
			continue
		}
		last, _ := sh.ms.LastIndex()
		st := sh.rn.Status()
		if pr, ok := st.Progress[pref]; ok && pr.RecentActive && pr.Match >= last && st.LeadTransferee == 0 {
			s.log.Info("durable: handing shard leadership to its preferred leader", "shard", sh.id, "to", pref)
			sh.rn.TransferLeader(pref)
			sh.handBackAt = s.d.ticks + rebalanceTicks<<min(sh.handBacks, 6)
			sh.handBacks++
		}
	}
}

// readRequest is a ReadIndex call; leader asks for LeaderReadIndex.
type readRequest struct {
	shard  uint32
	leader bool
	done   func(index uint64, err error)
}

// pendingRead is one ReadIndex raft is confirming, for every read that
// arrived in one driver cycle.
type pendingRead struct {
	id     uint64
	index  uint64
	ticks  int  // ticks since it was stepped
	leader bool // LeaderReadIndex: fails once this node stops leading
	dones  []func(uint64, error)
}

func (p *pendingRead) answer(err error) {
	for _, d := range p.dones {
		d(p.index, err)
	}
}

// ReadIndex confirms, through raft's ReadIndex, that this node's applied
// state of shard is at least as new as every write acknowledged before the
// call: done(index, nil) once shard's applied index has reached the read
// index, so a Get that follows is linearizable. It works on the leader (a
// heartbeat round confirms leadership) and on followers (the leader is
// asked). Without a quorum in 2 election timeouts it fails with
// ErrReadTimeout; done may run on the driver goroutine and must not block.
func (s *Store) ReadIndex(shard uint32, done func(index uint64, err error)) {
	s.readIndex(readRequest{shard: shard, done: done})
}

// LeaderReadIndex is ReadIndex for a read this node served from its own
// copy while it led shard: it fails with ErrNotLeader unless this node
// still leads shard when raft confirms the read (a ReadIndex answered by
// another leader would not cover what that leader committed).
func (s *Store) LeaderReadIndex(shard uint32, done func(index uint64, err error)) {
	s.readIndex(readRequest{shard: shard, leader: true, done: done})
}

func (s *Store) readIndex(r readRequest) {
	if err := s.admitRead(r.shard); err != nil {
		r.done(0, err)
		return
	}
	select {
	case s.readc <- r:
	default:
		r.done(0, ErrOverloaded)
	}
}

func (s *Store) admitRead(shard uint32) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if int(shard) >= s.nData() {
		return fmt.Errorf("durable: shard %d out of range [0,%d)", shard, s.nData())
	}
	return nil
}

// stepRead collects a ReadIndex request on the driver: the reads of one
// cycle share one raft ReadIndex (startReads), so a burst of reads costs
// one heartbeat round, not one each.
func (s *Store) stepRead(r readRequest) {
	sh := s.shards[r.shard]
	if sh.soleVoter {
		// One replica: everything acknowledged is applied before its ack.
		r.done(sh.applied, nil)
		return
	}
	if r.leader && sh.lead != s.opts.NodeID {
		// Leadership lost since the caller read: noteSoftState failed
		// the reads stepped before, this one is refused here.
		r.done(0, fmt.Errorf("%w: shard %d: leader is %d", ErrNotLeader, sh.id, sh.lead))
		return
	}
	if len(sh.readBatch[0]) == 0 && len(sh.readBatch[1]) == 0 {
		s.d.readShards = append(s.d.readShards, sh)
	}
	mode := 0
	if r.leader {
		mode = 1
	}
	sh.readBatch[mode] = append(sh.readBatch[mode], r.done)
}

// startReads steps one ReadIndex per shard and mode for the reads
// collected.
func (s *Store) startReads() {
	for _, sh := range s.d.readShards {
		for mode, dones := range sh.readBatch {
			if len(dones) == 0 {
				continue
			}
			id := s.nextID.Add(1)
			sh.reads = append(sh.reads, pendingRead{id: id, leader: mode == 1, dones: dones})
			sh.readBatch[mode] = nil
			sh.rn.ReadIndex(binary.BigEndian.AppendUint64(nil, id))
		}
	}
	clear(s.d.readShards)
	s.d.readShards = s.d.readShards[:0]
}

// readStates matches raft's answers to pending reads.
func (s *Store) readStates(sh *shard, rs []raft.ReadState) {
	for _, st := range rs {
		if len(st.RequestCtx) != 8 {
			continue
		}
		id := binary.BigEndian.Uint64(st.RequestCtx)
		i := slices.IndexFunc(sh.reads, func(p pendingRead) bool { return p.id == id })
		if i < 0 {
			continue // timed out already
		}
		p := sh.reads[i]
		sh.reads = slices.Delete(sh.reads, i, i+1)
		p.index = st.Index
		sh.confirmed = append(sh.confirmed, p)
	}
	s.releaseReads(sh)
}

// releaseReads answers the confirmed reads whose index is applied.
func (s *Store) releaseReads(sh *shard) {
	kept := sh.confirmed[:0]
	for _, p := range sh.confirmed {
		if p.index <= sh.applied {
			p.answer(nil)
			continue
		}
		kept = append(kept, p)
	}
	clear(sh.confirmed[len(kept):])
	sh.confirmed = kept
}

// expireReads fails reads raft has not answered in 2 election timeouts
// (raft drops a ReadIndex silently when there is no leader), and answered
// reads this replica has not applied up to in 4 (it lags far behind, or
// rejoins).
func (s *Store) expireReads(sh *shard) {
	sh.reads = s.expire(sh, sh.reads, 2*s.opts.ElectionTicks)
	sh.confirmed = s.expire(sh, sh.confirmed, 4*s.opts.ElectionTicks)
}

func (s *Store) expire(sh *shard, reads []pendingRead, limit int) []pendingRead {
	kept := reads[:0]
	for _, p := range reads {
		p.ticks++
		if p.ticks > limit {
			p.answer(fmt.Errorf("%w: shard %d", ErrReadTimeout, sh.id))
			continue
		}
		kept = append(kept, p)
	}
	clear(reads[len(kept):])
	return kept
}

// reissueReads asks again for the ReadIndexes raft has not answered yet,
// after a leader change: the old leader may never answer them.
func (s *Store) reissueReads(sh *shard) {
	if len(sh.reads) == 0 {
		return
	}
	if len(sh.readBatch[0]) == 0 && len(sh.readBatch[1]) == 0 {
		s.d.readShards = append(s.d.readShards, sh)
	}
	for _, p := range sh.reads {
		mode := 0
		if p.leader {
			mode = 1
		}
		sh.readBatch[mode] = append(sh.readBatch[mode], p.dones...)
	}
	clear(sh.reads)
	sh.reads = sh.reads[:0]
}

// failLeaderReads fails the LeaderReadIndex calls pending on sh: this
// node stopped leading it.
func (s *Store) failLeaderReads(sh *shard, err error) {
	kept := sh.reads[:0]
	for _, p := range sh.reads {
		if p.leader {
			p.answer(err)
			continue
		}
		kept = append(kept, p)
	}
	clear(sh.reads[len(kept):])
	sh.reads = kept
	kept = sh.confirmed[:0]
	for _, p := range sh.confirmed {
		if p.leader {
			p.answer(err)
			continue
		}
		kept = append(kept, p)
	}
	clear(sh.confirmed[len(kept):])
	sh.confirmed = kept
}

// ShardStatus is a shard's raft state as of the last tick, for metrics and
// `dorivo status`.
type ShardStatus struct {
	Shard                 uint32
	Leader, Term          uint64
	State                 string // raft's StateLeader, StateFollower, ...
	Commit, Applied, Last uint64
	// LeaderChanges counts the times the known leader changed since Open.
	LeaderChanges uint64
	// Learners are the group's members that do not vote yet (a replica
	// catching up after it lost its copy); Rejoining is set while this
	// node waits to be made one (rejoin.go).
	Learners  []uint64
	Rejoining bool
	// Followers, on the leader only: each peer's matched index and lag
	// (Last - Match).
	Followers []FollowerStatus
	// LeaderHeard, on a follower, is when its leader's last message
	// arrived (zero: none yet): what it applies is at most that old, plus
	// Commit - Applied entries.
	LeaderHeard time.Time
}

// FollowerStatus is the leader's view of one follower.
type FollowerStatus struct {
	ID, Match, Lag uint64
	Active         bool   // heard from within the election timeout
	State          string // probe, replicate, snapshot
}

// Status returns shard's raft state as of the driver's last tick.
func (s *Store) Status(shard uint32) ShardStatus {
	if int(shard) >= s.nData() {
		return ShardStatus{Shard: shard}
	}
	if p := s.shards[shard].statusPub.Load(); p != nil {
		return *p
	}
	return ShardStatus{Shard: shard}
}

// publishStatus copies sh's raft status out for Status and RaftStatus.
// Only a group with peers pays for raft's full Status (its progress map).
func (s *Store) publishStatus(sh *shard) {
	last, _ := sh.ms.LastIndex()
	if sh.soleVoter {
		st := sh.rn.BasicStatus()
		sh.statusPub.Store(&ShardStatus{Shard: sh.id, Leader: st.Lead, Term: st.GetTerm(), State: st.RaftState.String(),
			Commit: st.GetCommit(), Applied: sh.applied, Last: last, LeaderChanges: sh.leadChanges})
		return
	}
	st := sh.rn.Status()
	out := &ShardStatus{
		Shard: sh.id, Leader: st.Lead, Term: st.GetTerm(), State: st.RaftState.String(),
		Commit: st.GetCommit(), Applied: sh.applied, Last: last, LeaderChanges: sh.leadChanges,
		Learners: slices.Clone(sh.conf.GetLearners()), Rejoining: sh.rejoining,
	}
	if st.Lead != s.opts.NodeID && sh.leaderHeard != 0 {
		out.LeaderHeard = time.Unix(0, sh.leaderHeard)
	}
	for id, pr := range st.Progress {
		if id == s.opts.NodeID {
			continue
		}
		out.Followers = append(out.Followers, FollowerStatus{
			ID: id, Match: pr.Match, Lag: last - min(last, pr.Match), Active: pr.RecentActive, State: progressState(pr),
		})
	}
	slices.SortFunc(out.Followers, func(a, b FollowerStatus) int { return int(a.ID) - int(b.ID) })
	sh.statusPub.Store(out)
}

func progressState(pr tracker.Progress) string { return pr.State.String() }
