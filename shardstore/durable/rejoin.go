package durable

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// A replica whose store is corrupt discards its copy and catches up from
// its peers. It may not simply start over as a voter: entries it had
// acknowledged are gone, and its vote could then elect a leader that lacks
// them. So a rejoining group (marked by rejoinKey, set when the fresh copy
// is created) neither votes nor campaigns, and asks its leader to remove
// it. The leader adds every member its layout names and the group lacks
// back as a learner, with a fresh view of its log; the learner catches up
// by entries or a snapshot, and once it has the leader's commit index the
// leader promotes it back to voter (repairMembers, at each rebalance). The
// mark goes once this node has applied the removal it asked for (tagged
// with this copy's nonce) and then its addition as a learner. Until the
// promotion the group has two voters, both needed for a commit.

// ErrCorrupt marks errors of a corrupt store: damaged synced raft log
// records, missing log entries, a damaged store file.
var ErrCorrupt = errors.New("durable: store corrupt")

type corruptError struct{ err error }

func (e corruptError) Error() string   { return e.err.Error() }
func (e corruptError) Unwrap() []error { return []error{e.err, ErrCorrupt} }

// rejoinAskTicks: how often a rejoining group asks its leader again.
const rejoinAskTicks = 20

// suffixRejoin follows the shard prefix while the group rejoins: its
// value is the nonce of this copy's removal request (8 bytes), then 1 once
// that removal applied here.
const suffixRejoin = "rrejn"

// rejoinMark is the value of a group's rejoinKey.
func rejoinMark(nonce []byte, removed bool) []byte {
	v := append([]byte(nil), nonce...)
	if removed {
		v = append(v, 1)
	}
	return v
}

func rejoinKey(shard uint32) []byte { return shardKey(shard, suffixRejoin) }

// discardCorrupt moves the corrupt store in dir aside (to dir.corrupt-<unix
// time>, for inspection) and opens a fresh copy whose groups rejoin.
func discardCorrupt(dir string, opts Options, cause error) (*Store, error) {
	aside := fmt.Sprintf("%s.corrupt-%d", dir, time.Now().Unix())
	opts.Logger.Error("durable: this replica's store is corrupt: moving it aside and catching up from the peers",
		"dir", dir, "moved_to", aside, "err", cause)
	if err := opts.FS.Rename(dir, aside); err != nil {
		return nil, fmt.Errorf("%w (and moving it aside to rejoin from the peers failed: %v)", cause, err)
	}
	if err := opts.FS.MkdirAll(dir, 0o700); err != nil { // the data stays others'-unreadable
		return nil, fmt.Errorf("durable: create %s after moving the corrupt store aside: %w", dir, err)
	}
	if d, err := opts.FS.OpenDir(opts.FS.PathDir(dir)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	opts.Rejoin = true
	s, err := open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("durable: open a fresh copy after moving the corrupt store aside: %w", err)
	}
	s.stats.rejoins.Store(uint64(len(s.shards)))
	return s, nil
}

// loadRejoin reads whether sh is rejoining (recover).
func (s *Store) loadRejoin(sh *shard) error {
	v, closer, err := s.db.Get(rejoinKey(sh.id))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("durable: shard %d: read rejoin mark: %w", sh.id, err)
	}
	defer closer.Close()
	if len(v) < 8 {
		return fmt.Errorf("durable: shard %d: rejoin mark %x malformed", sh.id, v)
	}
	sh.rejoining, sh.rejoinNonce, sh.rejoinRemoved = true, slices.Clone(v[:8]), len(v) > 8
	return nil
}

// confChange is the conf change of one node.
func confChange(t pb.ConfChangeType, node uint64) *pb.ConfChangeV2 {
	return &pb.ConfChangeV2{Changes: []*pb.ConfChangeSingle{{Type: t.Enum(), NodeId: new(node)}}}
}

// isChange reports whether cc is confChange(t, node).
func isChange(cc *pb.ConfChangeV2, t pb.ConfChangeType, node uint64) bool {
	ch := cc.GetChanges()
	return len(ch) == 1 && ch[0].GetType() == t && ch[0].GetNodeId() == node
}

// askRejoin sends the leader the rejoin change as a proposal, every
// rejoinAskTicks while sh rejoins (driver, tick).
func (s *Store) askRejoin(sh *shard) {
	if !sh.rejoining || sh.lead == 0 || sh.lead == s.opts.NodeID || s.d.ticks < sh.rejoinAskAt {
		return
	}
	sh.rejoinAskAt = s.d.ticks + rejoinAskTicks
	cc := confChange(pb.ConfChangeRemoveNode, s.opts.NodeID)
	cc.Context = sh.rejoinNonce // tells this request's removal from an earlier copy's
	data, err := proto.Marshal(cc)
	if err != nil {
		return
	}
	s.send(sh, []*pb.Message{{Type: pb.MsgProp.Enum(), To: new(sh.lead), From: new(s.opts.NodeID),
		Entries: []*pb.Entry{{Type: pb.EntryConfChangeV2.Enum(), Data: data}}}})
}

