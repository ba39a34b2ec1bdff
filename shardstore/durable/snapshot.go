package durable

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
)

// A raft snapshot of a shard is its applied data: every pebble key in the
// shard's spans, streamed as records uvarint(len(key)) key
// uvarint(len(value)) value. The sender reads a pebble snapshot taken
// right after an apply batch commits, so the data is exactly the state at
// the shard's applied index, and the MsgSnap's metadata is rewritten to that
// index (raft's own snapshot, MemoryStorage's, may be older: the follower
// then answers with the newer index, which raft accepts). The receiver
// holds the data in memory, at most one snapshot per shard and
// Options.MaxStagedSnapshotBytes in all (snapintake.go), and applies it
// when raft hands the snapshot to the append thread: delete the shard's
// spans, write the records and the applied state, flush pebble.
//
// Memory, not a file: the apply is one pebble batch (the data and the
// applied state must land together, pebble has no WAL), which holds the
// records in memory anyway; a file would only move the copy, and ingesting
// sstables would split the data from its applied state across a crash.

// maxSnapshotBytes bounds one received snapshot.
const maxSnapshotBytes = 1 << 30

// snapshotData is a received snapshot's records, held until the driver
// steps its MsgSnap, then staged until raft's next Ready applies it: n
// bytes of records in chunks, which hold size bytes of memory, reserved in
// snapIntake.
type snapshotData struct {
	index   uint64
	chunks  [][]byte
	n, size int64
}

func (d *snapshotData) reader() io.Reader {
	rs := make([]io.Reader, len(d.chunks))
	for i, c := range d.chunks {
		rs[i] = bytes.NewReader(c)
	}
	return io.MultiReader(rs...)
}

type snapResult struct {
	shard uint32
	to    uint64
	err   error
}

// shardSpans are the pebble key ranges [start, end) that hold sh's data:
// its slots' strings and collection records, and for the shard of slot 0
// the user table (acl.go).
func shardSpans(sh *shard) [][2][]byte {
	if sh.layoutGroup {
		return [][2][]byte{{clusterLayoutKey, append(slices.Clone(clusterLayoutKey), 0)}}
	}
	start, end := slotSpan(sh.firstSlot, sh.lastSlot)
	cstart, cend := collSpan(sh.firstSlot, sh.lastSlot)
	spans := [][2][]byte{{start, end}, {cstart, cend}}
	if sh.firstSlot == 0 {
		spans = append(spans, [2][]byte{usersKey, append(slices.Clone(usersKey), 0)})
	}
	return spans
}

// startSnapshot streams a snapshot of sh at its applied index to m.To. It
// runs on the driver right after commitApply, so pebble holds exactly the
// applied state.
func (s *Store) startSnapshot(sh *shard, m *pb.Message) {
	to := m.GetTo()
	if s.opts.Transport == nil || sh.snapping[to] {
		sh.rn.ReportSnapshot(to, raft.SnapshotFailure)
		return
	}
	if sh.snapping == nil {
		sh.snapping = map[uint64]bool{}
	}
	sh.snapping[to] = true
	m.Snapshot = &pb.Snapshot{Metadata: &pb.SnapshotMetadata{
		Index: new(sh.applied), Term: new(sh.appliedTerm), ConfState: sh.conf,
	}}
	snap := s.db.NewSnapshot()
	spans := shardSpans(sh)
	s.log.Info("durable: sending raft snapshot", "shard", sh.id, "to", to, "index", sh.applied)
	s.snapWG.Add(1)
	go func() {
		defer s.snapWG.Done()
		pr, pw := io.Pipe()
		written := make(chan struct{})
		go func() {
			defer close(written)
			pw.CloseWithError(writeSnapshot(pw, snap, spans))
		}()
		err := s.opts.Transport.SendSnapshot(s.snapCtx, s.wireGroup(sh), m, pr)
		// A receiver may refuse before reading it all: the writer's next
		// write fails, and it must stop reading snap before snap closes.
		pr.CloseWithError(errors.New("snapshot send ended"))
		<-written
		snap.Close()
		select {
		case s.snapDonec <- snapResult{shard: sh.id, to: to, err: err}:
		case <-s.snapCtx.Done():
		}
	}()
}

