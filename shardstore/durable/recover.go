package durable

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
)

// recover brings every shard's applied state up to its log's end before the
// store takes writes, re-forming the groups when the shard count changed.
// It ends with pebble flushed and the log reduced to the segment it opened.
func (s *Store) recover() error {
	l, ok, err := readLayout(s.db)
	if err != nil {
		return err
	}
	if !ok {
		l = layout{shards: s.opts.Shards, gen: 1}
		if err := s.createShards(l); err != nil {
			return err
		}
	}
	s.gen = l.gen
	if err := mkdirDurable(s.fs, s.logDir); err != nil {
		return err
	}
	if err := s.loadShards(l.shards); err != nil {
		return err
	}
	s.logwRunning = true
	go s.logw.run()
	if err := s.startLog(); err != nil {
		return err
	}
	if l.shards != s.opts.Shards {
		if len(s.opts.Peers) > 1 {
			return fmt.Errorf("durable: the store has %d shards and %d were asked for: a replicated store cannot change its shard count in place", l.shards, s.opts.Shards)
		}
		if err := s.reshard(l); err != nil {
			return err
		}
	}
	if cl := s.cluster.Load(); cl != nil {
		if err := s.matchLayout(cl); err != nil {
			return fmt.Errorf("durable: the stored cluster layout version %d differs from this node's options: %w: refusing to open (start the node with the --shards and --peers it was created with, or from an empty --data-dir)", cl.Version, err)
		}
	}
	// Everything replayed is in pebble's memtable: flush it, then the old
	// segments are not needed any more.
	if err := s.db.Flush(); err != nil {
		return fmt.Errorf("durable: flush after replay: %w", err)
	}
	return s.removeSegmentsBefore(s.d.seg.index)
}

func (s *Store) createShards(l layout) error {
	b := s.db.NewBatch()
	defer b.Close()
	if err := s.createShardsIn(b, l); err != nil {
		return err
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("durable: create shards: %w", err)
	}
	if err := s.db.Flush(); err != nil { // pebble has no WAL: flush is what makes it durable
		return fmt.Errorf("durable: create shards: %w", err)
	}
	return nil
}

func (s *Store) createShardsIn(b *pebble.Batch, l layout) error {
	if err := writeLayout(b, l); err != nil {
		return fmt.Errorf("durable: write layout: %w", err)
	}
	nonce := make([]byte, 8) // of this copy's rejoin requests (rejoin.go)
	rand.Read(nonce)
	for i := range l.shards + 1 { // the shards, then the layout group
		if err := initShard(b, uint32(i), s.opts.Peers); err != nil {
			return fmt.Errorf("durable: %w", err)
		}
		if s.opts.Rejoin && len(s.opts.Peers) > 1 {
			_ = b.Set(rejoinKey(uint32(i)), rejoinMark(nonce, false), nil)
		}
	}
	return nil
}

// addLayoutGroup creates the layout group of a store from a build that had
// none (its shards' groups are kept).
func (s *Store) addLayoutGroup(n int) error {
	if _, closer, err := s.db.Get(appliedKey(uint32(n))); err == nil {
		closer.Close()
		return nil
	} else if !errors.Is(err, pebble.ErrNotFound) {
		return fmt.Errorf("durable: read layout group state: %w", err)
	}
	s.log.Info("durable: adding the cluster layout group to a store created without one")
	b := s.db.NewBatch()
	defer b.Close()
	if err := initShard(b, uint32(n), s.opts.Peers); err != nil {
		return fmt.Errorf("durable: %w", err)
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("durable: create layout group: %w", err)
	}
	if err := s.db.Flush(); err != nil {
		return fmt.Errorf("durable: create layout group: %w", err)
	}
	return nil
}

// groupLogs splits the recovered records into each group's log (the last
// HardState and the entries after applied[group]).
func groupLogs(rec recoveredLog, applied []uint64) ([]shardLog, error) {
	logs := make([]shardLog, len(applied))
	for _, lr := range rec.records {
		for _, b := range lr.blocks {
			if int(b.shard) >= len(logs) {
				return nil, fmt.Errorf("durable: raft log record %d names group %d, the store has %d: refusing to open", lr.seq, b.shard, len(logs))
			}
			if b.hs != nil {
				logs[b.shard].hs = b.hs
			}
			if err := logs[b.shard].add(b.shard, b.ents, applied[b.shard]); err != nil {
				return nil, err
			}
		}
	}
	return logs, nil
}