// admitPeerProposal is the leader's check of a proposal a peer sent: only
// a voter's request to remove itself is taken, and only while the group
// has all its voters (one replica rejoins at a time) (driver).
func (s *Store) admitPeerProposal(sh *shard, m *pb.Message) bool {
	from := m.GetFrom()
	voters := sh.conf.GetVoters()
	if sh.lead != s.opts.NodeID || len(m.Entries) != 1 || m.Entries[0].GetType() != pb.EntryConfChangeV2 ||
		!slices.Contains(voters, from) || len(voters) < len(s.opts.Peers) {
		return false
	}
	cc := &pb.ConfChangeV2{}
	if err := proto.Unmarshal(m.Entries[0].Data, cc); err != nil || !isChange(cc, pb.ConfChangeRemoveNode, from) {
		return false
	}
	// The voters left must all be up: they alone commit until it is back.
	st := sh.rn.Status()
	for _, id := range voters {
		if pr, ok := st.Progress[id]; id != from && id != s.opts.NodeID && (!ok || !pr.RecentActive) {
			return false
		}
	}
	s.log.Warn("durable: a replica lost its copy of the shard: removing it, to add it back as a learner", "shard", sh.id, "node", from)
	return true
}

// appliedConfChange notes a conf change sh applied into b: this node made
// a learner after the removal it asked for ends its rejoin (driver). The
// changes of an earlier copy's rejoin, replayed from the log, do not.
func (s *Store) appliedConfChange(b *pebble.Batch, sh *shard, cc *pb.ConfChangeV2) {
	switch {
	case !sh.rejoining:
	case isChange(cc, pb.ConfChangeRemoveNode, s.opts.NodeID) && bytes.Equal(cc.GetContext(), sh.rejoinNonce):
		sh.rejoinRemoved = true
		_ = b.Set(rejoinKey(sh.id), rejoinMark(sh.rejoinNonce, true), nil)
	case sh.rejoinRemoved && isChange(cc, pb.ConfChangeAddLearnerNode, s.opts.NodeID):
		sh.rejoining = false
		_ = b.Delete(rejoinKey(sh.id), nil)
		s.log.Info("durable: rejoined as a learner, catching up", "shard", sh.id)
	}
}

// members are the nodes that should hold sh: its layout's voters, or
// every peer (the layout group, and shards before the layout).
func (s *Store) members(sh *shard) []uint64 {
	if l := s.cluster.Load(); l != nil && !sh.layoutGroup && int(sh.id) < len(l.Shards) {
		return l.Shards[sh.id].Voters
	}
	return s.opts.Peers
}

// repairMembers, on the leader, proposes one conf change toward sh's
// members: a missing one is added as a learner, a learner that has the
// commit index becomes a voter (rebalance).
func (s *Store) repairMembers(sh *shard) {
	if sh.lead != s.opts.NodeID || sh.soleVoter {
		return
	}
	voters, learners := sh.conf.GetVoters(), sh.conf.GetLearners()
	for _, id := range s.members(sh) {
		if !slices.Contains(voters, id) && !slices.Contains(learners, id) {
			s.proposeConfChange(sh, confChange(pb.ConfChangeAddLearnerNode, id), "adding a replica back as a learner", 0)
			return
		}
	}
	st := sh.rn.Status()
	for _, id := range learners {
		if pr, ok := st.Progress[id]; ok && pr.RecentActive && pr.Match >= st.GetCommit() {
			s.proposeConfChange(sh, confChange(pb.ConfChangeAddNode, id), "a learner caught up: promoting it to voter", pr.Match)
			return
		}
	}
}

func (s *Store) proposeConfChange(sh *shard, cc *pb.ConfChangeV2, what string, match uint64) {
	node := cc.GetChanges()[0].GetNodeId()
	if err := sh.rn.ProposeConfChange(cc); err != nil {
		s.log.Warn("durable: conf change not proposed", "shard", sh.id, "node", node, "err", err)
		return
	}
	s.log.Info("durable: "+what, "shard", sh.id, "node", node, "match", match)
}

// clampRejoinCommit caps a heartbeat's commit index at a rejoining
// group's last index: the leader still believes this node has the entries
// it lost, and raft would take the commit past its log's end as a lost log.
func clampRejoinCommit(sh *shard, m *pb.Message) {
	if !sh.rejoining || m.GetType() != pb.MsgHeartbeat {
		return
	}
	if last, _ := sh.ms.LastIndex(); m.GetCommit() > last {
		m.Commit = new(last)
	}
}

// refusesVote reports whether sh must not answer m: a rejoining group
// takes no part in elections, nor takes leadership handed to it.
func refusesVote(sh *shard, m *pb.Message) bool {
	t := m.GetType()
	return sh.rejoining && (t == pb.MsgVote || t == pb.MsgPreVote || t == pb.MsgTimeoutNow)
}
