package durable

import (
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// pendingProposal is a proposal stepped into raft, waiting for its entry to
// commit and apply.
type pendingProposal struct {
	shard uint32
	done  func(uint64, error)
}

type ack struct {
	done  func(uint64, error)
	index uint64
	err   error
}

type shardReady struct {
	sh       *shard
	rd       raft.Ready
	truncate *truncatedState // log truncation written in this cycle
}

// driver is the state of the goroutine that owns every RawNode. Only it
// touches these fields and the shards' raft state.
type driver struct {
	pending map[uint64]pendingProposal
	batch   []proposal
	lazy    [][]byte
	readies []shardReady
	acks    []ack
	written [][]byte // keys written by the current apply batch
	ranged  bool     // the current apply batch deleted slot ranges
	byShard [][]*pb.Entry
	ids     [][]proposal
}

// run is the driver goroutine: it blocks only when no shard has work.
func (s *Store) run() {
	defer close(s.donec)
	t := time.NewTicker(s.opts.TickInterval)
	defer t.Stop()
	for {
		if !s.anyReady() {
			select {
			case p := <-s.propc:
				s.d.batch = append(s.d.batch, p)
			case k := <-s.lazyc:
				s.d.lazy = append(s.d.lazy, k)
			case <-t.C:
				s.tick()
			case <-s.stopc:
				s.shutdown()
				return
			}
		} else {
			select {
			case <-s.stopc:
				s.shutdown()
				return
			default:
			}
		}
		s.drain()
		s.proposeBatch()
		if err := s.handleReady(); err != nil {
			s.fail(err)
			return
		}
		// Advance just committed what the fsync made durable (a sole voter
		// commits on its own append). Apply and acknowledge it now, in a
		// cheap unsynced cycle, instead of making those writers wait for
		// the next batch's fsync: that would double every write's latency
		// and halve throughput at a given number of clients.
		if s.anyReady() {
			if err := s.handleReady(); err != nil {
				s.fail(err)
				return
			}
		}
	}
}

func (s *Store) anyReady() bool {
	for _, sh := range s.shards {
		if sh.rn.HasReady() {
			return true
		}
	}
	return false
}

func (s *Store) tick() {
	for _, sh := range s.shards {
		sh.rn.Tick()
	}
}

// drain takes what is queued without blocking: the proposals that arrived
// while the previous cycle was syncing share this cycle's fsync.
func (s *Store) drain() {
	d := &s.d
	for len(d.batch) < s.opts.MaxBatch {
		select {
		case p := <-s.propc:
			d.batch = append(d.batch, p)
			continue
		default:
		}
		break
	}
	for len(d.lazy) < cap(s.lazyc) {
		select {
		case k := <-s.lazyc:
			d.lazy = append(d.lazy, k)
			continue
		default:
		}
		break
	}
}

// proposeBatch steps each shard's share of the batch as one MsgProp.
func (s *Store) proposeBatch() {
	d := &s.d
	if len(d.batch) == 0 {
		return
	}
	if d.byShard == nil {
		d.byShard = make([][]*pb.Entry, len(s.shards))
		d.ids = make([][]proposal, len(s.shards))
	}
	for _, p := range d.batch {
		d.byShard[p.shard] = append(d.byShard[p.shard], &pb.Entry{Data: p.data})
		d.ids[p.shard] = append(d.ids[p.shard], p)
	}
	clear(d.batch)
	d.batch = d.batch[:0]
	for i, ents := range d.byShard {
		if len(ents) == 0 {
			continue
		}
		err := s.shards[i].rn.Step(&pb.Message{Type: pb.MsgProp.Enum(), From: new(s.opts.NodeID), Entries: ents})
		for _, p := range d.ids[i] {
			if err == nil {
				d.pending[p.id] = pendingProposal{shard: p.shard, done: p.done}
				continue
			}
			if errors.Is(err, raft.ErrProposalDropped) {
				err = fmt.Errorf("%w: shard %d: %w", ErrNotLeader, i, err)
			}
			s.stats.failed.Add(1)
			p.done(0, err)
		}
		clear(ents)
		clear(d.ids[i])
		d.byShard[i], d.ids[i] = ents[:0], d.ids[i][:0]
	}
}

// handleReady runs one group-commit cycle over all shards: one pebble
// batch carries every shard's new entries and HardState plus the
// application of their committed entries; it is synced once if any shard
// needs it. Then storage, transport, acks and Advance, in that order.
func (s *Store) handleReady() error {
	d := &s.d
	d.readies = d.readies[:0]
	for _, sh := range s.shards {
		if sh.rn.HasReady() {
			d.readies = append(d.readies, shardReady{sh: sh, rd: sh.rn.Ready()})
		}
	}
	if len(d.readies) == 0 && len(d.lazy) == 0 {
		return nil
	}
	b := s.db.NewBatch()
	defer b.Close()
	d.written = d.written[:0]
	d.ranged = false
	// Expired keys first: an apply below that rewrites one wins.
	s.deleteExpired(b)
	sync := false
	entries := 0
	for i := range d.readies {
		r := &d.readies[i]
		if !raft.IsEmptySnap(r.rd.Snapshot) {
			return fmt.Errorf("durable: shard %d: raft snapshot at %d: snapshots are not supported yet", r.sh.id, r.rd.Snapshot.GetMetadata().GetIndex())
		}
		if err := r.sh.writeEntries(b, r.rd.Entries); err != nil {
			return err
		}
		if r.rd.HardState != nil {
			v, err := proto.Marshal(r.rd.HardState)
			if err != nil {
				return fmt.Errorf("durable: shard %d: encode hard state: %w", r.sh.id, err)
			}
			_ = b.Set(hardStateKey(r.sh.id), v, nil)
		}
		sync = sync || r.rd.MustSync
		entries += len(r.rd.Entries)
	}
	for i := range d.readies {
		if err := s.applyCommitted(b, &d.readies[i]); err != nil {
			return err
		}
	}
	if !b.Empty() {
		opt := pebble.NoSync
		if sync {
			opt = pebble.Sync
		}
		if err := b.Commit(opt); err != nil {
			return fmt.Errorf("durable: write raft log: %w", err)
		}
		s.stats.batches.Add(1)
		if sync {
			s.stats.fsyncs.Add(1)
		}
		s.stats.entries.Add(uint64(entries))
	}
	// Everything in the batch is durable (or, without MustSync, needed no
	// sync): raft storage may now expose it.
	for i := range d.readies {
		r := &d.readies[i]
		sh := r.sh
		if n := len(r.rd.Entries); n > 0 {
			if err := sh.ms.Append(r.rd.Entries); err != nil {
				return fmt.Errorf("durable: shard %d: append to raft storage: %w", sh.id, err)
			}
			sh.lastPersisted = r.rd.Entries[n-1].GetIndex()
		}
		if r.rd.HardState != nil {
			if err := sh.ms.SetHardState(r.rd.HardState); err != nil {
				return fmt.Errorf("durable: shard %d: set hard state: %w", sh.id, err)
			}
		}
		if r.truncate != nil {
			if err := sh.ms.Compact(r.truncate.index); err != nil && !errors.Is(err, raft.ErrCompacted) {
				return fmt.Errorf("durable: shard %d: compact raft storage to %d: %w", sh.id, r.truncate.index, err)
			}
			sh.trunc = *r.truncate
		}
		sh.appliedPub.Store(sh.applied)
		if len(r.rd.Messages) > 0 {
			if s.opts.Transport != nil {
				s.opts.Transport.Send(sh.id, r.rd.Messages)
			} else {
				s.stats.dropped.Add(uint64(len(r.rd.Messages)))
			}
		}
	}
	if s.cache != nil && d.ranged {
		s.cache.publishedAll()
	} else if s.cache != nil && len(d.written) > 0 {
		s.cache.published(d.written)
	}
	clear(d.written)
	for _, a := range d.acks {
		if a.err == nil {
			s.stats.acked.Add(1)
		} else {
			s.stats.failed.Add(1)
		}
		a.done(a.index, a.err)
	}
	clear(d.acks)
	d.acks = d.acks[:0]
	for i := range d.readies {
		r := &d.readies[i]
		if ss := r.rd.SoftState; ss != nil && ss.RaftState != raft.StateLeader {
			s.failPending(r.sh.id, fmt.Errorf("%w: shard %d lost leadership, outcome unknown", ErrNotLeader, r.sh.id))
		}
		r.sh.rn.Advance(r.rd)
	}
	clear(d.readies)
	return nil
}

// writeEntries adds ents to the batch. Entries at or below the last
// persisted index replace the old suffix, as raft requires (a follower's
// log may be overwritten by a new leader).
func (sh *shard) writeEntries(b *pebble.Batch, ents []*pb.Entry) error {
	if len(ents) == 0 {
		return nil
	}
	if first := ents[0].GetIndex(); first <= sh.lastPersisted {
		_ = b.DeleteRange(logKey(sh.id, first), logKey(sh.id, sh.lastPersisted+1), nil)
	}
	for _, e := range ents {
		v, err := encodeEntry(e)
		if err != nil {
			return fmt.Errorf("durable: shard %d: %w", sh.id, err)
		}
		_ = b.Set(logKey(sh.id, e.GetIndex()), v, nil)
	}
	return nil
}

// applyCommitted applies r's committed entries into the batch, records the
// applied state with them and, when the log has grown past LogKeepEntries,
// truncates it up to the applied index in the same batch.
func (s *Store) applyCommitted(b *pebble.Batch, r *shardReady) error {
	sh := r.sh
	d := &s.d
	changed := false
	for _, e := range r.rd.CommittedEntries {
		idx := e.GetIndex()
		if idx <= sh.applied {
			continue
		}
		switch e.GetType() {
		case pb.EntryNormal:
			if len(e.Data) == 0 {
				break // a new leader's empty entry
			}
			id, rec, err := decodeProposal(e.Data)
			if err == nil {
				w := Writer{b: b, keys: &d.written, ranged: &d.ranged}
				err = s.opts.Apply(rec, &w)
			}
			if err != nil {
				// Deterministic: replay rejects the record the same way, so
				// the entry is a no-op everywhere. Reported, never hidden.
				err = fmt.Errorf("durable: apply shard %d entry %d: %w", sh.id, idx, err)
				s.log.Error("durable: committed record not applied", "shard", sh.id, "index", idx, "err", err)
			}
			if p, ok := d.pending[id]; ok {
				delete(d.pending, id)
				d.acks = append(d.acks, ack{done: p.done, index: idx, err: err})
			}
		case pb.EntryConfChange:
			cc := &pb.ConfChange{}
			if err := proto.Unmarshal(e.Data, cc); err != nil {
				return fmt.Errorf("durable: shard %d entry %d: decode conf change: %w", sh.id, idx, err)
			}
			sh.conf = sh.rn.ApplyConfChange(cc)
		case pb.EntryConfChangeV2:
			cc := &pb.ConfChangeV2{}
			if err := proto.Unmarshal(e.Data, cc); err != nil {
				return fmt.Errorf("durable: shard %d entry %d: decode conf change: %w", sh.id, idx, err)
			}
			sh.conf = sh.rn.ApplyConfChange(cc)
		}
		sh.applied = idx
		changed = true
	}
	if !changed {
		return nil
	}
	v, err := appliedState{index: sh.applied, conf: sh.conf}.encode()
	if err != nil {
		return fmt.Errorf("durable: shard %d: encode applied state: %w", sh.id, err)
	}
	_ = b.Set(appliedKey(sh.id), v, nil)
	if sh.applied-sh.trunc.index > s.opts.LogKeepEntries {
		// Term fails for an entry not yet in storage (committed in the same
		// Ready that appends it); truncation then waits a cycle.
		if term, err := sh.ms.Term(sh.applied); err == nil {
			t := truncatedState{index: sh.applied, term: term}
			_ = b.DeleteRange(logKey(sh.id, sh.trunc.index+1), logKey(sh.id, sh.applied+1), nil)
			_ = b.Set(truncatedKey(sh.id), t.encode(), nil)
			r.truncate = &t
		}
	}
	return nil
}

// deleteExpired deletes the queued data keys that are still expired. It
// reads the committed state; only the driver writes data keys, so a key
// cannot change between this read and the batch commit except through this
// same batch, where a later apply overrides the delete.
func (s *Store) deleteExpired(b *pebble.Batch) {
	d := &s.d
	if len(d.lazy) == 0 {
		return
	}
	now := s.opts.Now()
	for _, k := range d.lazy {
		v, closer, err := s.db.Get(k)
		if err != nil {
			continue
		}
		_, exp, derr := decodeValue(v)
		closer.Close()
		if derr == nil && expired(exp, now) {
			_ = b.Delete(k, nil)
		}
	}
	clear(d.lazy)
	d.lazy = d.lazy[:0]
}

func (s *Store) failPending(shard uint32, err error) {
	for id, p := range s.d.pending {
		if p.shard == shard {
			delete(s.d.pending, id)
			s.stats.failed.Add(1)
			p.done(0, err)
		}
	}
}

// shutdown refuses what is still queued, lets what raft already holds
// commit, then fails the rest as of unknown outcome.
func (s *Store) shutdown() {
	for {
		select {
		case p := <-s.propc:
			s.stats.failed.Add(1)
			p.done(0, ErrClosed)
			continue
		default:
		}
		break
	}
	for i := 0; i < 10 && s.anyReady(); i++ {
		if err := s.handleReady(); err != nil {
			s.log.Error("durable: final raft cycle failed", "err", err)
			break
		}
	}
	for sh := range s.shards {
		s.failPending(uint32(sh), ErrClosed)
	}
}

// fail makes a driver error sticky: every pending and later proposal gets
// it, reads keep working, and the driver only answers until Close.
func (s *Store) fail(err error) {
	s.failed.Store(&err)
	s.log.Error("durable: write path stopped", "err", err)
	for sh := range s.shards {
		s.failPending(uint32(sh), err)
	}
	for {
		select {
		case p := <-s.propc:
			s.stats.failed.Add(1)
			p.done(0, err)
		case <-s.lazyc:
		case <-s.stopc:
			for {
				select {
				case p := <-s.propc:
					p.done(0, err)
					continue
				default:
				}
				return
			}
		}
	}
}

// recover brings every shard's applied state up to its log's end before the
// store takes writes, re-forming the groups when the shard count changed.
func (s *Store) recover() error {
	n, ok, err := readLayout(s.db)
	if err != nil {
		return err
	}
	if !ok {
		n = s.opts.Shards
		if err := s.createShards(n); err != nil {
			return err
		}
	}
	if err := s.loadShards(n); err != nil {
		return err
	}
	if err := s.converge(); err != nil {
		return err
	}
	if n == s.opts.Shards {
		return nil
	}
	s.log.Warn("durable: shard count changed: old groups replayed to their end, re-forming groups over the new slot ranges",
		"old", n, "new", s.opts.Shards)
	b := s.db.NewBatch()
	defer b.Close()
	_ = b.DeleteRange(shardPrefix(0), shardPrefixEnd(uint32(n-1)), nil)
	if err := s.createShardsIn(b, s.opts.Shards); err != nil {
		return err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("durable: re-form shards: %w", err)
	}
	s.shards, s.d.byShard, s.d.ids = nil, nil, nil
	if err := s.loadShards(s.opts.Shards); err != nil {
		return err
	}
	return s.converge()
}

func (s *Store) createShards(n int) error {
	b := s.db.NewBatch()
	defer b.Close()
	if err := s.createShardsIn(b, n); err != nil {
		return err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("durable: create shards: %w", err)
	}
	return nil
}

func (s *Store) createShardsIn(b *pebble.Batch, n int) error {
	if err := writeLayout(b, n); err != nil {
		return fmt.Errorf("durable: write layout: %w", err)
	}
	for i := range n {
		if err := initShard(b, uint32(i), s.opts.NodeID); err != nil {
			return fmt.Errorf("durable: %w", err)
		}
	}
	return nil
}

func (s *Store) loadShards(n int) error {
	for i := range n {
		sh, err := loadShard(s.db, uint32(i), &s.opts, s.log)
		if err != nil {
			return err
		}
		sh.firstSlot = uint16(firstSlot(i, n))
		sh.lastSlot = uint16(firstSlot(i+1, n) - 1)
		if sh.soleVoter {
			if err := sh.rn.Campaign(); err != nil {
				return fmt.Errorf("durable: shard %d: campaign: %w", i, err)
			}
		}
		s.shards = append(s.shards, sh)
	}
	return nil
}

// converge runs driver cycles until every group this node alone votes in
// has applied its whole log (including the entry of its new term).
func (s *Store) converge() error {
	for range 100000 {
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
		if !behind && !s.anyReady() {
			return nil
		}
		if !s.anyReady() {
			s.tick()
			continue
		}
		if err := s.handleReady(); err != nil {
			return fmt.Errorf("durable: replay: %w", err)
		}
	}
	return errors.New("durable: replay did not converge")
}
