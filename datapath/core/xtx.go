package core

import (
	"slices"

	"github.com/dorivo/dorivo/datapath/command"
	"github.com/dorivo/dorivo/datapath/resp"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// Cross-loop transactions: ordered two-phase locking with the connection's
// loop as coordinator.
//
// Prepare. The coordinator visits the involved loops one at a time in
// ascending loop index. Each places locks on the transaction's keys it owns
// (and on the keys the connection WATCHes there), all of them or none: when
// one is locked by another transaction the prepare waits, in the loop's FIFO
// wait list, until it is released. Having all its locks on one loop before
// asking the next, in one global order, a transaction waits only for
// transactions that are further along the same order, so waiting never
// forms a cycle (no deadlock). With the locks in place the participant
// checks the connection's watches on that loop (and for MSETNX whether a
// key exists) and answers.
//
// Eager. When nothing can abort the transaction (no watches, not MSETNX),
// each loop runs its part right after placing its locks, and the reply
// leaves when the last loop ran; commit then only releases (see runPart).
//
// Commit. Once every loop is prepared the coordinator sends commit (or, if
// a watch was dirty or an MSETNX key exists, abort) to all of them at once:
// each runs its part of the commands in command order under the locks,
// writes the replies into its part of the transaction, releases the locks,
// unregisters the connection's watches there, and acknowledges. Keys on
// different loops are disjoint, so running the parts per loop gives the
// same replies and the same state as running the commands in order. The
// coordinator then merges the replies into one reply in command order.
//
// Messages travel on a second ring pair per loop pair (ctl), never behind
// ordinary requests: a request ring may stop at a request waiting on a
// lock, and the commit that releases it must still get through. A loop
// coordinates at most ctl-ring-capacity transactions at once (admission);
// each has at most one message in flight per peer, so ctl sends and replies
// always find room. The coordinator always finishes what it started: a
// client closing mid-transaction only loses the reply.
//
// The messages carry a pointer to the transaction. The coordinator writes
// it before the first prepare and reads a part only after its owner
// answered; each participant touches only its own part.

// txKind says how a transaction's replies become the client's reply.
type txKind uint8

const (
	txExec   txKind = iota // EXEC: an array of every command's reply
	txCmd                  // one multi-key command: its merged reply
	txMsetnx               // MSETNX: :1 when every part committed, else :0
)

// cmdPlan says where one command of a transaction runs.
type cmdPlan struct {
	owner int       // -1: no keys (runs on the coordinator), -2: split, else the owner
	merge mergeKind // split: how the parts' replies merge
	loops []uint8   // split: the loops with a part, ascending
	order []uint8   // mergeMget: the owner of each key, in key order
	err   string    // reply this error instead (ACL changed, CROSSSLOT)
}

// xpart is one loop's part of a transaction; only that loop touches it
// between the coordinator's message and the loop's answer.
type xpart struct {
	used   bool
	keys   [][]byte      // locked keys (aliasing the commands)
	cmds   []command.Req // commands to run, in command order
	spans  []span        // split sub-commands, built in argBuf then resolved into cmds
	argBuf [][]byte
	rw     *rwatch // the connection's watches on this loop, or nil
	// Set by the participant.
	locked bool
	ran    bool // commands run at prepare (eager), commit only releases
	ended  bool // committed or dropped (the last loop does it at prepare)
	ok     bool // watches clean
	exists bool // MSETNX: a key exists
	wkeys  int  // how many watched keys were locked with keys
	out    []byte
	ends   []int // end of each command's reply in out
	cur    int   // coordinator: next reply to merge
}

type span struct{ i, lo, hi int } // cmds[i] = argBuf[lo:hi]

// xtx is one cross-loop transaction or multi-key command.
type xtx struct {
	coord int
	kind  txKind
	tc    *Conn
	seq   uint64
	cmds  []command.Req
	plan  []cmdPlan
	parts []xpart
	order []int // involved loops, ascending
	next  int   // prepare progress, index into order
	abort bool
	// resp3: the connection speaks RESP3; its parts reply in it. user is
	// its user, whose key patterns the parts' commands apply (KEYS,
	// FLUSHALL, DBSIZE of a confined user).
	resp3 bool
	user  string
	// eager: nothing can abort x once started (no watches, not MSETNX), so
	// each loop runs its part as soon as its locks are in place, and the
	// client's reply leaves when the last loop ran; commit only releases.
	eager   bool
	replied bool
	acks    int // commit/abort acknowledgements outstanding
	// keylessW is the last write of the commands the coordinator ran
	// itself while building the reply (keyless: FLUSHALL).
	keylessW *unsynced
	// own holds a copy of a top-level command's arguments (the request
	// bytes live in gnet's buffer only during the read).
	own  []byte
	argv [][]byte
}

// newTx takes a transaction from the loop's pool.
func (l *Loop) newTx(tc *Conn, k txKind) *xtx {
	var x *xtx
	if n := len(l.xfree); n > 0 {
		x = l.xfree[n-1]
		l.xfree = l.xfree[:n-1]
	} else {
		x = &xtx{parts: make([]xpart, len(l.peers))}
	}
	x.coord, x.kind, x.tc = l.idx, k, tc
	x.resp3, x.user = tc.sess.RESP3(), tc.sess.User()
	x.cmds, x.plan, x.order = x.cmds[:0], x.plan[:0], x.order[:0]
	x.next, x.abort, x.acks, x.eager, x.replied = 0, false, 0, false, false
	for i := range x.parts {
		p := &x.parts[i]
		p.used, p.keys, p.cmds, p.spans, p.argBuf = false, p.keys[:0], p.cmds[:0], p.spans[:0], p.argBuf[:0]
		p.rw, p.locked, p.ran, p.ended, p.ok, p.exists, p.wkeys = nil, false, false, false, false, false, 0
		p.out, p.ends, p.cur = p.out[:0], p.ends[:0], 0
	}
	return x
}

// pooledArgs bounds the key and argument slices a pooled transaction keeps
// (entries each): one DEL of a million keys must not pin its buffers.
const pooledArgs = 1 << 16

func (l *Loop) freeTx(x *xtx) {
	x.tc = nil
	clear(x.cmds)
	for i := range x.parts {
		p := &x.parts[i]
		clear(p.keys)
		clear(p.cmds)
		clear(p.argBuf)
		if cap(p.keys) > pooledArgs || cap(p.argBuf) > pooledArgs {
			p.keys, p.argBuf = nil, nil
		}
		p.rw = nil
	}
	l.xfree = append(l.xfree, x)
}

// ownArgs copies args into x (they alias the connection's input buffer).
func (x *xtx) ownArgs(args [][]byte) [][]byte {
	n := 0
	for _, a := range args {
		n += len(a)
	}
	if cap(x.own) < n {
		x.own = make([]byte, 0, n)
	}
	buf := x.own[:0]
	x.argv = x.argv[:0]
	for _, a := range args {
		buf = append(buf, a...)
		x.argv = append(x.argv, buf[len(buf)-len(a):len(buf):len(buf)])
	}
	x.own = buf
	return x.argv
}

// planCmd adds command args (index i of x.cmds) to the parts that run it.
func (l *Loop) planCmd(x *xtx, r command.Req, errMsg string) {
	i := len(x.plan)
	if i < cap(x.plan) {
		x.plan = x.plan[:i+1] // keep the pooled entry's slices
	} else {
		x.plan = append(x.plan, cmdPlan{})
	}
	pl := &x.plan[i]
	pl.owner, pl.err, pl.loops, pl.order = -1, errMsg, pl.loops[:0], pl.order[:0]
	if errMsg != "" {
		return
	}
	if r.Cmd != nil && r.Cmd.Route == command.RouteBroadcast {
		l.planBroadcast(x, pl, r)
		return
	}
	o := l.ownerOf(r) // fills l.keys
	switch {
	case o == -1:
		return
	case o >= 0:
		pl.owner = o
		p := &x.parts[o]
		p.used = true
		p.keys = append(p.keys, l.keys...)
		p.cmds = append(p.cmds, r)
		return
	}
	cmd, args := r.Cmd, r.Args
	step := cmd.Step
	if step == 2 && len(args)%2 == 0 {
		return // the command's own arity error, on the coordinator
	}
	if cmd.Route != command.RouteSplit || (cmd.Merge == command.MergeAll && x.kind != txMsetnx) {
		// MSETNX inside MULTI would need every loop's answer before any
		// loop writes; the transaction still runs, this command fails.
		pl.err = errCrossLoop
		return
	}
	m := mergeOf(cmd.Merge)
	pl.owner, pl.merge = -2, m
	n := len(x.parts)
	share := (len(args)/step)/n + (len(args)/step)/(4*n) + 1 // keys per loop if spread evenly, and a quarter more
	for o := range n {
		p := &x.parts[o]
		p.ok = false    // marks "has a sub-command of this command" while planning
		if share > 64 { // DEL or MSET of many keys: grow once, not by doubling
			p.argBuf = slices.Grow(p.argBuf, share*step+1)
			p.keys = slices.Grow(p.keys, share)
		}
	}
	for k := 1; k < len(args); k += step {
		o := l.cfg.Table.Owner(slot.Of(args[k]))
		p := &x.parts[o]
		if !p.ok {
			p.ok = true
			p.used = true
			p.spans = append(p.spans, span{i: len(p.cmds), lo: len(p.argBuf)})
			p.cmds = append(p.cmds, command.Req{Cmd: cmd})
			p.argBuf = append(p.argBuf, args[0])
		}
		p.argBuf = append(p.argBuf, args[k:k+step]...)
		p.keys = append(p.keys, args[k])
		p.spans[len(p.spans)-1].hi = len(p.argBuf)
		if m == mergeMget {
			pl.order = append(pl.order, uint8(o))
		}
	}
	for o := range n {
		if x.parts[o].ok {
			pl.loops = append(pl.loops, uint8(o))
			x.parts[o].ok = false
		}
	}
}

// planBroadcast plans r, a command of every loop's keys (DBSIZE, KEYS,
// FLUSHALL, RANDOMKEY), to run on every loop, its parts' replies merged as
// outside a transaction. It locks no key, so, as outside a transaction,
// it is not atomic across loops: another cross-loop transaction may run
// before it on one loop and after it on another.
func (l *Loop) planBroadcast(x *xtx, pl *cmdPlan, r command.Req) {
	pl.owner, pl.merge = -2, mergeOf(r.Cmd.Merge)
	for o := range x.parts {
		p := &x.parts[o]
		p.used = true
		p.spans = append(p.spans, span{i: len(p.cmds), lo: len(p.argBuf)})
		p.cmds = append(p.cmds, command.Req{Cmd: r.Cmd})
		p.argBuf = append(p.argBuf, r.Args...)
		p.spans[len(p.spans)-1].hi = len(p.argBuf)
		pl.loops = append(pl.loops, uint8(o))
	}
}

// seal resolves split sub-commands and lists the involved loops.
func (x *xtx) seal() {
	for o := range x.parts {
		p := &x.parts[o]
		for _, s := range p.spans {
			p.cmds[s.i].Args = p.argBuf[s.lo:s.hi:s.hi]
		}
		if p.used {
			x.order = append(x.order, o)
		}
	}
}

// startTx begins the prepare phase of a planned transaction; the
// connection waits (txWait) until its reply is complete.
func (l *Loop) startTx(x *xtx) {
	x.seal()
	x.eager = x.kind != txMsetnx
	for _, o := range x.order {
		if x.parts[o].rw != nil {
			x.eager = false
		}
	}
	x.seq = x.tc.tail
	x.tc.push(mergeNone, 1)
	x.tc.txWait = true
	l.txCount++
	l.stats.txCross.Add(1)
	l.advance(x)
}

// advance prepares x on its next loops: locally in place, on another loop
// by message (continued in prepared when it answers).
func (l *Loop) advance(x *xtx) {
	for x.next < len(x.order) {
		o := x.order[x.next]
		if o != l.idx {
			l.sendCtl(o, mPrepare, x)
			return
		}
		if !l.prepareHere(x, true) {
			l.enqueue(x)
			return
		}
		x.next++
		if p := &x.parts[o]; !p.ok || p.exists {
			x.abort = true
			break
		}
	}
	l.decide(x)
}

// prepared continues x once loop o prepared its part.
func (l *Loop) prepared(x *xtx, o int) {
	x.next++
	if p := &x.parts[o]; !p.ok || p.exists {
		x.abort = true
		l.decide(x)
		return
	}
	l.advance(x)
}

// tryPrepare places x's locks on this loop and checks its watches there;
// false when a key is locked by another transaction (x must wait). A fresh
// prepare also waits for keys a waiting prepare wants, so that waiting
// ones are not overtaken forever (no starvation).
func (l *Loop) tryPrepare(x *xtx, fresh bool) bool {
	p := &x.parts[l.idx]
	var wk [][]byte
	if p.rw != nil {
		wk = p.rw.keys
	}
	if fresh && len(l.waitq) > 0 && (l.reserved(p.keys) || l.reserved(wk)) {
		return false
	}
	if l.conflicts(x, p.keys) || l.conflicts(x, wk) || l.partCold(p) {
		return false
	}
	l.lock(x, p.keys)
	l.lock(x, wk)
	p.wkeys = len(wk)
	p.locked = true
	p.ok = p.rw == nil || !l.watchDirty(p.rw)
	if x.kind == txMsetnx {
		for _, k := range p.keys {
			if l.ks.Exists(k, l.now) {
				p.exists = true
			}
		}
	}
	return true
}

// prepareHere prepares x on this loop. The last loop of the order needs no
// second phase: every loop before it is prepared and clean (else x would
// have stopped there), so its own check decides, and it commits or drops
// its part at once; the coordinator then ends the others.
func (l *Loop) prepareHere(x *xtx, fresh bool) bool {
	if !l.tryPrepare(x, fresh) {
		return false
	}
	p := &x.parts[l.idx]
	switch {
	case x.order[len(x.order)-1] == l.idx:
		l.endPart(x, p.ok && !p.exists)
	case x.eager:
		// Running now, under locks kept until the commit, is as good as
		// running at the commit: nobody can see these keys in between,
		// and the loops after this one only add locks.
		l.runPart(x)
	}
	return true
}

// enqueue parks x's prepare until its keys are free and reserves them.
func (l *Loop) enqueue(x *xtx) {
	l.waitq = append(l.waitq, x)
	l.reserve(x)
}

func (l *Loop) reserve(x *xtx) {
	p := &x.parts[l.idx]
	for _, k := range p.keys {
		l.resv[keyHash(k)] = struct{}{}
	}
	if p.rw != nil {
		for _, k := range p.rw.keys {
			l.resv[keyHash(k)] = struct{}{}
		}
	}
}

// reserved reports whether a waiting prepare wants one of keys.
func (l *Loop) reserved(keys [][]byte) bool {
	for _, k := range keys {
		if _, ok := l.resv[keyHash(k)]; ok {
			return true
		}
	}
	return false
}

// grantWaiters prepares, in arrival order, the waiting transactions whose
// keys are free and wanted by no earlier waiting one.
func (l *Loop) grantWaiters() {
	if len(l.waitq) == 0 {
		return
	}
	clear(l.resv)
	granted := l.granted[:0]
	w := 0
	for _, x := range l.waitq {
		p := &x.parts[l.idx]
		free := !l.reserved(p.keys) && (p.rw == nil || !l.reserved(p.rw.keys))
		if free && l.prepareHere(x, false) {
			granted = append(granted, x)
		} else {
			l.waitq[w] = x
			w++
			l.reserve(x)
		}
	}
	clear(l.waitq[w:])
	l.waitq = l.waitq[:w]
	for _, x := range granted {
		if x.coord == l.idx {
			l.prepared(x, l.idx)
		} else {
			l.replyCtl(x.coord, mPrepared, x)
		}
	}
	clear(granted)
	l.granted = granted[:0]
}

// decide ends the prepare phase: commit everywhere, or abort everywhere
// (a dirty watch, an existing MSETNX key), except on the loop that already
// ended its part when it prepared last.
func (l *Loop) decide(x *xtx) {
	commit := !x.abort
	kind := mCommit
	if !commit {
		kind = mAbort
	}
	if x.eager {
		// Every part ran at prepare: reply now (before any commit is
		// sent, so no part is touched by its loop meanwhile); the
		// commits only release the locks.
		l.replyTx(x)
	}
	for _, o := range x.order {
		if o == l.idx || x.parts[o].ended {
			continue
		}
		x.acks++
		l.sendCtl(o, kind, x)
	}
	if p := &x.parts[l.idx]; p.used && !p.ended {
		l.endPart(x, commit)
	}
	if x.acks == 0 && !l.finishAfterWrites(x) {
		l.finish(x)
	}
}

// runPart runs this loop's commands of x, in command order, keeping the
// replies in the part. Its writes belong to x: the answers to the
// coordinator wait behind them (ctlAfterWrites), and a failed one turns
// the part's replies into errors (failPart).
func (l *Loop) runPart(x *xtx) {
	p := &x.parts[l.idx]
	l.txSess.SpeakRESP3(x.resp3)
	l.txSess.ActAs(x.user)
	for _, r := range p.cmds {
		var w *unsynced
		p.out, w = l.execChecked(l.txSess, r, p.out)
		if w != nil {
			w.x = x
		}
		p.ends = append(p.ends, len(p.out))
	}
	p.ran = true
}

// endPart runs (commit, unless it ran at prepare) or drops (abort) this
// loop's part of x, releases its locks and unregisters the connection's
// watches here.
func (l *Loop) endPart(x *xtx, commit bool) {
	p := &x.parts[l.idx]
	if commit && !p.ran {
		l.runPart(x)
	}
	if p.locked {
		l.unlock(x, p.keys)
		if p.rw != nil {
			l.unlock(x, p.rw.keys[:p.wkeys])
		}
		p.locked = false
	}
	if p.rw != nil {
		l.unwatchAll(p.rw)
	}
	p.ended = true
}

// execChecked runs a command already checked on the coordinator, appending
// its reply to dst; w is its write in flight, if any, which the reply
// must wait for.
func (l *Loop) execChecked(sess *command.Session, r command.Req, dst []byte) ([]byte, *unsynced) {
	dst, l.muts = command.ExecCheckedReq(sess, l.ks, r, l.now, dst, l.muts[:0])
	return dst, l.applied(l.muts)
}

// finish builds the client's reply from the parts' replies once every
// participant acknowledged, and lets the connection continue.
func (l *Loop) finish(x *xtx) {
	if !x.replied {
		l.replyTx(x)
	}
	l.txCount--
	l.freeTx(x)
	// A connection waiting for admission may go now.
	l.unlocked = true
}

// replyTx completes the connection's reply slot and lets it read on.
func (l *Loop) replyTx(x *xtx) {
	if l.replyTxAfterWrites(x) {
		x.replied = true // sent by the waiting entry (unsynced.go)
		return
	}
	x.replied = true
	tc := x.tc
	x.keylessW = nil
	if tc.closed {
		// The client is gone but the transaction commits whole: building
		// its reply is what runs its keyless commands on the coordinator.
		_ = l.txReply(x, nil) // rare: allocates
	} else {
		e := tc.slot(x.seq)
		e.buf = l.txReply(x, e.buf[:0])
		if x.keylessW != nil {
			// A keyless command (FLUSHALL) wrote: the reply waits for it.
			l.waitSlot(x.keylessW, tc, x.seq)
		} else {
			e.done = true
			l.touch(tc)
		}
	}
	tc.txWait = false
}

func (l *Loop) txReply(x *xtx, b []byte) []byte {
	switch x.kind {
	case txMsetnx:
		if x.abort {
			return resp.AppendInt(b, 0)
		}
		return resp.AppendInt(b, 1)
	case txCmd:
		return l.cmdReply(x, 0, b)
	}
	if x.abort {
		return resp.AppendNilArray(b, x.resp3) // a watched key changed
	}
	b = resp.AppendArray(b, len(x.cmds))
	for i := range x.cmds {
		b = l.cmdReply(x, i, b)
	}
	return b
}

// cmdReply appends command i's reply: its error, its run on the
// coordinator (no keys), its owner's reply, or its parts' replies merged.
func (l *Loop) cmdReply(x *xtx, i int, b []byte) []byte {
	pl := &x.plan[i]
	switch {
	case pl.err != "":
		return resp.AppendError(b, pl.err)
	case pl.owner == -1:
		var w *unsynced
		b, w = l.execChecked(x.tc.sess, x.cmds[i], b)
		if w != nil {
			x.keylessW = w // the last one: the FIFO releases in order
		}
		return b
	case pl.owner >= 0:
		return append(b, x.parts[pl.owner].nextReply()...)
	}
	e := &l.mergeScratch
	e.done, e.merge, e.parts, e.sum, e.n, e.failed = false, pl.merge, len(pl.loops), 0, 0, false
	e.buf = e.buf[:0]
	if pl.merge == mergeMget {
		e.order = append(e.order[:0], pl.order...)
		if len(e.subs) != len(x.parts) {
			e.subs = make([][]byte, len(x.parts))
		}
		for i := range e.subs {
			e.subs[i] = e.subs[i][:0]
		}
	}
	for _, o := range pl.loops {
		l.mergePart(e, int(o), x.parts[o].nextReply())
	}
	return append(b, e.buf...)
}

// nextReply returns the part's next command reply, in command order.
func (p *xpart) nextReply() []byte {
	lo := 0
	if p.cur > 0 {
		lo = p.ends[p.cur-1]
	}
	r := p.out[lo:p.ends[p.cur]]
	p.cur++
	return r
}

// sendCtl sends a transaction message to loop o. Admission (txCount below
// the ctl ring capacity, one message per peer per transaction) guarantees
// room.
func (l *Loop) sendCtl(o int, k msgKind, x *xtx) {
	m := msg{kind: k, x: x}
	if !l.peers[o].ctlOut.Stage(&m) {
		panic("server: ctl ring full despite admission")
	}
	l.stats.crossSent.Add(1)
}

// replyCtl answers coordinator o about x.
func (l *Loop) replyCtl(o int, k msgKind, x *xtx) {
	if l.ctlAfterWrites(o, k, x) {
		return // behind this loop's writes in flight (unsynced.go)
	}
	m := msg{kind: k, x: x}
	if !l.peers[o].ctlRepOut.Stage(&m) {
		panic("server: ctl reply ring full despite admission")
	}
}

// serveCtl handles coordinator j's transaction messages.
func (l *Loop) serveCtl(j int) {
	p := &l.peers[j]
	n := p.ctlIn.Len()
	if n == 0 {
		return
	}
	for i := range n {
		m := p.ctlIn.Peek(i)
		x, k := m.x, m.kind
		*m = msg{}
		l.stats.crossRecv.Add(1)
		switch k {
		case mPrepare:
			if l.prepareHere(x, true) {
				l.replyCtl(j, mPrepared, x)
			} else {
				l.enqueue(x)
			}
		case mCommit, mAbort:
			l.endPart(x, k == mCommit)
			l.replyCtl(j, mAcked, x)
		}
	}
	p.ctlIn.Release(n)
}

// takeCtl handles loop j's answers to the transactions this loop
// coordinates.
func (l *Loop) takeCtl(j int) {
	p := &l.peers[j]
	n := p.ctlRepIn.Len()
	if n == 0 {
		return
	}
	for i := range n {
		m := p.ctlRepIn.Peek(i)
		x, k := m.x, m.kind
		*m = msg{}
		switch k {
		case mPrepared:
			l.prepared(x, j)
		case mAcked:
			if x.acks--; x.acks == 0 && !l.finishAfterWrites(x) {
				l.finish(x)
			}
		}
	}
	p.ctlRepIn.Release(n)
}
