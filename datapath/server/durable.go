package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dorivo/dorivo/datapath/command"
	"github.com/dorivo/dorivo/datapath/resp"
	"github.com/dorivo/dorivo/datapath/wire"
	"github.com/dorivo/dorivo/shardstore/durable"
	"github.com/dorivo/dorivo/shardstore/keyspace"
	"github.com/dorivo/dorivo/shardstore/slot"
	"github.com/panjf2000/gnet/v2"
)

// Durable writes (Config.Store). The owner loop executes a write on its
// in-memory keyspace as without a store, encodes the write's mutation
// records and proposes them to the store shard of their slots, and holds the
// write's reply until the store's done callback reports the entry committed
// (synced). done runs on the store's driver goroutine: it only decrements
// an atomic count on a pooled held entry and rings the loop's doorbell; the
// loop releases completed entries in proposal order on its next drain and
// delivers each reply where the unheld reply would have gone: the
// connection's reply slot (which keeps request order), this loop's part of a
// split command, the reply ring to the loop that forwarded the request, or
// a datagram. The loop never waits for the disk.

// heldKind says where a held reply goes once its write is durable.
type heldKind uint8

const (
	heldConn     heldKind = iota + 1 // a reply slot of one of this loop's connections
	heldPart                         // this loop's part of a split or broadcast command
	heldPeer                         // the reply to a request forwarded by another loop
	heldDatagram                     // a datagram reply
	heldCtl                          // a participant's answer to a cross-loop transaction's coordinator (barrier)
	heldReplyTx                      // a coordinator's reply to a cross-loop transaction (barrier)
	heldFinish                       // a coordinator's end of a cross-loop transaction (barrier)
)

// held is one write in flight to the store. Entries are pooled per loop, and
// done is bound once, so a proposal allocates no callback.
type held struct {
	l *loop
	// parts counts the proposals not yet done, plus one while the loop is
	// still proposing; 0 means the write is complete.
	parts atomic.Int32
	err   atomic.Pointer[error] // first failure of any part
	done  func(uint64, error)

	kind heldKind
	// released: delivered at once (the store refused it synchronously);
	// the entry only waits to leave the FIFO.
	released bool
	tc       *tconn
	seq      uint64
	peer     int
	m        msg
	buf      []byte
	to       netip.AddrPort
	x        *xtx
	ctl      msgKind
}

