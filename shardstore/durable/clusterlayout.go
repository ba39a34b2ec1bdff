package durable

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/cockroachdb/pebble/v2"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// The cluster layout says which slots form which shard, which nodes hold
// each shard, and which of them should lead it. It is data in a raft group
// of its own, the layout group, whose voters are every node: a layout
// record goes through that group's log as a write goes through a shard's,
// and applying it stores the layout under clusterLayoutKey. The first
// leader of the layout group proposes version 1, built from Options
// (Shards and Peers). A record applies only as the next version, so a
// replay or a second bootstrap applies nothing.
//
// Until shards move between nodes by membership changes, the shard groups
// are still created from Options, and the layout is checked against them:
// Open refuses a store whose stored layout differs, and a node that
// applies a layout other than its own refuses writes and its data shards'
// raft messages, and logs why. Leader placement follows the layout
// (preferredLeader), so ProposeLayout moves leaders today.

// LayoutGroup is the layout group's ID on the wire (Step, ReceiveSnapshot,
// Transport); in the store it is the group after the last shard.
const LayoutGroup = math.MaxUint32

// clusterLayoutKey holds the applied layout (its JSON).
var clusterLayoutKey = []byte("\x01scluster")

// opLayout is the opcode of a layout record, the only record the layout
// group applies.
const opLayout = 'L'

// ErrLayoutVersion: a layout record was not the next version; it applied
// nothing.
var ErrLayoutVersion = errors.New("durable: layout record is not the next version")

// ClusterLayout is one version of the cluster's layout.
type ClusterLayout struct {
	Version uint64        `json:"version"`
	Shards  []ShardLayout `json:"shards"` // shard i at index i; their slots cover 0..slot.Count-1 in order
}

// ShardLayout is one shard's place in the cluster.
type ShardLayout struct {
	FirstSlot uint16   `json:"first_slot"`
	LastSlot  uint16   `json:"last_slot"`
	Voters    []uint64 `json:"voters"`    // raft IDs, sorted
	Preferred uint64   `json:"preferred"` // the leader it gets back whenever it is up
}

// initialLayout is version 1: Options' shards over Peers, leaders spread
// evenly (shard i prefers Peers[i%len(Peers)]).
func initialLayout(opts *Options) *ClusterLayout {
	l := &ClusterLayout{Version: 1}
	voters := slices.Sorted(slices.Values(opts.Peers))
	for i := range opts.Shards {
		l.Shards = append(l.Shards, ShardLayout{
			FirstSlot: uint16(firstSlot(i, opts.Shards)), LastSlot: uint16(firstSlot(i+1, opts.Shards) - 1),
			Voters: voters, Preferred: opts.Peers[i%len(opts.Peers)],
		})
	}
	return l
}

// validate checks l's shape: slots covered in order, voters set, each
// preferred leader one of its shard's voters.
func (l *ClusterLayout) validate() error {
	next := 0
	for i, sh := range l.Shards {
		if int(sh.FirstSlot) != next || sh.LastSlot < sh.FirstSlot {
			return fmt.Errorf("durable: layout shard %d has slots %d-%d, want the range from %d", i, sh.FirstSlot, sh.LastSlot, next)
		}
		next = int(sh.LastSlot) + 1
		if len(sh.Voters) == 0 || !slices.IsSorted(sh.Voters) || len(slices.Compact(slices.Clone(sh.Voters))) != len(sh.Voters) {
			return fmt.Errorf("durable: layout shard %d: voters %v, want distinct raft IDs in order", i, sh.Voters)
		}
		if !slices.Contains(sh.Voters, sh.Preferred) {
			return fmt.Errorf("durable: layout shard %d: preferred leader %d is not a voter", i, sh.Preferred)
		}
	}
	if next != slot.Count {
		return fmt.Errorf("durable: layout covers slots 0-%d, want 0-%d", next-1, slot.Count-1)
	}
	return nil
}

func encodeLayout(l *ClusterLayout) []byte {
	b, err := json.Marshal(l)
	if err != nil {
		panic(err) // plain fields only
	}
	return b
}

func decodeLayout(b []byte) (*ClusterLayout, error) {
	l := &ClusterLayout{}
	if err := json.Unmarshal(b, l); err != nil {
		return nil, fmt.Errorf("durable: decode layout: %w", err)
	}
	return l, l.validate()
}

// Layout returns the applied cluster layout (nil until version 1 applied).
// It must not be modified.
func (s *Store) Layout() *ClusterLayout { return s.cluster.Load() }

// LayoutStatus returns the layout group's raft state as of the last tick.
func (s *Store) LayoutStatus() ShardStatus {
	if p := s.layoutShard().statusPub.Load(); p != nil {
		return *p
	}
	return ShardStatus{Shard: LayoutGroup}
}

// LayoutError returns why this node refuses the applied layout (nil: it
// matches the node's shards).
func (s *Store) LayoutError() error {
	if p := s.layoutErr.Load(); p != nil {
		return *p
	}
	return nil
}

// ProposeLayout proposes l as the next layout version; done is Propose's
// callback (ErrLayoutVersion when another change applied first). Until
// membership changes exist, l may change only preferred leaders.
func (s *Store) ProposeLayout(l *ClusterLayout, done func(index uint64, err error)) {
	cur := s.cluster.Load()
	err := l.validate()
	switch {
	case err != nil:
	case cur == nil || l.Version != cur.Version+1:
		err = fmt.Errorf("%w: version %d, the applied one is %d", ErrLayoutVersion, l.Version, cur.GetVersion())
	case !sameShards(l, cur):
		err = errors.New("durable: a layout change may move preferred leaders only: shards and voters change by membership changes, which this build lacks")
	}
	if err != nil {
		s.stats.rejected.Add(1)
		done(0, err)
		return
	}
	s.propose(uint32(len(s.shards)-1), append([]byte{opLayout}, encodeLayout(l)...), done)
}

