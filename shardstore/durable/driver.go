package durable

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
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
	term  uint64 // the term this node led in when it stepped the proposal (0: one replica)
	done  func(uint64, error)
}

type ack struct {
	done  func(uint64, error)
	index uint64
	err   error
}

// shardMsg is a raft message of one shard's group, to deliver later.
type shardMsg struct {
	sh *shard
	m  *pb.Message
}

// logBatch is one log record in the making: the entries and HardStates of
// every shard appended (MsgStorageAppend) since the last record was handed
// to the syncer, and the responses raft gets once it is synced.
type logBatch struct {
	ents    [][]*pb.Entry   // per shard id
	hs      []*pb.HardState // per shard id: carried by this record
	touched []uint32        // shards with entries, in first-touch order
	resps   []shardMsg      // delivered once synced, in order
	after   []shardMsg      // of later appends that needed no sync
	// sealed is the segment this record's rotation closed: handed to the
	// truncator only once this record, the first of the next segment and
	// carrier of every HardState, is synced.
	sealed  *sealedSegment
	entries int
	seq     uint64
	err     error // set by the syncer
}

func (b *logBatch) add(n int, sh *shard, ents []*pb.Entry) {
	if b.ents == nil {
		b.ents = make([][]*pb.Entry, n)
		b.hs = make([]*pb.HardState, n)
	}
	if len(ents) == 0 {
		return
	}
	cur := b.ents[sh.id]
	if len(cur) == 0 {
		b.touched = append(b.touched, sh.id)
	} else if first := ents[0].GetIndex(); first <= cur[len(cur)-1].GetIndex() {
		// A later append overwrites the suffix (raft's log rule).
		b.entries -= len(cur)
		cur = cur[:max(0, int(first)-int(cur[0].GetIndex()))]
		b.entries += len(cur)
	}
	b.ents[sh.id] = append(cur, ents...)
	b.entries += len(ents)
}

// driver is the state of the goroutine that owns every RawNode. Only it
// touches these fields and the shards' raft state.
type driver struct {
	pending    map[uint64]pendingProposal
	batch      []proposal
	lazy       [][]byte
	acks       []ack
	written    [][]byte // keys written by the current apply batch
	ranged     bool     // the current apply batch deleted slot ranges
	byShard    [][]*pb.Entry
	ids        [][]proposal
	drained    int64 // proposals taken off the queue since the last hand-off
	lastSynced int   // entries in the last synced record

	// The pipeline: open collects appends while inflight is with the
	// syncer; open is handed over as soon as inflight is synced.
	open, inflight *logBatch
	apply          *pebble.Batch // applies of this cycle, not yet committed
	applied        []*shard      // shards the apply batch advanced
	applyResps     []shardMsg
	snaps          []shardMsg // MsgSnaps to stream once the apply batch is committed
	readShards     []*shard   // shards with reads collected this cycle
	ticks          uint64
	layoutStaged   *ClusterLayout // applied into apply, not committed yet

	// The current segment, as the driver lays records out in it.
	seg        segmentHeader
	segUsed    int64
	segSize    int64
	segMax     map[uint32]uint64
	nextSeq    uint64
	nextSegIdx uint32
	rotateNext bool // the next record opens a new segment
}

// run is the driver goroutine: it blocks only when it waits for proposals,
// a tick or the sync in flight.
func (s *Store) run() {
	defer close(s.donec)
	t := time.NewTicker(s.opts.TickInterval)
	defer t.Stop()
	for {
		if !s.busy() {
			select {
			case p := <-s.propc:
				s.d.batch = append(s.d.batch, p)
				s.d.drained++
			case k := <-s.lazyc:
				s.d.lazy = append(s.d.lazy, k)
			case in := <-s.recvc:
				s.stepInbound(in)
			case node := <-s.gonec:
				s.leaderGone(node)
			case r := <-s.readc:
				s.stepRead(r)
			case r := <-s.snapDonec:
				s.snapshotDone(r)
			case b := <-s.logw.donec:
				if err := s.synced(b); err != nil {
					s.fail(err)
					return
				}
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
			case b := <-s.logw.donec:
				if err := s.synced(b); err != nil {
					s.fail(err)
					return
				}
			case <-t.C:
				// A busy driver still ticks: heartbeats and election
				// timeouts must not wait for an idle moment.
				s.tick()
			default:
			}
		}
		if err := s.cycle(); err != nil {
			s.fail(err)
			return
		}
	}
}