// snapshotDone tells raft how a snapshot send ended (driver).
func (s *Store) snapshotDone(r snapResult) {
	sh := s.shards[r.shard]
	delete(sh.snapping, r.to)
	if r.err != nil {
		s.log.Warn("durable: raft snapshot not delivered", "shard", r.shard, "to", r.to, "err", r.err)
		sh.rn.ReportSnapshot(r.to, raft.SnapshotFailure)
		return
	}
	s.stats.snapsSent.Add(1)
	sh.rn.ReportSnapshot(r.to, raft.SnapshotFinish)
}

func writeSnapshot(w io.Writer, snap *pebble.Snapshot, spans [][2][]byte) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	var hdr [2 * binary.MaxVarintLen64]byte
	for _, sp := range spans {
		it, err := snap.NewIter(&pebble.IterOptions{LowerBound: sp[0], UpperBound: sp[1]})
		if err != nil {
			return fmt.Errorf("durable: snapshot iterator: %w", err)
		}
		for ok := it.First(); ok; ok = it.Next() {
			v, err := it.ValueAndErr()
			if err != nil {
				it.Close()
				return fmt.Errorf("durable: snapshot read: %w", err)
			}
			n := binary.PutUvarint(hdr[:], uint64(len(it.Key())))
			bw.Write(hdr[:n])
			bw.Write(it.Key())
			n = binary.PutUvarint(hdr[:], uint64(len(v)))
			bw.Write(hdr[:n])
			if _, err := bw.Write(v); err != nil {
				it.Close()
				return err
			}
		}
		if err := it.Close(); err != nil {
			return fmt.Errorf("durable: snapshot iterator: %w", err)
		}
	}
	return bw.Flush()
}