// loadShards reads the log of the current generation and starts n shards'
// groups and the layout group from pebble's applied states and the entries
// after them.
func (s *Store) loadShards(shards int) error {
	if err := s.addLayoutGroup(shards); err != nil {
		return err
	}
	n := shards + 1
	applied := make([]appliedState, n)
	idx := make([]uint64, n)
	for i := range n {
		as, err := readApplied(s.db, uint32(i))
		if err != nil {
			return err
		}
		applied[i], idx[i] = as, as.index
	}
	r := &logReader{fs: s.fs, dir: s.logDir, gen: s.gen, applied: idx, truncate: s.opts.TruncateCorrupt, log: s.log}
	rec, err := r.read()
	if err != nil {
		return err
	}
	if rec.torn != nil {
		s.stats.tornTails.Add(1)
	}
	s.stats.droppedEntries.Add(rec.dropped)
	logs, err := groupLogs(rec, idx)
	if err != nil {
		return err
	}
	for i, as := range applied {
		if err := s.checkVoters(as.conf); err != nil {
			return fmt.Errorf("durable: shard %d: the store's raft group has %w: refusing to open (start the node with the --peers it was created with, or from an empty --data-dir)", i, err)
		}
	}
	s.d.nextSeq = max(s.d.nextSeq, rec.nextSeq)
	s.d.nextSegIdx = max(s.d.nextSegIdx, rec.nextIndex)
	s.shards, s.d.byShard, s.d.ids = nil, nil, nil
	for i := range n {
		sh, err := loadShard(uint32(i), applied[i], &logs[i], &s.opts, s.log)
		if err != nil {
			return err
		}
		if err := s.loadRejoin(sh); err != nil {
			return err
		}
		if i < shards {
			sh.firstSlot = uint16(firstSlot(i, shards))
			sh.lastSlot = uint16(firstSlot(i+1, shards) - 1)
		} else {
			sh.layoutGroup = true
		}
		if sh.soleVoter || s.preferredLeader(sh) == s.opts.NodeID && !sh.rejoining {
			if err := sh.rn.Campaign(); err != nil {
				return fmt.Errorf("durable: shard %d: campaign: %w", i, err)
			}
		}
		s.shards = append(s.shards, sh)
	}
	return nil
}

// startLog opens a new segment whose first record carries every shard's
// HardState, then replays: raft commits and applies the recovered log.
//
// A replicated group applies only what its peers confirm committed, later:
// its entries after the applied index are written again into that first
// record, since the older segments are removed once it is synced.
func (s *Store) startLog() error {
	s.d.rotateNext = true
	s.d.open = &logBatch{}
	for _, sh := range s.shards {
		if sh.soleVoter {
			continue // converge applies its whole log
		}
		last, _ := sh.ms.LastIndex()
		if last <= sh.applied {
			continue
		}
		ents, err := sh.ms.Entries(sh.applied+1, last+1, math.MaxUint64)
		if err != nil {
			return fmt.Errorf("durable: shard %d: unapplied entries: %w", sh.id, err)
		}
		s.d.open.add(len(s.shards), sh, ents)
	}
	if err := s.converge(); err != nil {
		return err
	}
	return nil
}

// reshard replaces the old groups, now applied to their ends, by fresh
// groups over the new slot ranges, under a new log generation. The layout
// names the new generation only once pebble holds all the old groups
// applied (flushed), so a crash in between leaves either the old store or
// the new one.
func (s *Store) reshard(old layout) error {
	s.log.Warn("durable: shard count changed: old groups replayed to their end, re-forming groups over the new slot ranges",
		"old", old.shards, "new", s.opts.Shards)
	if err := s.settle(1000); err != nil {
		return err
	}
	b := s.db.NewBatch()
	defer b.Close()
	_ = b.DeleteRange(shardPrefix(0), shardPrefixEnd(uint32(old.shards)), nil) // the layout group's too
	_ = b.Delete(clusterLayoutKey, nil)                                        // the new groups' layout is bootstrapped afresh
	l := layout{shards: s.opts.Shards, gen: old.gen + 1}
	if err := s.createShardsIn(b, l); err != nil {
		return err
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("durable: re-form shards: %w", err)
	}
	if err := s.db.Flush(); err != nil {
		return fmt.Errorf("durable: re-form shards: %w", err)
	}
	s.gen = l.gen
	s.setLayout(nil)
	s.d.segMax = map[uint32]uint64{}
	if err := s.loadShards(l.shards); err != nil { // lists only the new generation's (empty) log
		return err
	}
	return s.startLog()
}

// converge runs the pipeline until every group this node alone votes in
// has applied its whole log (including the entry of its new term).
func (s *Store) converge() error {
	for range 100000 {
		if err := s.settle(1000); err != nil {
			return fmt.Errorf("durable: replay: %w", err)
		}
		behind := false
		for _, sh := range s.shards {
			last, err := sh.ms.LastIndex()
			if err != nil {
				return fmt.Errorf("durable: shard %d: %w", sh.id, err)
			}
			if sh.soleVoter && (sh.applied < last || sh.rn.BasicStatus().RaftState != raft.StateLeader) {
				behind = true
			}
		}
		if !behind {
			return nil
		}
		s.tick()
	}
	return errors.New("durable: replay did not converge")
}

// removeSegmentsBefore removes every segment below index (all covered by
// the flush that precedes the call).
func (s *Store) removeSegmentsBefore(index uint32) error {
	segs, err := listSegments(s.fs, s.logDir)
	if err != nil {
		return err
	}
	n := 0
	for _, i := range segs {
		if i < index {
			if err := s.fs.Remove(s.fs.PathJoin(s.logDir, segmentName(i))); err != nil {
				return fmt.Errorf("durable: remove replayed raft log segment: %w", err)
			}
			n++
		}
	}
	if n == 0 {
		return nil
	}
	return syncDir(s.fs, s.logDir)
}

// checkVoters refuses a raft group whose members are not Options.Peers
// (--peers, in any order), less at most one voter while it rejoins
// (rejoin.go): the groups are created with Peers as voters, so another
// difference is a misconfigured node.
func (s *Store) checkVoters(cs *pb.ConfState) error {
	voters := slices.Sorted(slices.Values(cs.GetVoters()))
	want := slices.Sorted(slices.Values(s.opts.Peers))
	ok := len(voters) >= len(want)-1
	for _, id := range append(slices.Clone(voters), cs.GetLearners()...) {
		ok = ok && slices.Contains(want, id)
	}
	if !ok {
		return fmt.Errorf("voters %v and learners %v, not this node's peers %v (--peers)", voters, cs.GetLearners(), want)
	}
	return nil
}
