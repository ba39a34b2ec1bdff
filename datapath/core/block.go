package core

import (
	"slices"

	"github.com/dorivo/dorivo/datapath/command"
	"github.com/dorivo/dorivo/shardstore/keyspace"
)

// Blocked clients (BLPOP, BLMOVE, BZPOPMIN, ...). A blocking command that
// finds nothing to pop leaves a command.Block; the loop owning its keys
// parks the request, its session and where its reply goes (a local
// connection's reply slot, or the reply ring to the loop that forwarded
// it) and never waits: the loop serves other clients meanwhile. Every
// write on this loop to a key with waiters (from any connection of any
// loop: writes to a key always run on its owner) wakes them: after the
// writing command's reply is out, the parked requests of that key run
// again in arrival order, as Redis serves blocked clients, and the first
// that finds its key ready (of the kind it pops) is served; the others
// wait on. A parked request past its deadline gets its timeout reply on
// the loop's expiry tick (every ExpireEvery, Redis's hz). The connection
// that sent a blocking command reads no further request until its reply
// is out (Conn.blockWait), as Redis's blocked client.
//
// A client whose connection closes while its request is parked on
// another loop sends that loop mUnblock, which drops the waiter (its
// timeout reply returns the request's credit, and the closed connection
// ignores it), so no later write pops an element for nobody. When the
// rings have no room the cancel waits for the next expiry tick.
//
// Limits: CLIENT UNBLOCK is not there yet.

// waiter is one parked blocking request.
type waiter struct {
	req      command.Req // its own copy of the arguments
	sess     *command.Session
	keys     [][]byte
	kind     keyspace.Kind
	deadline int64
	timeout  []byte
	// The reply goes to tc's slot seq (local), or to loop peer as m.
	local bool
	tc    *Conn
	seq   uint64
	peer  int
	m     msg
	done  bool
}

// blockState is a loop's parked requests.
type blockState struct {
	byKey map[string][]*waiter
	all   []*waiter
	woken []string // keys written since the last serveWoken
	// later are the cancels of closed connections that found no room
	// (unblockRemote), sent again on the expiry tick.
	later []laterUnblock
}

type laterUnblock struct {
	o    int
	conn *Conn
	seq  uint64
}

// unblockRemote cancels closed connection tc's blocking request seq,
// parked on loop o.
func (l *Loop) unblockRemote(o int, tc *Conn, seq uint64) {
	if !l.sendUnblock(o, tc, seq) {
		l.blk.later = append(l.blk.later, laterUnblock{o, tc, seq})
	}
}

func (l *Loop) sendUnblock(o int, tc *Conn, seq uint64) bool {
	if !l.room(o, 0) {
		return false
	}
	p := &l.peers[o]
	m := msg{kind: mUnblock, conn: tc, seq: seq}
	if !p.reqOut.Stage(&m) {
		return false
	}
	p.credits++
	l.stats.crossSent.Add(1)
	return true
}

// retryUnblocks sends the cancels that found no room.
func (l *Loop) retryUnblocks() {
	w := 0
	for _, u := range l.blk.later {
		if !l.sendUnblock(u.o, u.conn, u.seq) {
			l.blk.later[w] = u
			w++
		}
	}
	clear(l.blk.later[w:])
	l.blk.later = l.blk.later[:w]
}

// unpark drops the waiter of loop j's request (conn, seq), whose
// connection closed, with its timeout reply (nobody reads it). A waiter
// served meanwhile is not there any more.
func (l *Loop) unpark(j int, conn *Conn, seq uint64) {
	l.dropWaiter(func(w *waiter) bool { return !w.local && w.peer == j && w.m.conn == conn && w.m.seq == seq })
}

// unparkLocal drops the waiter of tc, a local connection that closed.
func (l *Loop) unparkLocal(tc *Conn) {
	l.dropWaiter(func(w *waiter) bool { return w.local && w.tc == tc })
}

func (l *Loop) dropWaiter(match func(*waiter) bool) {
	b := &l.blk
	for i, w := range b.all {
		if w.done || !match(w) {
			continue
		}
		l.finishWaiter(w, now(w.timeout)) // a closed local connection takes nothing
		for _, k := range w.keys {
			l.compactKey(string(k))
		}
		b.all = slices.Delete(b.all, i, i+1)
		return
	}
}

// park parks r, which left blk, for its reply to go to w's target.
func (l *Loop) park(w *waiter, r command.Req, sess *command.Session, blk *command.Block) {
	b := &l.blk
	if b.byKey == nil {
		b.byKey = map[string][]*waiter{}
	}
	w.req = command.Req{Args: ownArgs(r.Args), Cmd: r.Cmd}
	w.sess, w.kind, w.deadline = sess, blk.Kind, blk.Deadline
	w.timeout = append([]byte(nil), blk.TimeoutReply...)
	w.keys = w.req.Keys(nil)
	for _, k := range w.keys {
		b.byKey[string(k)] = append(b.byKey[string(k)], w)
	}
	b.all = append(b.all, w)
}