// eachSnapshotRecord calls fn for every record of d, checking that each
// key lies in spans; k and v are valid during the call only.
func eachSnapshotRecord(d *snapshotData, spans [][2][]byte, fn func(k, v []byte) error) error {
	r := bufio.NewReaderSize(d.reader(), 64<<10)
	var k, v []byte
	for off := int64(0); off < d.n; {
		var n int64
		var err error
		if k, n, err = snapField(r, d.n-off, k); err != nil {
			return fmt.Errorf("snapshot record at %d: key: %w", off, err)
		}
		off += n
		if v, n, err = snapField(r, d.n-off, v); err != nil {
			return fmt.Errorf("snapshot record at %d: value: %w", off, err)
		}
		off += n
		in := false
		for _, sp := range spans {
			in = in || (bytes.Compare(k, sp[0]) >= 0 && bytes.Compare(k, sp[1]) < 0)
		}
		if !in {
			return fmt.Errorf("snapshot key %q is outside the shard", k)
		}
		if fn != nil {
			if err := fn(k, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// snapField reads uvarint(len) and the field into buf's memory, at most
// left bytes in all; n is the bytes read.
func snapField(r *bufio.Reader, left int64, buf []byte) (field []byte, n int64, err error) {
	var l uint64
	for shift := uint(0); ; shift += 7 {
		if n >= left || shift > 63 {
			return nil, 0, errors.New("truncated")
		}
		c, err := r.ReadByte()
		if err != nil {
			return nil, 0, fmt.Errorf("truncated: %w", err)
		}
		n++
		l |= uint64(c&0x7f) << shift
		if c < 0x80 {
			break
		}
	}
	if l > uint64(left-n) {
		return nil, 0, errors.New("truncated")
	}
	buf = slices.Grow(buf[:0], int(l))[:l]
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, 0, fmt.Errorf("truncated: %w", err)
	}
	return buf, n + int64(l), nil
}

// ReceiveSnapshot takes a MsgSnap and its data from a peer (the transport's
// snapshot handler): it checks the voters and the records, then hands both
// to the driver. An error (other voters, an older snapshot than the one
// held, the memory cap, malformed data, a full queue) goes back to the
// sender, whose raft retries later.
func (s *Store) ReceiveSnapshot(group uint32, m *pb.Message, data io.Reader) error {
	shard, err := s.groupIndex(group, true)
	if err != nil {
		return err
	}
	if m.GetType() != pb.MsgSnap || m.GetSnapshot().GetMetadata() == nil {
		return fmt.Errorf("durable: group %d: not a snapshot", group)
	}
	md := m.GetSnapshot().GetMetadata()
	if err := s.checkVoters(md.GetConfState()); err != nil {
		return s.refuseSnapshot(shard, m, fmt.Errorf("snapshot at %d refused: %w", md.GetIndex(), err))
	}
	if err := s.snapIn.check(shard, md.GetIndex()); err != nil {
		return s.refuseSnapshot(shard, m, err)
	}
	d, err := s.readSnapshot(data)
	if err != nil {
		return s.refuseSnapshot(shard, m, err)
	}
	d.index = md.GetIndex()
	if err := eachSnapshotRecord(d, shardSpans(s.shards[shard]), nil); err != nil {
		s.snapIn.release(d.size)
		return s.refuseSnapshot(shard, m, err)
	}
	if s.closed.Load() {
		s.snapIn.release(d.size)
		return ErrClosed
	}
	if err := s.snapIn.hold(shard, d); err != nil {
		return s.refuseSnapshot(shard, m, err)
	}
	select {
	case s.recvc <- inbound{shard: shard, m: m}:
		return nil
	default:
		if d := s.snapIn.take(shard, d.index); d != nil {
			s.snapIn.release(d.size)
		}
		return s.refuseSnapshot(shard, m, errors.New("snapshot refused, inbound queue full"))
	}
}

// refuseSnapshot counts and logs a refused snapshot and returns err for
// the sender.
func (s *Store) refuseSnapshot(shard uint32, m *pb.Message, err error) error {
	err = fmt.Errorf("durable: shard %d: %w", shard, err)
	s.stats.snapsRefused.Add(1)
	s.log.Warn("durable: raft snapshot refused", "shard", shard, "from", m.GetFrom(), "index", m.GetSnapshot().GetMetadata().GetIndex(), "err", err)
	return err
}

// snapChunk is the piece a received snapshot is read and held in.
const snapChunk = 1 << 20

// readSnapshot reads a snapshot's records in chunks, reserving each
// chunk's memory before it is read (snapIntake), up to maxSnapshotBytes.
func (s *Store) readSnapshot(data io.Reader) (*snapshotData, error) {
	d := &snapshotData{}
	fail := func(err error) (*snapshotData, error) {
		s.snapIn.release(d.size)
		return nil, err
	}
	size := min(snapChunk, s.snapIn.max)
	for {
		if err := s.snapIn.reserve(size); err != nil {
			return fail(err)
		}
		d.size += size
		c := make([]byte, size)
		n, err := io.ReadFull(data, c)
		if n < len(c) { // the last chunk: keep only what it holds
			c = slices.Clone(c[:n])
			s.snapIn.release(size - int64(n))
			d.size -= size - int64(n)
		}
		if n > 0 {
			d.chunks, d.n = append(d.chunks, c), d.n+int64(n)
		}
		switch {
		case d.n > maxSnapshotBytes:
			return fail(fmt.Errorf("snapshot over %d bytes", maxSnapshotBytes))
		case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
			return d, nil
		case err != nil:
			return fail(fmt.Errorf("read snapshot: %w", err))
		}
	}
}

// takeSnapshot stages the data of a MsgSnap the driver is about to step
// (false: a newer snapshot replaced it, the message is dropped). The
// driver processes the Ready of a stepped MsgSnap before it steps another
// peer message (drain), so what an earlier MsgSnap staged is either
// applied or ignored by raft already.
func (s *Store) takeSnapshot(sh *shard, m *pb.Message) bool {
	index := m.GetSnapshot().GetMetadata().GetIndex()
	d := s.snapIn.take(sh.id, index)
	if d == nil {
		s.log.Debug("durable: raft snapshot superseded before it was stepped", "shard", sh.id, "index", index)
		return false
	}
	s.dropStaged(sh)
	sh.staged = d
	return true
}

// dropStaged frees sh's staged snapshot: raft applied it, or had its Ready
// without it (the snapshot was ignored).
func (s *Store) dropStaged(sh *shard) {
	if sh.staged != nil {
		s.snapIn.release(sh.staged.size)
		sh.staged = nil
	}
}

// applySnapshot makes a snapshot raft accepted durable, as the append
// thread must before its responses go out: the record being synced is
// waited for (its entries precede the snapshot), this shard's entries in
// the open record are dropped (the snapshot supersedes them), the round's
// applies so far are committed (else their older applied index would
// overwrite the snapshot's), and pebble is rewritten over the shard's spans
// and flushed.
func (s *Store) applySnapshot(sh *shard, snap *pb.Snapshot) error {
	md := snap.GetMetadata()
	data := sh.staged
	if data == nil || data.index != md.GetIndex() {
		return fmt.Errorf("durable: shard %d: raft applies snapshot %d, which was not received", sh.id, md.GetIndex())
	}
	defer s.dropStaged(sh)
	if s.d.inflight != nil {
		if err := s.synced(<-s.logw.donec); err != nil {
			return err
		}
	}
	if o := s.d.open; o != nil && o.ents != nil && len(o.ents[sh.id]) > 0 {
		o.entries -= len(o.ents[sh.id])
		o.ents[sh.id] = nil
		o.touched = deleteShard(o.touched, sh.id)
	}
	// Applies of this round stepped before the snapshot (entries it
	// covers) must not land after it: their applied state would go back.
	if ab := s.d.apply; ab != nil {
		s.d.apply = nil
		err := error(nil)
		if !ab.Empty() {
			err = ab.Commit(pebble.NoSync)
		}
		ab.Close()
		if err != nil {
			return fmt.Errorf("durable: shard %d: apply before snapshot: %w", sh.id, err)
		}
	}
	b := s.db.NewBatch()
	defer b.Close()
	spans := shardSpans(sh)
	for _, sp := range spans {
		_ = b.DeleteRange(sp[0], sp[1], nil)
	}
	err := eachSnapshotRecord(data, spans, func(k, v []byte) error { return b.Set(k, v, nil) })
	if err != nil {
		return fmt.Errorf("durable: shard %d: %w", sh.id, err)
	}
	as := appliedState{index: md.GetIndex(), term: md.GetTerm(), conf: md.GetConfState()}
	v, err := as.encode()
	if err != nil {
		return fmt.Errorf("durable: shard %d: encode applied state: %w", sh.id, err)
	}
	_ = b.Set(appliedKey(sh.id), v, nil)
	if sh.rejoining && slices.Contains(as.conf.GetLearners(), s.opts.NodeID) {
		// The snapshot is past the change that made this node a learner.
		sh.rejoining = false
		_ = b.Delete(rejoinKey(sh.id), nil)
	}
	s.applyGen.Add(1) // odd until the read cache forgot the old data
	defer s.applyGen.Add(1)
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("durable: shard %d: apply snapshot: %w", sh.id, err)
	}
	if err := s.db.Flush(); err != nil { // no WAL: the flush makes it durable
		return fmt.Errorf("durable: shard %d: flush snapshot: %w", sh.id, err)
	}
	if err := sh.ms.ApplySnapshot(snap); err != nil && !errors.Is(err, raft.ErrSnapOutOfDate) {
		return fmt.Errorf("durable: shard %d: raft storage: %w", sh.id, err)
	}
	if sh.layoutGroup { // the snapshot carried the layout
		s.d.layoutStaged = nil
		s.cluster.Store(nil)
		if err := s.loadLayout(); err != nil {
			return err
		}
		s.setLayout(s.cluster.Load())
	} else if sh.firstSlot == 0 { // the snapshot carried the user table
		s.users.mu.Lock()
		err := s.loadUsers()
		s.users.changed = s.users.set
		s.users.mu.Unlock()
		if err != nil {
			return err
		}
		s.reportUsers()
	}
	sh.applied, sh.appliedTerm, sh.conf = as.index, as.term, as.conf
	sh.appliedPub.Store(sh.applied)
	if s.cache != nil {
		s.cache.publishedAll()
	}
	s.stats.snapsApplied.Add(1)
	s.log.Info("durable: applied raft snapshot", "shard", sh.id, "index", as.index, "bytes", data.n)
	s.releaseReads(sh)
	return nil
}

func deleteShard(ids []uint32, id uint32) []uint32 {
	out := ids[:0]
	for _, x := range ids {
		if x != id {
			out = append(out, x)
		}
	}
	return out
}