// busy reports whether the driver has work without waiting: a Ready, or a
// batch to hand to an idle syncer.
func (s *Store) busy() bool {
	return (s.d.open != nil && s.d.inflight == nil) || s.anyReady() || len(s.d.readShards) > 0
}

// cycle steps the queued proposals, handles every Ready (applies and
// acknowledges what the last sync committed) and hands the open batch to
// the syncer if it is idle. An open batch already a quarter the size of the
// last synced one goes to the syncer first, so its fsync overlaps the
// applies; a smaller one waits for them, so the writers they acknowledge
// can join it instead of waiting for one more fsync (closed-loop clients).
func (s *Store) cycle() error {
	if o := s.d.open; o != nil && o.entries > 0 && 4*o.entries >= s.d.lastSynced {
		if err := s.submit(); err != nil {
			return err
		}
	}
	if err := s.processReady(); err != nil {
		return err
	}
	s.drain()
	s.proposeBatch()
	s.startReads()
	if err := s.processReady(); err != nil {
		return err
	}
	err := s.submit()
	if s.opts.Transport != nil {
		s.opts.Transport.Flush()
	}
	return err
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
	s.d.ticks++
	for _, sh := range s.shards {
		if sh.rejoining {
			s.askRejoin(sh) // and no tick: a rejoining group never campaigns
		} else {
			sh.rn.Tick()
		}
		if !sh.soleVoter {
			s.expireReads(sh)
			s.settleOrphans(sh)
			if sh.goneCampaigns > 0 {
				s.campaignGone(sh) // leadergone.go
			}
		}
		s.publishStatus(sh)
	}
	s.bootstrapLayout()
	switch {
	case s.draining.Load():
		s.drainLeadership() // drain.go: at once, not at the next rebalance
	case s.d.ticks%rebalanceTicks == 0:
		s.rebalance()
	}
}