// GetVersion is l's version, 0 for a nil l (no layout applied yet).
func (l *ClusterLayout) GetVersion() uint64 {
	if l == nil {
		return 0
	}
	return l.Version
}

// sameShards reports whether a and b have the same slots and voters.
func sameShards(a, b *ClusterLayout) bool {
	return slices.EqualFunc(a.Shards, b.Shards, func(x, y ShardLayout) bool {
		return x.FirstSlot == y.FirstSlot && x.LastSlot == y.LastSlot && slices.Equal(x.Voters, y.Voters)
	})
}

// layoutShard is the layout group; nData the number of data shards.
func (s *Store) layoutShard() *shard { return s.shards[len(s.shards)-1] }
func (s *Store) nData() int          { return len(s.shards) - 1 }

// wireGroup is sh's group ID for peers; groupIndex the inverse.
func (s *Store) wireGroup(sh *shard) uint32 {
	if sh.layoutGroup {
		return LayoutGroup
	}
	return sh.id
}

// groupIndex refuses a shard while the layout differs from this node's
// shards and, for messages (not snapshots), while a replicated store has
// applied no layout yet.
func (s *Store) groupIndex(wire uint32, snapshot bool) (uint32, error) {
	if wire == LayoutGroup {
		return uint32(len(s.shards) - 1), nil
	}
	if int(wire) >= s.nData() {
		return 0, fmt.Errorf("durable: raft group %d: the store has %d shards", wire, s.nData())
	}
	if err := s.LayoutError(); err != nil {
		return 0, err
	}
	if !snapshot && len(s.opts.Peers) > 1 && s.cluster.Load() == nil {
		return 0, fmt.Errorf("durable: raft group %d: no cluster layout applied yet, so no shard is served", wire)
	}
	return wire, nil
}

// applyLayout applies a layout record into b (driver).
func (s *Store) applyLayout(b *pebble.Batch, rec []byte) error {
	if len(rec) == 0 || rec[0] != opLayout {
		return errors.New("durable: the layout group applies layout records only")
	}
	l, err := decodeLayout(rec[1:])
	if err != nil {
		return err
	}
	cur := s.d.layoutStaged
	if cur == nil {
		cur = s.cluster.Load()
	}
	if l.Version != cur.GetVersion()+1 {
		return fmt.Errorf("%w: version %d, the applied one is %d", ErrLayoutVersion, l.Version, cur.GetVersion())
	}
	s.d.layoutStaged = l
	return b.Set(clusterLayoutKey, encodeLayout(l), nil)
}

// publishLayout makes the layout applied this round visible, once pebble
// has it (commitApplyRest).
func (s *Store) publishLayout() {
	l := s.d.layoutStaged
	if l == nil {
		return
	}
	s.d.layoutStaged = nil
	s.setLayout(l)
	s.log.Info("durable: cluster layout applied", "version", l.Version, "shards", len(l.Shards))
}

// setLayout stores l as the applied layout and checks it against this
// node's shards.
func (s *Store) setLayout(l *ClusterLayout) {
	s.cluster.Store(l)
	if l == nil {
		s.layoutErr.Store(nil)
		return
	}
	err := s.matchLayout(l)
	if err == nil {
		s.layoutErr.Store(nil)
		return
	}
	err = fmt.Errorf("durable: this node's shards differ from the cluster layout version %d (%w): it refuses writes and its shards' raft messages; restart it with the cluster's --shards and --peers", l.Version, err)
	s.layoutErr.Store(&err)
	s.log.Error("durable: cluster layout mismatch", "err", err)
}

// matchLayout checks that l describes this store's shards.
func (s *Store) matchLayout(l *ClusterLayout) error {
	if len(l.Shards) != s.nData() {
		return fmt.Errorf("%d shards in the layout, %d here", len(l.Shards), s.nData())
	}
	voters := slices.Sorted(slices.Values(s.opts.Peers))
	for i, ls := range l.Shards {
		sh := s.shards[i]
		if ls.FirstSlot != sh.firstSlot || ls.LastSlot != sh.lastSlot {
			return fmt.Errorf("shard %d has slots %d-%d in the layout, %d-%d here", i, ls.FirstSlot, ls.LastSlot, sh.firstSlot, sh.lastSlot)
		}
		if !slices.Equal(ls.Voters, voters) {
			return fmt.Errorf("shard %d has voters %v in the layout, peers %v here", i, ls.Voters, voters)
		}
	}
	return nil
}

// loadLayout reads the stored layout at Open.
func (s *Store) loadLayout() error {
	v, closer, err := s.db.Get(clusterLayoutKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("durable: read cluster layout: %w", err)
	}
	defer closer.Close()
	l, err := decodeLayout(v)
	if err != nil {
		return err
	}
	s.cluster.Store(l)
	return nil
}

// bootstrapLayout proposes version 1 once per term while this node leads
// the layout group and none is applied (driver, every tick).
func (s *Store) bootstrapLayout() {
	lg := s.layoutShard()
	if lg.leaderTerm == 0 || lg.bootTerm == lg.leaderTerm || s.cluster.Load() != nil || s.d.layoutStaged != nil {
		return
	}
	lg.bootTerm = lg.leaderTerm
	rec := append([]byte{opLayout}, encodeLayout(initialLayout(&s.opts))...)
	if err := lg.rn.Propose(encodeProposal(0, rec)); err != nil {
		s.log.Warn("durable: cluster layout bootstrap not proposed", "err", err)
	}
}