// parkLocal parks tc's request r in a new reply slot.
func (l *Loop) parkLocal(tc *Conn, r command.Req, blk *command.Block) {
	w := &waiter{local: true, tc: tc, seq: tc.tail}
	tc.push(mergeNone, 0)
	l.park(w, r, tc.sess, blk)
}

// parkPeer parks a request from loop j, whose reply is r.
func (l *Loop) parkPeer(j int, r *msg, req command.Req, sess *command.Session, blk *command.Block) {
	l.park(&waiter{peer: j, m: *r}, req, sess, blk)
}

func ownArgs(args [][]byte) [][]byte {
	out := make([][]byte, len(args))
	for i, a := range args {
		out[i] = append([]byte(nil), a...)
	}
	return out
}

// noteWrites records the keys of muts that have waiters, to wake them
// once the writing command is done.
func (l *Loop) noteWrites(muts []command.Mutation) {
	if len(l.blk.byKey) == 0 {
		return
	}
	for _, m := range muts {
		if _, ok := l.blk.byKey[string(m.Key)]; ok {
			l.blk.woken = append(l.blk.woken, string(m.Key))
		}
	}
}

// serveWoken runs again the parked requests of the keys written, in
// arrival order; a served one may write and wake more (BLMOVE).
func (l *Loop) serveWoken() {
	b := &l.blk
	for len(b.woken) > 0 {
		l.serveWokenOnce()
		if len(l.touched) > 0 {
			l.writeTouched() // the served local clients read on, and may write more
		}
	}
}

func (l *Loop) serveWokenOnce() {
	b := &l.blk
	for len(b.woken) > 0 {
		key := b.woken[0]
		b.woken = b.woken[1:]
		for _, w := range b.byKey[key] {
			if w.done {
				continue
			}
			if w.local && w.tc.closed {
				w.done = true
				continue
			}
			if l.ks.Kind([]byte(key), l.now) != w.kind {
				break // nothing to pop: later waiters would find nothing either
			}
			res := l.exec(w.sess, w.req)
			if res.blk != nil {
				continue // still nothing (another key of its own was empty)
			}
			l.finishWaiter(w, res)
		}
		l.compactKey(key)
	}
	b.woken = b.woken[:0]
}

// finishWaiter delivers w's reply.
func (l *Loop) finishWaiter(w *waiter, res result) {
	w.done = true
	if !w.local {
		r := w.m
		if res.w != nil {
			l.waitPeer(res.w, w.peer, &r, res.b)
		} else {
			l.stageReply(&l.peers[w.peer], &r, res.b)
		}
		return
	}
	tc := w.tc
	if tc.closed {
		return
	}
	e := tc.slot(w.seq)
	e.buf = append(e.buf[:0], res.b...)
	if res.w != nil {
		l.waitSlot(res.w, tc, w.seq)
		return
	}
	e.done = true
	l.touch(tc)
}

// compactKey drops key's finished waiters.
func (l *Loop) compactKey(key string) {
	ws := l.blk.byKey[key]
	n := 0
	for _, w := range ws {
		if !w.done {
			ws[n] = w
			n++
		}
	}
	clear(ws[n:])
	if n == 0 {
		delete(l.blk.byKey, key)
	} else {
		l.blk.byKey[key] = ws[:n]
	}
}

// expireWaiters replies the timeout to parked requests past their
// deadline and forgets those of closed connections.
func (l *Loop) expireWaiters() {
	b := &l.blk
	if len(b.later) > 0 {
		l.retryUnblocks()
	}
	if len(b.all) == 0 {
		return
	}
	n := 0
	for _, w := range b.all {
		switch {
		case w.done:
		case w.local && w.tc.closed:
			w.done = true
		case w.deadline != 0 && w.deadline <= l.now:
			l.finishWaiter(w, now(w.timeout))
		}
		if !w.done {
			b.all[n] = w
			n++
			continue
		}
		for _, k := range w.keys {
			l.compactKey(string(k))
		}
	}
	clear(b.all[n:])
	b.all = b.all[:n]
}

// BlockedClients returns how many requests are parked on this loop.
// Served ones leave the list on the next expiry tick; they are not counted.
func (l *Loop) BlockedClients() int {
	n := 0
	for _, w := range l.blk.all {
		if !w.done {
			n++
		}
	}
	return n
}