// complete is the store's done callback, on the driver goroutine (or on the
// loop for a refusal): record the outcome, wake the loop when the write's
// last part is done.
func (h *held) complete(_ uint64, err error) {
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
// held.parts/err and the resync goroutine's handoffs through RunOnLoop).
type durLoop struct {
	store *durable.Store
	// q is the FIFO of writes in flight, q[i&(len-1)] for head <= i < tail.
	q          []*held
	head, tail uint64
	free       []*held
	// cur is the write the last exec proposed; the code that delivers that
	// exec's reply takes it (takeHeld) and holds the reply instead.
	cur  *held
	recs []shardRec
	// runs are this loop's slots, split by shard: FLUSHALL deletes them.
	runs []slotRun
	// diverged is set when the store failed a write the keyspace already
	// holds: writes are refused until resync has rebuilt the keyspace.
	diverged error
	errBuf   []byte
	// delivering is set while a held entry is delivered: the delivery
	// itself must not be held again.
	delivering bool
	// tx is the cross-loop transaction whose part runs now (runPart): its
	// writes are bound to it, so that a failure reaches its reply.
	tx *xtx
}

// openDurable sets up every loop's durable state and loads the store's data
// into the loops' keyspaces, each key into the keyspace of the loop that
// owns its slot under the current table, whatever table or loop count the
// data was written with. It runs in New, before any loop serves.
func (s *Server) openDurable() error {
	st := s.cfg.Store
	if st == nil {
		return nil
	}
	for _, l := range s.loops {
		l.dur = &durLoop{store: st, q: make([]*held, 64)}
		l.openCold()
	}
	for sl := 0; sl < slot.Count; sl++ {
		l := s.loops[s.cfg.Table.Owner(uint16(sl))]
		sh := st.ShardOf(uint16(sl))
		runs := l.dur.runs
		if n := len(runs); n > 0 && runs[n-1].shard == sh && int(runs[n-1].last) == sl-1 {
			runs[n-1].last = uint16(sl)
		} else {
			l.dur.runs = append(runs, slotRun{shard: sh, first: uint16(sl), last: uint16(sl)})
		}
	}
	for shard := range st.Shards() {
		err := st.Scan(uint32(shard), func(key, value []byte, exp int64) error {
			l := s.loops[s.cfg.Table.Owner(slot.Of(key))]
			l.loadKey(l.ks, key, value, exp)
			return nil
		})
		if err != nil {
			return fmt.Errorf("server: load store shard %d: %w", shard, err)
		}
	}
	for _, l := range s.loops {
		// Loaded entries keep stamp 0: they are durable. Writes from now on
		// are stamped with their place in the FIFO (see propose).
		l.ks.Stamp = 1
		l.stats.keys.Store(uint64(l.ks.Len()))
		if l.cold != nil {
			l.stats.hotBytes.Store(uint64(l.ks.HotBytes()))
			l.stats.coldKeys.Store(uint64(l.ks.ColdLen()))
		}
	}
	return nil
}

// writeRefusal returns why writes are refused right now ("" when they are
// not): the disk is full, or the loop diverged from the store. Checking
// before executing means a write on a full disk is refused without touching
// the keyspace; one atomic load when all is well.
func (l *loop) writeRefusal() string {
	d := l.dur
	if d == nil {
		return ""
	}
	if d.diverged != nil {
		return "ERR write failed: the store failed an earlier write (" + oneLine(d.diverged) +
			"); writes resume once the keyspace is reloaded from disk"
	}
	if err := d.store.DiskError(); err != nil {
		return "ERR write failed, disk full: " + oneLine(err)
	}
	return ""
}

// refuseWrite returns the error reply for a write command that must not run
// now, with ok true; reads (and commands queued inside MULTI) pass.
func (l *loop) refuseWrite(sess *command.Session, args [][]byte) ([]byte, bool) {
	msg := l.writeRefusal()
	if msg == "" {
		return nil, false
	}
	cmd, _ := command.Lookup(args)
	if cmd == nil {
		return nil, false
	}
	if sess.InMulti() {
		if cmd.Name != "exec" {
			return nil, false
		}
		// A transaction cannot be checked for writes from here: abort it
		// as Redis aborts EXEC on a rejected command.
		l.reply, l.muts = command.Exec(sess, l.ks, [][]byte{[]byte("DISCARD")}, l.now, l.reply[:0], l.muts[:0])
		l.reply = resp.AppendError(l.reply[:0], "EXECABORT Transaction discarded because of: "+strings.TrimPrefix(msg, "ERR "))
		return l.reply, true
	}
	if cmd.Flags&command.Write == 0 {
		return nil, false
	}
	l.reply = resp.AppendError(l.reply[:0], msg)
	return l.reply, true
}

// oneLine is err's text fit for a RESP error line.
func oneLine(err error) string {
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(err.Error())
}

// propose encodes muts into one record per store shard and proposes them;
// the reply of the exec that produced them is held (d.cur) until every
// record is committed. A record never spans shards, so each key's records
// stay in one raft log in execution order.
func (l *loop) propose(muts []command.Mutation) {
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
	d.cur = h
	for i := range d.recs {
		d.store.Propose(d.recs[i].shard, d.recs[i].buf, h.done)
	}
	if h.parts.Add(-1) == 0 {
		l.bell.Ring() // refused at once: release on the next drain
	}
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

func (d *durLoop) get(l *loop) *held {
	if n := len(d.free); n > 0 {
		h := d.free[n-1]
		d.free = d.free[:n-1]
		return h
	}
	h := &held{l: l}
	h.done = h.complete
	return h
}

func (d *durLoop) push(h *held) {
	if int(d.tail-d.head) == len(d.q) {
		q := make([]*held, 2*len(d.q))
		for i := d.head; i != d.tail; i++ {
			q[i&uint64(len(q)-1)] = d.q[i&uint64(len(d.q)-1)]
		}
		d.q = q
	}
	d.q[d.tail&uint64(len(d.q)-1)] = h
	d.tail++
}

// takeHeld returns the write the last exec proposed, if its reply is not
// yet claimed, for the caller to hold that reply.
func (l *loop) takeHeld() *held {
	if l.dur == nil || l.dur.cur == nil {
		return nil
	}
	h := l.dur.cur
	l.dur.cur = nil
	return h
}

// holdLocal queues reply b for tc in order, released when its write is
// durable. ok is false when the last exec proposed nothing.
func (l *loop) holdLocal(tc *tconn, b []byte) bool {
	h := l.takeHeld()
	if h == nil {
		return false
	}
	h.kind, h.tc, h.seq = heldConn, tc, tc.tail
	e := tc.push(mergeNone, 0)
	e.buf = append(e.buf[:0], b...)
	l.settled(h)
	return true
}

// holdPart holds this loop's part b of tc's split command seq.
func (l *loop) holdPart(tc *tconn, seq uint64, b []byte) bool {
	h := l.takeHeld()
	if h == nil {
		return false
	}
	h.kind, h.tc, h.seq = heldPart, tc, seq
	h.buf = append(h.buf[:0], b...)
	l.settled(h)
	return true
}

// holdPeer holds reply b to loop j's request r.
func (l *loop) holdPeer(j int, r *msg, b []byte) bool {
	h := l.takeHeld()
	if h == nil {
		return false
	}
	h.kind, h.m, h.peer = heldPeer, *r, j
	h.buf = append(h.buf[:0], b...)
	l.settled(h)
	return true
}

// holdDatagram holds datagram reply b to c's sender (c nil: to).
func (l *loop) holdDatagram(b []byte, c gnet.Conn, to netip.AddrPort) bool {
	h := l.takeHeld()
	if h == nil {
		return false
	}
	if c != nil {
		if ua, ok := c.RemoteAddr().(*net.UDPAddr); ok {
			to = ua.AddrPort()
		}
	}
	h.kind, h.to = heldDatagram, to
	h.buf = append(h.buf[:0], b...)
	l.settled(h)
	return true
}

// settled delivers h's reply at once when its write is already complete
// (refused synchronously by the store), instead of behind the writes in
// flight before it.
func (l *loop) settled(h *held) {
	if h.parts.Load() == 0 {
		h.released = true
		l.deliver(h)
	}
}

// releaseHeld delivers, in proposal order, every held reply whose write is
// complete. It runs on the loop's drain.
func (l *loop) releaseHeld() {
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
		h.released, h.kind = false, 0
		h.err.Store(nil)
		h.tc, h.m, h.x = nil, msg{}, nil
		d.free = append(d.free, h)
	}
}

// deliver sends h's reply, or the store's error in its place.
func (l *loop) deliver(h *held) {
	d := l.dur
	b := h.buf
	var failed error
	if p := h.err.Load(); p != nil {
		failed = *p
		msg := "ERR write failed: " + oneLine(failed)
		if errors.Is(failed, durable.ErrDiskFull) {
			msg = "ERR write failed, disk full: " + oneLine(failed)
		}
		d.errBuf = resp.AppendError(d.errBuf[:0], msg)
		b = d.errBuf
		l.diverge(failed)
	}
	switch h.kind {
	case heldConn:
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
	case heldPart:
		if !h.tc.closed {
			l.part(h.tc, h.seq, l.idx, b)
			l.touch(h.tc)
		}
	case heldPeer:
		l.stageReply(&l.peers[h.peer], &h.m, b)
	case 0:
		if failed != nil && h.x != nil {
			l.failPart(h.x, failed) // before the part's answer, queued behind
		}
	case heldCtl:
		l.replyCtl(h.peer, h.ctl, h.x)
	case heldReplyTx:
		l.replyTx(h.x)
	case heldFinish:
		l.finish(h.x)
	case heldDatagram:
		if failed != nil {
			var rep wire.Reply
			if wire.ParseReply(h.buf, &rep) != nil {
				return
			}
			rep.Status, rep.Body = wire.StatusError, []byte(strings.TrimPrefix(string(b[1:len(b)-2]), "ERR "))
			if len(rep.Body) > wire.MaxReplyBody {
				rep.Body = rep.Body[:wire.MaxReplyBody]
			}
			out, err := wire.AppendReply(l.udpOut[:0], &rep)
			if err != nil {
				return
			}
			l.udpOut, b = out, out
		}
		l.sendTo(b, h.to)
	}
}

// proposeUnheld proposes muts whose reply is not this loop's to hold: a
// cross-loop transaction's part, whose answers wait behind it (holdCtl,
// holdReplyTx).
func (l *loop) proposeUnheld(muts []command.Mutation) {
	l.propose(muts)
	l.dur.cur.x = l.dur.tx
	l.dur.cur = nil
}

// runningTx marks the cross-loop transaction whose part this loop runs
// (nil: none), for proposeUnheld.
func (l *loop) runningTx(x *xtx) {
	if l.dur != nil {
		l.dur.tx = x
	}
}

// barrier queues an entry with no write of its own: it is delivered once
// every write this loop proposed before it is complete, as the FIFO is
// released in order. ok is false when nothing is in flight.
func (l *loop) barrier(k heldKind, j int, x *xtx, ctl msgKind) bool {
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

// holdCtl holds a participant's answer k about transaction x to
// coordinator j (prepared, which may follow a part run at prepare, or
// acked, after a commit) until the writes this loop proposed before it are
// durable. The transaction's reply does not report a store failure of a
// part: the failing loop diverges and reloads (see diverge) and the client
// sees it on its next write.
func (l *loop) holdCtl(j int, k msgKind, x *xtx) bool { return l.barrier(heldCtl, j, x, k) }

// holdReplyTx holds the coordinator's reply to x until the writes of its
// own part are durable (the other parts' answers were held until theirs
// were).
func (l *loop) holdReplyTx(x *xtx) bool { return l.barrier(heldReplyTx, 0, x, 0) }

// holdFinish holds the end of x (which frees it) behind its held reply
// and this loop's writes.
func (l *loop) holdFinish(x *xtx) bool { return l.barrier(heldFinish, 0, x, 0) }

// failPart replaces the replies of this loop's part of x with the store's
// error, before the coordinator reads them: a write of the part (or one
// before it on this loop) failed, so the client must not see success.
func (l *loop) failPart(x *xtx, err error) {
	p := &x.parts[l.idx]
	if len(p.ends) == 0 {
		return
	}
	msg := "ERR write failed: " + oneLine(err)
	p.out = p.out[:0]
	for i := range p.ends {
		p.out = resp.AppendError(p.out, msg)
		p.ends[i] = len(p.out)
	}
}

func (l *loop) touch(tc *tconn) {
	if !tc.touched {
		tc.touched = true
		l.touched = append(l.touched, tc)
	}
}

// diverge is the rule for a write the store failed after the keyspace
// applied it (a refusal racing the disk-full check, an overloaded queue, a
// failed or closing store): the keyspace now holds a write the disk may
// not. The loop refuses writes from then on, keeps serving reads, and a
// goroutine reloads the loop's keyspace from the store once the store
// takes writes again and every write of the loop is settled; writes resume
// with the reloaded keyspace, which is exactly what is on disk.
func (l *loop) diverge(err error) {
	d := l.dur
	if d.diverged != nil {
		return
	}
	d.diverged = err
	l.srv.cfg.Logger.Warn("server: store failed a write; refusing writes until the keyspace is reloaded",
		"loop", l.idx, "err", err)
	go l.resync()
}

// resync reloads a diverged loop's keyspace from the store, off the loop.
func (l *loop) resync() {
	st := l.dur.store
	backoff := 10 * time.Millisecond
	for !l.srv.stopping.Load() {
		time.Sleep(backoff)
		backoff = min(2*backoff, time.Second)
		if st.DiskError() != nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		// 0: writes in flight, 1: settled, 2: no longer diverged (an
		// earlier swap landed after RunOnLoop gave up). Atomic: RunOnLoop
		// may give up before fn runs.
		var state atomic.Int32
		// While diverged the loop proposes nothing new, so once its queue
		// is empty the store holds the loop's final state.
		err := l.srv.RunOnLoop(ctx, l.idx, func() {
			switch {
			case l.dur.diverged == nil:
				state.Store(2)
			case l.dur.head == l.dur.tail:
				state.Store(1)
			}
		})
		cancel()
		if state.Load() == 2 {
			return
		}
		if err != nil || state.Load() != 1 {
			continue
		}
		ks := keyspace.New()
		for shard := range st.Shards() {
			if err = st.Scan(uint32(shard), func(key, value []byte, exp int64) error {
				if l.srv.cfg.Table.Owner(slot.Of(key)) == l.idx {
					l.loadKey(ks, key, value, exp)
				}
				return nil
			}); err != nil {
				break
			}
		}
		if err != nil {
			l.srv.cfg.Logger.Warn("server: reload from store failed, retrying", "loop", l.idx, "err", err)
			continue
		}
		ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
		err = l.srv.RunOnLoop(ctx, l.idx, func() {
			if l.dur.diverged == nil || l.dur.head != l.dur.tail {
				return // cannot happen while diverged; never swap under live writes
			}
			// WATCHes registered in the old keyspace are lost with it.
			ks.Stamp = l.dur.tail + 1
			l.ks = ks
			if l.cold != nil {
				l.cold.gen++
			}
			l.dur.diverged = nil
			l.stats.keys.Store(uint64(ks.Len()))
		})
		cancel()
		if err == nil {
			l.srv.cfg.Logger.Info("server: keyspace reloaded from the store; writes resume", "loop", l.idx)
			return
		}
	}
}

// datagramRefusal is a refusal as a datagram error body.
func datagramRefusal(msg string) []byte {
	b := []byte(strings.TrimPrefix(msg, "ERR "))
	if len(b) > wire.MaxReplyBody {
		b = b[:wire.MaxReplyBody]
	}
	return b
}
