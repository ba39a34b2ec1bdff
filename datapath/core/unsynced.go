package core

import (
	"errors"
	"hash/maphash"
	"io/fs"
	"strings"
	"sync/atomic"

	"github.com/dorivo/dorivo/datapath/command"
	"github.com/dorivo/dorivo/datapath/resp"
	"github.com/dorivo/dorivo/datapath/wire"
	"github.com/dorivo/dorivo/shardstore/durable"
	"github.com/dorivo/dorivo/shardstore/keyspace"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// Durable writes (Config.Store). The owner loop executes a write on its
// in-memory keyspace as without a store, encodes the write's mutation
// records into proposals for the store shards of their slots, and returns
// the write (an *unsynced entry of the loop's FIFO) with the reply: the
// reply waits in the entry until the store's done callback reports every
// record committed (synced). done runs on the store's driver goroutine: it
// only decrements an atomic count and rings the loop's doorbell; the loop
// releases completed entries in proposal order on its next drain and
// delivers each reply where it would have gone at once: the connection's
// reply slot (which keeps request order), this loop's part of a split
// command, the reply ring to the loop that forwarded the request, or a
// datagram. The loop never waits for the disk.
//
// Names: a reply "waits for sync" here; a key "is locked" by a cross-loop
// transaction (locks.go). The two never mean the same thing.

// syncTarget says where a reply waiting for its write goes once the write
// is durable.
type syncTarget uint8

const (
	toConn     syncTarget = iota + 1 // a reply slot of one of this loop's connections
	toPart                           // this loop's part of a split or broadcast command
	toPeer                           // the reply to a request forwarded by another loop
	toDatagram                       // a datagram reply
	toCtl                            // a participant's answer to a cross-loop transaction's coordinator (barrier)
	toReplyTx                        // a coordinator's reply to a cross-loop transaction (barrier)
	toFinish                         // a coordinator's end of a cross-loop transaction (barrier)
)

// unsynced is one write in flight to the store, with the reply waiting for
// it. Entries are pooled per loop, and done is bound once, so a proposal
// allocates no callback.
type unsynced struct {
	l *Loop
	// parts counts the proposals not yet done, plus one while the loop is
	// still proposing; 0 means the write is complete.
	parts atomic.Int32
	err   atomic.Pointer[error] // first failure of any part
	done  func(uint64, error)

	kind syncTarget
	// released: delivered at once (the store refused it synchronously);
	// the entry only waits to leave the FIFO.
	released bool
	// read: the entry holds a read's reply (readEntry), which must not
	// leave after a failed write executed before it; pos is its place in
	// the FIFO.
	read bool
	pos  uint64
	// indep: a read that touched no key with a write in flight; it waits
	// only for its ReadIndex, outside the FIFO (durLoop.reads).
	indep bool
	// hashes are the key hashes this write registered in durLoop.writing.
	hashes []uint64

	tc    *Conn
	seq   uint64
	peer  int
	m     msg
	buf   []byte
	dgRep wire.Reply
	dgRet dgReturn
	x     *xtx
	ctl   msgKind
}

// complete is the store's done callback, on the driver goroutine (or on the
// loop for a refusal): record the outcome, wake the loop when the write's
// last part is done.
func (h *unsynced) complete(_ uint64, err error) {
	if err != nil {
		h.err.CompareAndSwap(nil, &err)
	}
	if h.parts.Add(-1) == 0 {
		h.l.bell.Ring()
	}
}

// shardRec is the record being built for one store shard.
type shardRec struct {
	shard uint32
	buf   []byte
}

// slotRun is a run of consecutive slots owned by one loop and one shard.
type slotRun struct {
	shard       uint32
	first, last uint16
}

// durLoop is a loop's durable-write state, touched only on the loop (except
// unsynced.parts/err).
type durLoop struct {
	store Store
	// q is the FIFO of writes in flight, q[i&(len-1)] for head <= i < tail.
	q          []*unsynced
	head, tail uint64
	free       []*unsynced
	recs       []shardRec
	// runs are this loop's slots, split by shard: FLUSHALL deletes them.
	runs []slotRun
	// diverged is set when the store failed a write the keyspace already
	// holds: writes are refused until resync has rebuilt the keyspace.
	diverged error
	errBuf   []byte
	// delivering is set while an entry is delivered: the delivery itself
	// must not wait again.
	delivering bool
	// reclaim: a Claim arrived while diverged; the next Resync claims again.
	reclaim bool
	// writing maps the hash of every key with a write in flight to that
	// write's FIFO position + 1; flushing is the last FLUSH in flight's.
	// A read of none of them need not wait for the writes (readEntry).
	writing  map[uint64]uint64
	flushing uint64
	seed     maphash.Seed
	// reads are the independent reads waiting for their ReadIndex.
	reads []*unsynced
	// failed holds the hashes of keys whose write failed since the loop
	// diverged: the keyspace has a value the store does not, so reads of
	// them are refused until Resync.
	failed map[uint64]struct{}
	// poisonBelow: the reads at FIFO positions below it executed before a
	// write that failed, and may have seen it: they answer -TRYAGAIN.
	poisonBelow uint64
}

// slotRuns splits this loop's slots by store shard: FLUSHALL deletes them.
func (l *Loop) slotRuns() []slotRun {
	var runs []slotRun
	for sl := 0; sl < slot.Count; sl++ {
		if l.cfg.Table.Owner(uint16(sl)) != l.idx {
			continue
		}
		sh := l.cfg.Store.ShardOf(uint16(sl))
		if n := len(runs); n > 0 && runs[n-1].shard == sh && int(runs[n-1].last) == sl-1 {
			runs[n-1].last = uint16(sl)
		} else {
			runs = append(runs, slotRun{shard: sh, first: uint16(sl), last: uint16(sl)})
		}
	}
	return runs
}

// Loaded ends the load of the store's keys (LoadKey) before serving.
func (l *Loop) Loaded() {
	if l.dur != nil {
		// Loaded entries keep stamp 0: they are durable. Writes from now
		// on are stamped with their place in the FIFO (see propose).
		l.ks.Stamp = 1
	}
	l.publishKeys()
	if l.cold != nil {
		l.stats.hotBytes.Store(uint64(l.ks.HotBytes()))
		l.stats.coldKeys.Store(uint64(l.ks.ColdLen()))
	}
}

// writeRefusal returns why writes are refused right now ("" when they are
// not): the disk is full, or the loop diverged from the store. Checking
// before executing means a write on a full disk is refused without touching
// the keyspace; one atomic load when all is well.
func (l *Loop) writeRefusal() string {
	d := l.dur
	if d == nil {
		return ""
	}
	if msg := l.shedWriteRefusal(); msg != "" {
		return msg // shed.go: the disk breaker is open
	}
	if d.diverged == errClaiming {
		return "TRYAGAIN this node is loading the keys of a shard it now leads; retry"
	}
	if d.diverged != nil {
		return "ERR write failed: the store failed an earlier write (" + clientText(d.diverged) +
			"); writes resume once the keyspace is reloaded from disk"
	}
	if err := d.store.DiskError(); err != nil {
		return "ERR write failed, disk full: " + clientText(err)
	}
	return ""
}

// refuseRead returns the error reply for a read of a key whose write
// failed on this diverged loop, with ok true.
func (l *Loop) refuseRead(keys [][]byte) ([]byte, bool) {
	d := l.dur
	if d == nil || len(d.failed) == 0 {
		return nil, false
	}
	for _, k := range keys {
		if _, bad := d.failed[maphash.Bytes(d.seed, k)]; bad {
			l.reply = resp.AppendError(l.reply[:0], "TRYAGAIN the last write of this key failed; the keyspace is being reloaded from disk, retry")
			return l.reply, true
		}
	}
	return nil, false
}

// refuseWrite returns the error reply for a write command that must not run
// now, with ok true; reads (and commands queued inside MULTI) pass.
func (l *Loop) refuseWrite(sess *command.Session, r command.Req) ([]byte, bool) {
	msg := l.writeRefusal()
	if msg == "" {
		return nil, false
	}
	cmd := r.Cmd
	if cmd == nil {
		return nil, false
	}
	if sess.InMulti() {
		if cmd.Route != command.RouteExec {
			return nil, false
		}
		// A transaction cannot be checked for writes from here: abort it
		// as Redis aborts EXEC on a rejected command.
		l.reply, l.muts = command.ExecReq(sess, l.ks, discardReq, l.now, l.reply[:0], l.muts[:0])
		l.stats.refused.Add(1)
		l.reply = resp.AppendError(l.reply[:0], "EXECABORT Transaction discarded because of: "+strings.TrimPrefix(msg, "ERR "))
		return l.reply, true
	}
	if cmd.Flags&command.Write == 0 && !cmd.ChangesUsers() {
		return nil, false
	}
	l.stats.refused.Add(1)
	l.reply = l.errReply(msg)
	return l.reply, true
}

// clientText is err as a client sees it, fit for a RESP error line: the
// failing system call's own words without the file it failed on (the
// store's errors name its files; those are for the log).
func clientText(err error) string {
	var pe *fs.PathError
	text := err.Error()
	if errors.As(err, &pe) {
		text = pe.Err.Error()
	}
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(text)
}

// propose encodes muts into one record per store shard and proposes them.
// It returns the write, whose reply must wait until every record is
// committed. A record never spans shards, so each key's records stay in
// one raft log in execution order.
func (l *Loop) propose(muts []command.Mutation) *unsynced {
	d := l.dur
	d.recs = d.recs[:0]
	for _, m := range muts {
		switch m.Op {
		case command.OpSet:
			r := d.rec(m.Key)
			r.buf = durable.AppendSet(r.buf, m.Key, m.Val, m.ExpireAt)
		case command.OpDel:
			r := d.rec(m.Key)
			r.buf = durable.AppendDel(r.buf, m.Key)
		case command.OpExpire:
			// The store keeps value and expiry together: write both. The
			// keyspace holds the value this exec left, and the exec's
			// records are applied atomically, so the final state is right.
			r := d.rec(m.Key)
			if v, _, ok := l.ks.Lookup(m.Key, 0); ok {
				r.buf = durable.AppendSet(r.buf, m.Key, v, m.ExpireAt)
			} else {
				r.buf = durable.AppendDel(r.buf, m.Key)
			}
		case command.OpUsers:
			r := d.recOf(d.store.ShardOf(0)) // node state, in shard 0's log
			r.buf = durable.AppendUsers(r.buf, m.Gen, m.Val)
		case command.OpRecords:
			r := d.rec(m.Key)
			sl := slot.Of(m.Key)
			for _, cr := range m.Recs {
				if cr.Range {
					r.buf = durable.AppendCollDelRange(r.buf, sl, cr.Key, cr.Value)
				} else if cr.Delete {
					r.buf = durable.AppendCollDel(r.buf, sl, cr.Key)
				} else {
					r.buf = durable.AppendCollPut(r.buf, sl, cr.Key, cr.Value)
				}
			}
		case command.OpFlush:
			for _, run := range d.runs {
				r := d.recOf(run.shard)
				r.buf = durable.AppendDeleteSlots(r.buf, run.first, run.last)
			}
		}
	}
	h := d.get(l)
	h.parts.Store(int32(len(d.recs)) + 1)
	d.push(h)
	l.ks.Stamp = d.tail + 1
	d.track(h, muts)
	for i := range d.recs {
		d.store.Propose(d.recs[i].shard, d.recs[i].buf, h.done)
	}
	if h.parts.Add(-1) == 0 {
		l.bell.Ring() // refused at once, or no records: release on the next drain
	}
	return h
}

// track registers the keys write h touches as written by it.
func (d *durLoop) track(h *unsynced, muts []command.Mutation) {
	for _, m := range muts {
		if m.Op == command.OpFlush {
			d.flushing = h.pos + 1
			continue
		}
		hs := maphash.Bytes(d.seed, m.Key)
		d.writing[hs] = h.pos + 1
		h.hashes = append(h.hashes, hs)
	}
}

// untrack drops the keys of write h, leaving the FIFO, unless a later
// write holds them.
func (d *durLoop) untrack(h *unsynced) {
	for _, hs := range h.hashes {
		if d.writing[hs] == h.pos+1 {
			delete(d.writing, hs)
		}
	}
	if d.flushing == h.pos+1 {
		d.flushing = 0
	}
	h.hashes = h.hashes[:0]
}

// inFlight reports whether any of keys has a write in flight.
func (d *durLoop) inFlight(keys [][]byte) bool {
	if d.flushing > d.head {
		return true
	}
	if len(d.writing) == 0 {
		return false
	}
	for _, k := range keys {
		if d.writing[maphash.Bytes(d.seed, k)] > d.head {
			return true
		}
	}
	return false
}

func (d *durLoop) rec(key []byte) *shardRec { return d.recOf(d.store.ShardOf(slot.Of(key))) }

// recOf returns the record for shard, reusing the buffers of earlier writes.
func (d *durLoop) recOf(shard uint32) *shardRec {
	for i := range d.recs {
		if d.recs[i].shard == shard {
			return &d.recs[i]
		}
	}
	if len(d.recs) < cap(d.recs) {
		d.recs = d.recs[:len(d.recs)+1]
	} else {
		d.recs = append(d.recs, shardRec{})
	}
	r := &d.recs[len(d.recs)-1]
	r.shard, r.buf = shard, r.buf[:0]
	return r
}

func (d *durLoop) get(l *Loop) *unsynced {
	if n := len(d.free); n > 0 {
		h := d.free[n-1]
		d.free = d.free[:n-1]
		return h
	}
	h := &unsynced{l: l}
	h.done = h.complete
	return h
}

func (d *durLoop) push(h *unsynced) {
	if int(d.tail-d.head) == len(d.q) {
		q := make([]*unsynced, 2*len(d.q))
		for i := d.head; i != d.tail; i++ {
			q[i&uint64(len(q)-1)] = d.q[i&uint64(len(d.q)-1)]
		}
		d.q = q
	}
	d.q[d.tail&uint64(len(d.q)-1)] = h
	h.pos = d.tail
	d.tail++
}

// waitConn queues reply b for tc in order, released when w is durable.
func (l *Loop) waitConn(w *unsynced, tc *Conn, b []byte) {
	w.kind, w.tc, w.seq = toConn, tc, tc.tail
	e := tc.push(mergeNone, 0)
	e.buf = append(e.buf[:0], b...)
	l.settled(w)
}

// waitSlot completes tc's reply slot seq, filled already, once w is
// durable.
func (l *Loop) waitSlot(w *unsynced, tc *Conn, seq uint64) {
	w.kind, w.tc, w.seq = toConn, tc, seq
	l.settled(w)
}

// waitPart keeps this loop's part b of tc's split command seq until w is
// durable.
func (l *Loop) waitPart(w *unsynced, tc *Conn, seq uint64, b []byte) {
	w.kind, w.tc, w.seq = toPart, tc, seq
	w.buf = append(w.buf[:0], b...)
	l.settled(w)
}

// waitPeer keeps reply b to loop j's request r until w is durable.
func (l *Loop) waitPeer(w *unsynced, j int, r *msg, b []byte) {
	w.kind, w.m, w.peer = toPeer, *r, j
	w.buf = append(w.buf[:0], b...)
	l.settled(w)
}

// waitDatagram keeps datagram reply rep, to go back as ret says, until w
// is durable.
func (l *Loop) waitDatagram(w *unsynced, rep *wire.Reply, ret dgReturn) {
	w.kind, w.dgRep, w.dgRet = toDatagram, *rep, ret
	w.buf = append(w.buf[:0], rep.Body...)
	w.dgRep.Body = w.buf
	l.settled(w)
}

// settled delivers h's reply at once when its write is already complete
// (refused synchronously by the store, or no records), instead of behind
// the writes in flight before it; a read's only when nothing is before it.
func (l *Loop) settled(h *unsynced) {
	// A read in the FIFO waits behind everything before it, complete or not.
	if h.parts.Load() == 0 && (!h.read || h.indep || h.pos == l.dur.head) {
		h.released = true
		l.deliver(h)
	}
}

// releaseSynced delivers, in proposal order, every waiting reply whose
// write is complete. It runs on the loop's drain.
func (l *Loop) releaseSynced() {
	d := l.dur
	for d.head != d.tail {
		i := d.head & uint64(len(d.q)-1)
		h := d.q[i]
		if h.parts.Load() != 0 {
			return
		}
		d.q[i] = nil
		d.head++
		if !h.released {
			d.delivering = true
			l.deliver(h)
			d.delivering = false
		}
		d.untrack(h)
		d.recycle(h)
	}
	if len(d.reads) > 0 {
		l.releaseReads()
	}
}

// recycle returns a delivered entry to the free list.
func (d *durLoop) recycle(h *unsynced) {
	h.released, h.kind, h.read, h.indep = false, 0, false, false
	h.err.Store(nil)
	h.tc, h.m, h.x = nil, msg{}, nil
	d.free = append(d.free, h)
}

// deliver sends h's reply, or the store's error in its place.
func (l *Loop) deliver(h *unsynced) {
	d := l.dur
	b := h.buf
	var failed error
	if p := h.err.Load(); p != nil {
		failed = *p
	} else if h.read && !h.indep && h.pos < d.poisonBelow {
		failed = errRaced
		l.stats.readsRaced.Add(1)
	}
	if failed != nil {
		d.errBuf = resp.AppendError(d.errBuf[:0], failureText(failed, h.read))
		b = d.errBuf
		if !h.read {
			d.poisonBelow = d.tail
			if !l.lostLeadership(failed) {
				l.diverge(failed)
				if d.failed == nil {
					d.failed = map[uint64]struct{}{}
				}
				for _, hs := range h.hashes {
					d.failed[hs] = struct{}{}
				}
			}
		}
	}
	switch h.kind {
	case toConn:
		tc := h.tc
		if tc.closed {
			return
		}
		e := tc.slot(h.seq)
		if failed != nil {
			e.buf = append(e.buf[:0], b...)
		}
		e.done = true
		l.touch(tc)
	case toPart:
		if !h.tc.closed {
			l.mergePart(h.tc.slot(h.seq), l.idx, b)
			l.touch(h.tc)
		}
	case toPeer:
		l.stageReply(&l.peers[h.peer], &h.m, b)
	case 0:
		if failed != nil && h.x != nil {
			l.failPart(h.x, failed) // before the part's answer, queued behind
		}
	case toCtl:
		l.replyCtl(h.peer, h.ctl, h.x)
	case toReplyTx:
		l.replyTx(h.x)
	case toFinish:
		l.finish(h.x)
	case toDatagram:
		if failed != nil {
			h.dgRep.Status, h.dgRep.Body = wire.StatusError, errorBody(b)
		}
		l.replyDatagram(&h.dgRep, h.dgRet)
	}
}

// errRaced fails a read that executed after a write that failed.
var errRaced = errors.New(errReadRaced)

// ReadIndexError is the error reply (without its "-") to a read whose
// ReadIndex failed.
func ReadIndexError(err error) string { return failureText(err, true) }

// failureText is the error reply for an entry whose write (or read
// confirmation) failed: -TIMEOUT when the write's fate is unknown,
// -TRYAGAIN when nothing was done and a retry may succeed.
func failureText(err error, read bool) string {
	switch {
	case errors.Is(err, errRaced):
		return errReadRaced
	case read:
		return "TRYAGAIN read not confirmed by a quorum: " + clientText(err)
	case errors.Is(err, durable.ErrUnknownOutcome), errors.Is(err, durable.ErrClosed):
		return "TIMEOUT the write may or may not have been applied: " + clientText(err)
	case errors.Is(err, durable.ErrNotLeader):
		return "TRYAGAIN the write was not applied: " + clientText(err)
	case errors.Is(err, durable.ErrDiskFull):
		return "ERR write failed, disk full: " + clientText(err)
	}
	return "ERR write failed: " + clientText(err)
}

// lostLeadership reports whether err says this node stopped leading the
// write's shard: the loop no longer serves that shard, and reloads it from
// the store if it leads again, so its keyspace need not be reloaded now.
func (l *Loop) lostLeadership(err error) bool {
	return l.rep != nil && (errors.Is(err, durable.ErrNotLeader) || errors.Is(err, durable.ErrUnknownOutcome))
}

// barrier queues an entry with no write of its own: it is delivered once
// every write this loop proposed before it is complete, as the FIFO is
// released in order. ok is false when nothing is in flight.
func (l *Loop) barrier(k syncTarget, j int, x *xtx, ctl msgKind) bool {
	d := l.dur
	if d == nil || d.head == d.tail || d.delivering {
		return false
	}
	h := d.get(l)
	h.kind, h.peer, h.x, h.ctl = k, j, x, ctl
	h.parts.Store(0)
	d.push(h)
	l.ks.Stamp = d.tail + 1
	l.bell.Ring() // the writes before it may all be complete already
	return true
}

// ctlAfterWrites keeps a participant's answer k about transaction x to
// coordinator j (prepared, which may follow a part run at prepare, or
// acked, after a commit) until the writes this loop proposed before it are
// durable. A part's failed write turns its replies into errors (failPart)
// before the answer leaves.
func (l *Loop) ctlAfterWrites(j int, k msgKind, x *xtx) bool { return l.barrier(toCtl, j, x, k) }

// replyTxAfterWrites keeps the coordinator's reply to x until the writes
// of its own part are durable (the other parts' answers waited for
// theirs).
func (l *Loop) replyTxAfterWrites(x *xtx) bool { return l.barrier(toReplyTx, 0, x, 0) }

// finishAfterWrites keeps the end of x (which frees it) behind its reply
// and this loop's writes.
func (l *Loop) finishAfterWrites(x *xtx) bool { return l.barrier(toFinish, 0, x, 0) }

// failPart replaces the replies of this loop's part of x with the store's
// error, before the coordinator reads them: a write of the part (or one
// before it on this loop) failed, so the client must not see success.
func (l *Loop) failPart(x *xtx, err error) {
	p := &x.parts[l.idx]
	if len(p.ends) == 0 {
		return
	}
	msg := "ERR write failed: " + clientText(err)
	p.out = p.out[:0]
	for i := range p.ends {
		p.out = resp.AppendError(p.out, msg)
		p.ends[i] = len(p.out)
	}
}

func (l *Loop) touch(tc *Conn) {
	if !tc.touched {
		tc.touched = true
		l.touched = append(l.touched, tc)
	}
}

// diverge is the rule for a write the store failed after the keyspace
// applied it (a refusal racing the disk-full check, an overloaded queue, a
// failed or closing store): the keyspace now holds a write the disk may
// not. The loop refuses writes from then on, keeps serving reads, and the
// shell reloads the loop's keyspace from the store (Resync) once the store
// takes writes again and every write of the loop is settled; writes resume
// with the reloaded keyspace, which is exactly what is on disk.
func (l *Loop) diverge(err error) {
	d := l.dur
	if d.diverged != nil {
		return
	}
	d.diverged = err
	if err == errClaiming {
		l.cfg.Logger.Info("core: reloading the keyspace for a shard this node now leads", "loop", l.idx)
	} else {
		l.cfg.Logger.Warn("core: store failed a write; refusing writes until the keyspace is reloaded",
			"loop", l.idx, "err", err)
	}
	if l.cfg.Diverged != nil {
		l.cfg.Diverged(err)
	}
}

// ResyncState says where a diverged loop stands, on the loop.
type ResyncState uint8

const (
	ResyncPending ResyncState = iota // writes still in flight
	ResyncReady                      // diverged and settled: the store holds the loop's final state
	ResyncDone                       // not diverged (any more)
)

// Resync reports the loop's divergence state; with ks non-nil and the
// loop ready, it swaps ks in as the loop's keyspace (built from the store
// off the loop) and lets writes resume. WATCHes registered in the old
// keyspace are lost with it. While diverged the loop proposes nothing new,
// so once its queue is empty the store holds its final state.
func (l *Loop) Resync(ks *keyspace.Keyspace) ResyncState {
	d := l.dur
	switch {
	case d == nil || d.diverged == nil:
		return ResyncDone
	case d.head != d.tail:
		return ResyncPending
	case ks == nil:
		return ResyncReady
	}
	ks.Stamp = d.tail + 1
	l.ks = ks
	d.failed = nil
	if l.cold != nil {
		l.cold.gen++
	}
	d.diverged = nil
	l.publishKeys()
	l.bell.Ring() // stalled writers resume on the next drain
	if d.reclaim {
		d.reclaim = false
		l.diverge(errClaiming)
	}
	return ResyncDone
}