// drain takes what is queued without blocking: the proposals that arrived
// while the previous record was syncing share the next fsync.
func (s *Store) drain() {
	d := &s.d
	for len(d.batch) < s.opts.MaxBatch {
		select {
		case p := <-s.propc:
			d.batch = append(d.batch, p)
			d.drained++
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
	for range cap(s.gonec) {
		select {
		case node := <-s.gonec:
			s.leaderGone(node)
			continue
		default:
		}
		break
	}
	for range inboundQueue {
		select {
		case in := <-s.recvc:
			s.stepInbound(in)
			if in.m.GetType() != pb.MsgSnap {
				continue
			}
			// A MsgSnap's Ready comes first: it stages one snapshot
			// per shard (snapshot.go takeSnapshot).
		case r := <-s.readc:
			s.stepRead(r)
			continue
		case r := <-s.snapDonec:
			s.snapshotDone(r)
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
				d.pending[p.id] = pendingProposal{shard: p.shard, term: s.shards[i].leaderTerm, done: p.done}
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

// processReady takes every shard's Ready (raft's AsyncStorageWrites
// protocol): appends go to the open log batch, applies into one pebble
// batch committed at the end of the round, other messages to peers.
func (s *Store) processReady() error {
	d := &s.d
	for round := 0; round < 64 && (s.anyReady() || len(d.lazy) > 0); round++ {
		s.deleteExpired()
		for _, sh := range s.shards {
			if !sh.rn.HasReady() {
				continue
			}
			rd := sh.rn.Ready()
			if ss := rd.SoftState; ss != nil {
				s.noteSoftState(sh, ss)
			} else if hs := rd.HardState; hs != nil && sh.leaderTerm != 0 && hs.GetTerm() != sh.leaderTerm &&
				sh.rn.BasicStatus().RaftState == raft.StateLeader {
				// Lost and won again between two Readys: raft shows no
				// SoftState change, but the term moved.
				s.noteSoftState(sh, &raft.SoftState{Lead: s.opts.NodeID, RaftState: raft.StateLeader})
			}
			var peers []*pb.Message
			for _, m := range rd.Messages {
				var err error
				switch {
				case m.GetTo() == raft.LocalAppendThread:
					err = s.appendMsg(sh, m)
				case m.GetTo() == raft.LocalApplyThread:
					err = s.applyMsg(sh, m)
				case m.GetType() == pb.MsgSnap:
					d.snaps = append(d.snaps, shardMsg{sh, m})
				default:
					peers = append(peers, m)
				}
				if err != nil {
					return err
				}
			}
			s.dropStaged(sh) // applied, or ignored by raft
			s.send(sh, peers)
			if len(rd.ReadStates) > 0 {
				s.readStates(sh, rd.ReadStates)
			}
		}
		if err := s.commitApply(); err != nil {
			return err
		}
		for _, sm := range d.snaps {
			s.startSnapshot(sm.sh, sm.m)
		}
		clear(d.snaps)
		d.snaps = d.snaps[:0]
	}
	return nil
}

// appendMsg queues a MsgStorageAppend. Entries and term or vote changes
// must be synced before its responses are delivered; a commit-index-only
// change need not be (raft's MustSync), so it rides on the next record and
// its responses only wait for the records before it.
func (s *Store) appendMsg(sh *shard, m *pb.Message) error {
	d := &s.d
	if m.Snapshot != nil && !raft.IsEmptySnap(m.Snapshot) {
		if err := s.applySnapshot(sh, m.Snapshot); err != nil {
			return err
		}
	}
	needSync := len(m.Entries) > 0
	if m.Term != nil { // a HardState update
		hs := &pb.HardState{Term: new(m.GetTerm()), Vote: new(m.GetVote()), Commit: new(m.GetCommit())}
		needSync = needSync || hs.GetTerm() != sh.hs.GetTerm() || hs.GetVote() != sh.hs.GetVote()
		sh.hs, sh.hsDirty = hs, true
	}
	if needSync {
		if d.open == nil {
			d.open = &logBatch{}
		}
		d.open.add(len(s.shards), sh, m.Entries)
	}
	for _, r := range m.Responses {
		switch {
		case d.open != nil:
			d.open.resps = append(d.open.resps, shardMsg{sh, r})
		case d.inflight != nil:
			d.inflight.after = append(d.inflight.after, shardMsg{sh, r})
		default:
			s.deliver(sh, r)
		}
	}
	return nil
}

// deliver steps a response into its group, or sends it to a peer.
func (s *Store) deliver(sh *shard, m *pb.Message) {
	if m.GetTo() == s.opts.NodeID {
		if err := sh.rn.Step(m); err != nil {
			s.log.Error("durable: raft rejected a local response", "shard", sh.id, "type", m.GetType().String(), "err", err)
		}
		return
	}
	s.send(sh, []*pb.Message{m})
}

func (s *Store) send(sh *shard, msgs []*pb.Message) {
	if len(msgs) == 0 {
		return
	}
	if s.opts.Transport != nil {
		s.opts.Transport.Send(s.wireGroup(sh), msgs)
	} else {
		s.stats.dropped.Add(uint64(len(msgs)))
	}
}

// submit hands the open batch to the syncer when it is idle, framing it as
// the next record; a record that does not fit opens the next segment and
// then carries every shard's HardState.
func (s *Store) submit() error {
	d := &s.d
	if d.inflight != nil {
		return nil
	}
	s.waiting.Add(-d.drained) // all taken proposals are in open or answered
	d.drained = 0
	b := d.open
	if b == nil {
		return nil
	}
	d.open = nil
	payload := s.encodeBatch(b, d.rotateNext)
	size := recordSize(len(payload))
	var req logRequest
	if d.rotateNext || d.segUsed+size > d.segSize {
		if !d.rotateNext {
			payload = s.encodeBatch(b, true)
			size = recordSize(len(payload))
		}
		b.sealed = s.sealSegment()
		d.seg = segmentHeader{gen: s.gen, salt: rand.Uint64(), index: d.nextSegIdx}
		d.nextSegIdx++
		d.segSize = max(s.opts.SegmentBytes, segHeaderSize+size)
		d.segUsed = segHeaderSize
		d.rotateNext = false
		req.rotate = &d.seg
	}
	b.seq = d.nextSeq
	d.nextSeq++
	req.b = b
	req.rec = appendRecord(make([]byte, 0, size), d.seg.salt, b.seq, payload)
	d.segUsed += size
	for _, id := range b.touched {
		ents := b.ents[id]
		d.segMax[id] = max(d.segMax[id], ents[len(ents)-1].GetIndex())
	}
	d.inflight = b
	s.logw.reqc <- req // never blocks: the syncer is idle
	return nil
}

// encodeBatch encodes b's shard blocks; all adds every shard's HardState
// (the first record of a segment carries them all, so truncating older
// segments never loses one).
func (s *Store) encodeBatch(b *logBatch, all bool) []byte {
	if b.ents == nil {
		b.ents = make([][]*pb.Entry, len(s.shards))
		b.hs = make([]*pb.HardState, len(s.shards))
	}
	var p []byte
	for _, sh := range s.shards {
		var hs *pb.HardState
		if all || sh.hsDirty {
			hs = sh.hs
		}
		ents := b.ents[sh.id]
		if hs == nil && len(ents) == 0 {
			continue
		}
		b.hs[sh.id] = hs
		p = appendBlock(p, sh.id, hs, ents)
	}
	for _, sh := range s.shards {
		if b.hs[sh.id] != nil {
			sh.hsDirty = false
		}
	}
	return p
}

// sealSegment closes the current segment: it returns what the truncator
// needs to know of it (nil before the first segment).
func (s *Store) sealSegment() *sealedSegment {
	d := &s.d
	var seg *sealedSegment
	if d.segSize != 0 {
		seg = &sealedSegment{index: d.seg.index, max: d.segMax}
	}
	d.segMax = map[uint32]uint64{}
	return seg
}

// synced takes a record back from the syncer: its entries are durable, so
// raft storage may expose them and raft may hear so.
func (s *Store) synced(b *logBatch) error {
	d := &s.d
	d.inflight = nil
	if b.err != nil {
		return b.err
	}
	for _, id := range b.touched {
		sh := s.shards[id]
		if err := sh.ms.Append(b.ents[id]); err != nil {
			return fmt.Errorf("durable: shard %d: append to raft storage: %w", id, err)
		}
	}
	for id, hs := range b.hs {
		if hs != nil {
			if err := s.shards[id].ms.SetHardState(hs); err != nil {
				return fmt.Errorf("durable: shard %d: set hard state: %w", id, err)
			}
		}
	}
	if b.sealed != nil {
		s.trunc.seal(*b.sealed)
	}
	d.lastSynced = b.entries
	s.stats.batches.Add(1)
	s.stats.fsyncs.Add(1)
	s.stats.entries.Add(uint64(b.entries))
	for _, r := range b.resps {
		s.deliver(r.sh, r.m)
	}
	for _, r := range b.after {
		s.deliver(r.sh, r.m)
	}
	return nil
}

// applyMsg applies a MsgStorageApply's committed entries into this round's
// pebble batch; its responses are delivered once the batch is committed.
func (s *Store) applyMsg(sh *shard, m *pb.Message) error {
	d := &s.d
	if d.apply == nil {
		d.apply = s.db.NewBatch()
	}
	b := d.apply
	changed := false
	for _, e := range m.Entries {
		idx := e.GetIndex()
		if idx <= sh.applied {
			continue
		}
		if err := s.applyEntry(b, sh, e); err != nil {
			return err
		}
		sh.applied, sh.appliedTerm = idx, e.GetTerm()
		changed = true
	}
	for _, r := range m.Responses {
		d.applyResps = append(d.applyResps, shardMsg{sh, r})
	}
	if !changed {
		return nil
	}
	v, err := appliedState{index: sh.applied, term: sh.appliedTerm, conf: sh.conf}.encode()
	if err != nil {
		return fmt.Errorf("durable: shard %d: encode applied state: %w", sh.id, err)
	}
	_ = b.Set(appliedKey(sh.id), v, nil)
	d.applied = append(d.applied, sh)
	return nil
}

func (s *Store) applyEntry(b *pebble.Batch, sh *shard, e *pb.Entry) error {
	d := &s.d
	idx := e.GetIndex()
	switch e.GetType() {
	case pb.EntryNormal:
		if len(e.Data) == 0 {
			return nil // a new leader's empty entry
		}
		id, rec, err := decodeProposal(e.Data)
		switch {
		case err != nil:
		case sh.layoutGroup:
			err = s.applyLayout(b, rec)
		default:
			w := Writer{b: b, users: &s.users, keys: &d.written, ranged: &d.ranged}
			err = s.opts.Apply(rec, &w)
		}
		if errors.Is(err, ErrLayoutVersion) {
			s.log.Info("durable: layout record applied nothing", "index", idx, "err", err)
		} else if err != nil {
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
		s.appliedConfChange(b, sh, cc)
	}
	return nil
}

// commitApply commits the round's apply batch to pebble (memtable only:
// pebble runs without its WAL, the raft log is the durable copy), then
// publishes, acknowledges and tells raft.
func (s *Store) commitApply() error {
	d := &s.d
	if d.apply == nil && len(d.written) == 0 && !d.ranged {
		return s.commitApplyRest()
	}
	s.applyGen.Add(1) // odd: readers of several keys retry (ReadConsistent)
	if b := d.apply; b != nil {
		d.apply = nil
		err := error(nil)
		if !b.Empty() {
			err = b.Commit(pebble.NoSync)
		}
		b.Close()
		if err != nil {
			return fmt.Errorf("durable: apply to pebble: %w", err)
		}
	}
	// The read cache forgets the written keys before the reads this apply
	// releases run: a confirmed read never gets a value cached before it.
	if s.cache != nil && d.ranged {
		s.cache.publishedAll()
	} else if s.cache != nil && len(d.written) > 0 {
		s.cache.published(d.written)
	}
	clear(d.written)
	d.written, d.ranged = d.written[:0], false
	s.applyGen.Add(1)
	return s.commitApplyRest()
}

// commitApplyRest publishes what commitApply made visible, acknowledges
// and tells raft.
func (s *Store) commitApplyRest() error {
	d := &s.d
	s.reportUsers() // before the reads this apply releases: they see the table
	s.publishLayout()
	for _, sh := range d.applied {
		sh.appliedPub.Store(sh.applied)
		s.releaseReads(sh)
		if first, _ := sh.ms.FirstIndex(); sh.applied >= first+s.opts.LogKeepEntries {
			// Keep raft's in-memory log bounded; the durable log is
			// truncated separately, after pebble flushed (logtrunc.go).
			// A follower that needs compacted entries gets a snapshot of
			// the applied state (snapshot.go).
			if _, err := sh.ms.CreateSnapshot(sh.applied, sh.conf, nil); err != nil && !errors.Is(err, raft.ErrSnapOutOfDate) {
				return fmt.Errorf("durable: shard %d: raft snapshot at %d: %w", sh.id, sh.applied, err)
			}
			if err := sh.ms.Compact(sh.applied); err != nil && !errors.Is(err, raft.ErrCompacted) {
				return fmt.Errorf("durable: shard %d: compact raft storage to %d: %w", sh.id, sh.applied, err)
			}
		}
	}
	clear(d.applied)
	d.applied = d.applied[:0]
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
	for _, r := range d.applyResps {
		s.deliver(r.sh, r.m)
	}
	clear(d.applyResps)
	d.applyResps = d.applyResps[:0]
	for _, sh := range s.shards {
		s.settleOrphans(sh)
	}
	return nil
}

// deleteExpired deletes the queued data keys that are still expired, in
// the round's apply batch. It reads the committed state; only the driver
// writes data keys, so a key cannot change between this read and the batch
// commit except through this same batch, where a later apply overrides the
// delete. The deletion is not logged: lost in a crash, the key is found
// expired again.
func (s *Store) deleteExpired() {
	d := &s.d
	if len(d.lazy) == 0 {
		return
	}
	if d.apply == nil {
		d.apply = s.db.NewBatch()
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
			_ = d.apply.Delete(k, nil)
		}
	}
	clear(d.lazy)
	d.lazy = d.lazy[:0]
}

func (s *Store) failPending(shard uint32, err error) { s.failPendingUpTo(shard, math.MaxUint64, err) }

// failPendingUpTo fails shard's pending proposals stepped in terms up to
// term (a later term's are still this leader's own).
func (s *Store) failPendingUpTo(shard uint32, term uint64, err error) {
	for id, p := range s.d.pending {
		if p.shard == shard && p.term <= term {
			delete(s.d.pending, id)
			s.stats.failed.Add(1)
			p.done(0, err)
		}
	}
}

// settle runs the pipeline until nothing is in flight, open or ready (at
// most limit steps), waiting for the syncer as needed.
func (s *Store) settle(limit int) error {
	for range limit {
		if s.d.inflight != nil {
			if err := s.synced(<-s.logw.donec); err != nil {
				return err
			}
		}
		if err := s.cycle(); err != nil {
			return err
		}
		if s.d.inflight == nil && s.d.open == nil && !s.anyReady() {
			return nil
		}
	}
	return errors.New("durable: the write pipeline did not settle")
}

// shutdown refuses what is still queued, lets what raft already holds
// reach the log and apply, then fails the rest as of unknown outcome.
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
	if err := s.settle(100); err != nil {
		s.log.Error("durable: final raft cycle failed", "err", err)
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
	pendingErr := err
	if len(s.opts.Peers) > 1 {
		// Followers may have the entries already and commit them without us.
		pendingErr = fmt.Errorf("%w: %w", ErrUnknownOutcome, err)
	}
	for sh := range s.shards {
		s.failPending(uint32(sh), pendingErr)
	}
	for {
		select {
		case p := <-s.propc:
			s.stats.failed.Add(1)
			p.done(0, err)
		case <-s.lazyc:
		case <-s.logw.donec:
			s.d.inflight = nil
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
