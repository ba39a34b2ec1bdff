package core

import (
	"bytes"
	"errors"
	"math/rand/v2"

	"github.com/dorivo/dorivo/datapath/command"
	"github.com/dorivo/dorivo/datapath/resp"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// mergeKind says how the parts of a split command combine into one reply.
type mergeKind uint8

const (
	mergeNone       mergeKind = iota // one part, its reply is the reply
	mergeSum                         // integer replies added (DEL, EXISTS, DBSIZE)
	mergeOK                          // +OK when every part said +OK (MSET, FLUSHALL)
	mergeArray                       // arrays concatenated (KEYS)
	mergeMget                        // per-owner MGET arrays interleaved by key order
	mergeScan                        // a SCAN reply whose final cursor continues on the next loop
	mergeClientList                  // CLIENT LIST: bulk bodies concatenated, lines sorted by id
	mergeKillOld                     // CLIENT KILL addr: counts added, then OK or "No such client"
	mergeRandom                      // one non-null part at random (RANDOMKEY)
)

// mergeOf is the reply merge of a command's route.
func mergeOf(m command.Merge) mergeKind {
	switch m {
	case command.MergeSum:
		return mergeSum
	case command.MergeOK:
		return mergeOK
	case command.MergeArray:
		return mergeArray
	case command.MergeByKey:
		return mergeMget
	case command.MergeRandom:
		return mergeRandom
	}
	return mergeNone
}

// pending is one reply slot of a connection, in request order.
type pending struct {
	done   bool
	merge  mergeKind
	parts  int
	sum    int64
	n      int64
	buf    []byte     // the reply, or the first error of a merge
	failed bool       // buf holds an error reply
	subs   [][]byte   // mergeMget: the sub-reply of each owner loop
	view   [][]byte   // mergeMget: what is left of each sub-reply while merging
	order  []uint8    // mergeMget: the owner of each key, in key order (loops <= 256)
	scan   *scanState // mergeScan: the iteration that continues on later loops
	held   int        // bytes of buf counted in the connection's held (clients.go)
	mute   bool       // CLIENT REPLY OFF or SKIP: the reply is not sent
}

// Input is a connection's unread bytes, which the shell keeps (gnet's
// inbound buffer). The loop parses them in place and discards what it ran;
// bytes of requests that must wait stay there until the loop resumes the
// connection.
type Input interface {
	Peek(n int) ([]byte, error) // n = -1: every buffered byte
	Discard(n int) (int, error)
	InboundBuffered() int
}

// Conn is a TCP client: its session and its ordered reply queue. Only its
// loop touches it. Each request takes a reply slot in request order; a
// local reply goes straight to Out when nothing is pending before it,
// otherwise into its slot; replies from other loops and replies that
// waited for their write fill their slots when they come; the filled
// prefix moves to Out in order.
type Conn struct {
	in   Input
	sess *command.Session
	// Out holds reply bytes for the shell to write (TakeOutput).
	Out []byte
	// Shell is the shell's handle for this connection (the gnet.Conn).
	Shell any
	// q holds reply slots head..tail-1 (sequence numbers), q[seq&mask].
	q          []pending
	head, tail uint64

	rd resp.Reader // parse state: a request split across reads resumes where it stopped

	stalled bool // waiting on the loop's stalled list for room or a lock
	handoff bool // session lent to another loop; parsing paused
	txWait  bool // a cross-loop transaction of this connection is in flight
	// blockWait: a blocking command's reply (slot blockSeq) is not out
	// yet; the connection reads no further request (block.go).
	blockWait bool
	blockSeq  uint64
	// blockLoop is the loop the last blocking request went to (-1: this
	// one): a close cancels its waiter there (block.go, unblockRemote).
	blockLoop int
	closing   bool // close once every reply is written (protocol error, QUIT)
	// CloseNow asks the shell to close the connection after writing Out.
	CloseNow bool
	closed   bool
	touched  bool
	queued   bool // on the loop's output list
	// rw[o] is the connection's WATCH registration on loop o (watch.go);
	// wloops lists the loops where it has keys.
	rw     []*rwatch
	wloops []uint8
	// home is the user whose home loop was last computed (move.go);
	// moveTo is the loop the connection waits to move to (-1: none).
	home   string
	moveTo int

	// Client memory and idleness (clients.go): unsent is what the shell
	// holds unwritten (Loop.Unsent); paused: over its bound, it runs no
	// request until it reads; softSince: when it went over the soft
	// output limit (0: under); active: its last request or read (ms).
	unsent int
	held   int // reply bytes waiting in slots behind an earlier reply
	// replyMax estimates its replies' size (noteReply): the maximum of
	// replyCur (this window of replyN replies) and replyPrev (the last).
	replyMax, replyCur, replyPrev, replyN int
	paused                                bool
	softSince                             int64
	active                                int64
	created                               int64
	// quotaUser is the user tenant was last computed for (quotaOK).
	quotaUser, tenant string
	// FD and LAddr are the socket's descriptor and local address, for
	// CLIENT LIST (the shell sets them); lastCmd is the last command's
	// name; replyOff and replySkip are CLIENT REPLY OFF and SKIP.
	FD                  int
	LAddr               string
	lastCmd             string
	replyOff, replySkip bool
}

// Open accepts a client whose bytes in provides, from addr (for CLIENT
// INFO). The shell enforces maxclients before.
func (l *Loop) Open(in Input, addr string, shell any) *Conn { return l.OpenAt(in, addr, shell, l.now) }

// OpenAt is Open at time now (unix ms): the client's age and idle time
// count from then.
func (l *Loop) OpenAt(in Input, addr string, shell any, now int64) *Conn {
	l.now = max(l.now, now)
	l.stats.accepted.Add(1)
	l.stats.conns.Add(1)
	tc := &Conn{in: in, sess: command.NewSession(l.cfg.Node), Shell: shell, moveTo: -1, blockLoop: -1}
	tc.sess.UseStats(l.cmdStats)
	tc.sess.Addr = addr
	tc.home = tc.sess.User()
	tc.active, tc.created = l.now, l.now
	tc.replyMax, tc.replyPrev = replySeed, replySeed
	l.conns[tc] = struct{}{}
	return tc
}

// Closed releases a client whose socket closed. A session lent to another
// loop is closed when it comes back (takeReplies).
func (l *Loop) Closed(tc *Conn) {
	tc.closed = true
	l.forget(tc)
	if !tc.handoff {
		tc.sess.Close()
	}
	if len(tc.wloops) > 0 {
		l.dropWatches(tc)
		l.flushRings()
	}
	switch {
	case !tc.blockWait:
	case tc.blockLoop >= 0:
		l.unblockRemote(tc.blockLoop, tc, tc.blockSeq)
		l.flushRings()
	default:
		l.unparkLocal(tc)
	}
}

// Traffic serves the requests buffered on tc, at time now, and publishes
// what they sent to other loops.
func (l *Loop) Traffic(tc *Conn, now int64) {
	l.now = now
	l.process(tc)
	l.serveWoken()
	if l.unlocked {
		l.afterWork()
	} else {
		l.flushRings()
	}
}

// Session returns tc's session.
func (tc *Conn) Session() *command.Session { return tc.sess }

// process parses and dispatches as many of tc's buffered requests as it
// can. It stops, leaving the rest in gnet's inbound buffer, when a request
// needs room that is not there (backpressure) or the session is lent out.
func (l *Loop) process(tc *Conn) {
	if tc.closed || tc.stalled || tc.handoff || tc.txWait || tc.blockWait || tc.closing || tc.moveTo >= 0 {
		return
	}
	if tc.paused && !l.tryResume(tc) {
		return // its bytes stay unread until it drains (clients.go)
	}
	c := tc.in
	if c.InboundBuffered() > l.cfg.MaxQueryBuffer {
		tc.closing, tc.CloseNow = true, true // Redis closes over client-query-buffer-limit, no reply
		l.queueOut(tc)
		return
	}
	buf, _ := c.Peek(-1)
	off := 0
	t0 := l.tick()
	for off < len(buf) {
		if int(tc.tail-tc.head) >= l.cfg.MaxPending {
			l.stall(tc)
			break
		}
		if l.overLimit(tc) {
			off = len(buf)
			break
		}
		if l.mustPause(tc, false) {
			l.pause(tc)
			break
		}
		lim := l.limits
		lim.Unauthenticated = !tc.sess.Authenticated() // Redis's stricter limits before AUTH
		// CONFIG SET proto-max-bulk-len applies to the next request, as in Redis.
		lim.MaxBulkLen = l.cfg.Node.Config().ProtoMaxBulkLen
		args, n, complete, err := tc.rd.Parse(buf[off:], l.args[:0], lim)
		if err != nil {
			var perr resp.Error
			if errors.As(err, &perr) {
				l.localReply(tc, now(l.errReply(string(perr))))
			}
			tc.closing = true
			off = len(buf)
			break
		}
		if !complete {
			off += n // taken into tc.rd
			break
		}
		l.args = args[:0]
		if len(args) == 0 {
			tc.rd.Done()
			off += n
			continue
		}
		tc.active = l.now
		req, sent := command.Resolve(args), l.stats.crossSent.Load()
		if req.Cmd != nil {
			tc.lastCmd = req.Cmd.Name
			if l.cfg.Node.Paused(req.Cmd, l.now) {
				l.stall(tc) // CLIENT PAUSE: tc.rd keeps the request until it ends
				break
			}
		}
		b := l.quotaOK(tc)
		if b != nil && b.milli < 1000 {
			b.denied++
			l.stats.quotaDenied.Add(1)
			l.localReply(tc, now(resp.AppendError(l.reply[:0], ErrQuota)))
			tc.rd.Done()
			off += n
			continue
		}
		// CLIENT REPLY itself is not muted: REPLY ON answers +OK.
		mute := (tc.replyOff || tc.replySkip) && (req.Cmd == nil || req.Cmd.Route != command.RouteClient || req.Cmd.Name != "client|reply")
		tc.replySkip = tc.replySkip && !mute
		headBefore, tailBefore, outBefore := tc.head, tc.tail, len(tc.Out)
		tc.blockLoop = -1 // forward sets it
		if !l.dispatch(tc, req) {
			tc.replySkip = mute && !tc.replyOff // not run: it is retried
			l.stall(tc)                         // tc.rd keeps the request: the next Parse returns it again
			if tc.sess.Authenticated() {
				l.readAhead(buf[off+n:], lim)
			}
			break
		}
		tc.rd.Done()
		if mute {
			l.mute(tc, headBefore, tailBefore, outBefore)
		}
		if b != nil {
			b.milli -= 1000
		}
		l.stats.requests.Add(1)
		t0 = l.served(t0, req, sent)
		off += n
		if tc.sess.User() != tc.home && l.checkHome(tc) {
			break // the rest runs on the connection's new loop
		}
		if req.Cmd != nil && req.Cmd.Flags&command.Blocking != 0 && tc.tail != tc.head && !tc.slot(tc.tail-1).done {
			tc.blockWait, tc.blockSeq = true, tc.tail-1 // parked here or forwarded
		}
		if tc.handoff || tc.txWait || tc.blockWait || tc.closing {
			break
		}
	}
	if off > 0 {
		_, _ = c.Discard(off)
	}
	l.writeConn(tc)
}

func (l *Loop) stall(tc *Conn) {
	if tc.stalled {
		return
	}
	tc.stalled = true
	l.stats.stalls.Add(1)
	l.stalled = append(l.stalled, tc)
}

// resumeStalled retries every connection that waited for room.
func (l *Loop) resumeStalled() {
	if len(l.stalled) == 0 {
		return
	}
	// Double-buffered: process may stall a connection again, appending to
	// the fresh list while this one is walked.
	list := l.stalled
	l.stalled = l.stalledSpare[:0]
	for _, tc := range list {
		tc.stalled = false
	}
	for _, tc := range list {
		l.process(tc)
	}
	clear(list)
	l.stalledSpare = list[:0]
}

// plain reports whether forwarded requests of s may run on a remote loop's
// scratch session: the default user, authenticated, no transaction, and
// scratch sessions that are themselves authenticated (they are not when
// the default user had a password at startup: command has no way to
// authenticate a session without one).
func (l *Loop) plain(s *command.Session) bool {
	return l.scratchAuth && s.Authenticated() && s.User() == "default" && !s.InMulti()
}

// ownerOf returns the loop owning every key of r (its keys are left in
// l.keys): -1 when it has no keys, -2 when the keys span loops.
func (l *Loop) ownerOf(r command.Req) int {
	l.keys = r.Keys(l.keys[:0])
	owner := -1
	for _, k := range l.keys {
		o := l.cfg.Table.Owner(slot.Of(k))
		if owner == -1 {
			owner = o
		} else if owner != o {
			return -2
		}
	}
	return owner
}

const errCrossLoop = "CROSSSLOT Keys in request don't hash to the same slot"

// errReply is an error the loop replies itself, counted in INFO errorstats
// as the command package counts its own.
func (l *Loop) errReply(msg string) []byte {
	l.cfg.Node.CountError(msg)
	return resp.AppendError(l.reply[:0], msg)
}

// dispatch routes one request by its command's route. It returns false,
// having changed nothing, when the request needs ring room, credit, reply
// slots or keys that are not available now (locked by a cross-loop
// transaction, or cold).
func (l *Loop) dispatch(tc *Conn, r command.Req) bool {
	route := command.RouteKeys
	if r.Cmd != nil {
		route = r.Cmd.Route
	}
	sess := tc.sess
	if l.shed != nil && !sess.InMulti() {
		if b, ok := l.shedRefusal(tc, r); ok { // shed.go: a breaker is open
			l.localReply(tc, now(b))
			return true
		}
	}
	if l.rep != nil && (!sess.InMulti() || route == command.RouteExec) {
		if handled, ok := l.routeRemote(tc, r); handled {
			return ok
		}
		if l.claiming(r) {
			return false
		}
	}
	if sess.InMulti() {
		switch route {
		case command.RouteExec:
			return l.dispatchExec(tc, r)
		case command.RouteDiscard:
			if r.Cmd.ArityOK(len(r.Args)) && len(tc.wloops) > 0 {
				if !l.unwatchRoom(tc) {
					return false
				}
				l.dropWatches(tc)
			}
		}
		l.execLocal(tc, r) // queued, or MULTI/WATCH refused inside MULTI
		return true
	}
	switch route {
	case command.RouteExec:
		l.execLocal(tc, r) // EXEC without MULTI
		return true
	case command.RouteWatch:
		return l.dispatchWatch(tc, r)
	case command.RouteUnwatch:
		if len(tc.wloops) > 0 && command.CheckReq(sess, r) == "" {
			if !l.unwatchRoom(tc) {
				return false
			}
			l.dropWatches(tc)
		}
	case command.RouteSplit:
		if l.ownerOf(r) == -2 {
			return l.crossCmd(tc, r)
		}
	case command.RouteBroadcast:
		if r.Cmd.ArityOK(len(r.Args)) {
			return l.broadcast(tc, r, mergeOf(r.Cmd.Merge))
		}
	case command.RouteClient:
		return l.clientRoute(tc, r)
	case command.RouteScan:
		if o, next, ok := l.scanRoute(r.Args); ok {
			return l.scan(tc, r, o, next)
		}
	}
	o := l.ownerOf(r)
	switch {
	case o == -2:
		l.localReply(tc, now(l.errReply(errCrossLoop)))
		return true
	case o == l.idx && l.mustWaitFor(r, l.keys):
		return false // a transaction locks a key, or a value is cold: wait
	case o < 0 || o == l.idx:
		l.execLocal(tc, r)
		return true
	}
	return l.forward(tc, r, o, !l.plain(sess), nil)
}

// dispatchExec runs EXEC inside MULTI. A transaction whose keys and
// watches are all on one loop runs there whole (the session travels with
// the EXEC when that loop is another one); one spanning loops runs as a
// cross-loop transaction (xtx.go).
func (l *Loop) dispatchExec(tc *Conn, r command.Req) bool {
	sess := tc.sess
	if sess.QueueAborted() || command.CheckReq(sess, r) != "" {
		// EXECABORT: Redis discards the transaction and its watches.
		if !l.unwatchRoom(tc) {
			return false
		}
		l.dropWatches(tc)
		l.execLocal(tc, r)
		return true
	}
	n := len(l.peers)
	if len(l.involved) != n {
		l.involved = make([]bool, n)
	}
	clear(l.involved)
	count, only := 0, -1
	mark := func(o int) {
		if !l.involved[o] {
			l.involved[o] = true
			count++
			only = o
		}
	}
	for _, q := range sess.Queued() {
		if q.Cmd != nil && q.Cmd.Route == command.RouteBroadcast {
			for o := range n { // every loop's keys: xtx.go's planBroadcast
				mark(o)
			}
		}
		l.keys = q.Keys(l.keys[:0])
		for _, k := range l.keys {
			mark(l.cfg.Table.Owner(slot.Of(k)))
		}
	}
	for _, o := range tc.wloops {
		mark(int(o))
	}
	if count > 1 {
		return l.crossExec(tc)
	}
	if only < 0 || only == l.idx {
		if l.queueWaits(sess) {
			return false
		}
		var rw *rwatch
		if tc.watchesOn(l.idx) {
			rw = tc.rw[l.idx]
			if l.watchDirty(rw) {
				sess.SetWatchDirty()
			}
		}
		l.execLocal(tc, r)
		if rw != nil {
			l.unwatchAll(rw)
		}
		tc.wloops = tc.wloops[:0]
		return true
	}
	var rw *rwatch
	if tc.watchesOn(only) {
		rw = tc.rw[only]
	}
	if !l.forward(tc, r, only, true, rw) {
		return false
	}
	tc.wloops = tc.wloops[:0]
	return true
}

var discardReq = command.Resolve([][]byte{[]byte("DISCARD")})

// quiet reports whether every earlier request of tc has its reply: a
// cross-loop transaction travels on the ctl rings and must not overtake
// the connection's requests still on a request ring.
func (l *Loop) quiet(tc *Conn) bool {
	l.writeConn(tc)
	return tc.head == tc.tail
}

// crossExec starts EXEC of a transaction spanning loops.
func (l *Loop) crossExec(tc *Conn) bool {
	if !l.quiet(tc) || l.txCount >= l.txMax {
		return false
	}
	sess := tc.sess
	x := l.newTx(tc, txExec)
	x.cmds = append(x.cmds, sess.Queued()...)
	for _, q := range x.cmds {
		l.planCmd(x, q, command.QueuedCheckReq(sess, q))
	}
	for _, o := range tc.wloops {
		p := &x.parts[o]
		p.used, p.rw = true, tc.rw[o]
	}
	tc.wloops = tc.wloops[:0]
	// End the MULTI: the transaction owns the queued commands now.
	l.reply, _ = command.ExecReq(sess, l.ks, discardReq, l.now, l.reply[:0], nil)
	l.startTx(x)
	return true
}

// crossCmd runs a multi-key command whose keys span loops as a one-command
// transaction: atomic like one on a single loop. Without the locks an MGET
// could see one loop before a concurrent transaction and another after it,
// and an MSET would be visible half-applied. The cost: such a command
// visits its loops one after the other, and its connection reads no
// further request until it completes (nor starts it before its earlier
// requests have replied: the transaction travels on other rings and must
// not overtake them). Same-tag commands, the fast path of cluster-aware
// clients, are unaffected.
func (l *Loop) crossCmd(tc *Conn, r command.Req) bool {
	if msg := command.CheckReq(tc.sess, r); msg != "" {
		command.NoteRejected(tc.sess, r, msg, l.now) // ACL LOG
		l.localReply(tc, now(l.errReply(msg)))
		return true
	}
	if r.Cmd.Step == 2 && len(r.Args)%2 == 0 {
		l.execLocal(tc, r) // arity error
		return true
	}
	if b, refused := l.refuseWrite(tc.sess, r); refused {
		l.localReply(tc, now(b)) // unsynced.go: disk full or diverged
		return true
	}
	if !l.quiet(tc) || l.txCount >= l.txMax {
		return false
	}
	k := txCmd
	if r.Cmd.Merge == command.MergeAll {
		k = txMsetnx
	}
	x := l.newTx(tc, k)
	r.Args = x.ownArgs(r.Args)
	x.cmds = append(x.cmds, r)
	l.planCmd(x, r, "")
	l.startTx(x)
	return true
}

// result is an executed command's reply and the write it proposed to the
// store, if any: the reply must not leave before that write is durable.
// Every path that delivers a reply takes a result, so no path can
// acknowledge a write by leaving out a step.
type result struct {
	b []byte
	w *unsynced // nil: the command wrote nothing durable
	// blk is set when a blocking command found nothing: no reply yet, the
	// caller parks the request (block.go).
	blk *command.Block
}

// now is a result that waits for no write (an error, a refusal).
func now(b []byte) result { return result{b: b} }

// exec runs r on this loop's keyspace, hands the writes' mutation records
// to the Mutations hook and proposes them to the store; the reply
// (l.reply) waits for that proposal.
func (l *Loop) exec(sess *command.Session, r command.Req) result {
	if b, refused := l.refuseWrite(sess, r); refused {
		return now(b) // unsynced.go: disk full or diverged
	}
	if r.Cmd != nil && r.Cmd.Route == command.RouteClient && !sess.InMulti() && r.Cmd.Name != "client|info" {
		return now(l.clientPart(sess, r, len(l.peers) == 1)) // a broadcast's part (client.go)
	}
	rkeys := l.readKeys(sess, r)
	if b, refused := l.refuseRead(rkeys); refused {
		return now(b)
	}
	l.reply, l.muts = command.ExecReq(sess, l.ks, r, l.now, l.reply[:0], l.muts[:0])
	res := result{b: l.reply, w: l.applied(l.muts)}
	if res.w == nil && len(rkeys) > 0 {
		res.w = l.readEntry(rkeys) // replicated.go: no reply reveals an uncommitted write
	}
	if blk, ok := sess.TakeBlock(); ok {
		res.blk = blk
	}
	return res
}

// readKeys returns the keys r reads, for readEntry, before r runs (an
// EXEC's queue is gone after): none inside MULTI (the reply is +QUEUED)
// or without a store.
func (l *Loop) readKeys(sess *command.Session, r command.Req) [][]byte {
	if l.dur == nil || r.Cmd == nil {
		return nil
	}
	if !sess.InMulti() {
		l.readKeyBuf = r.Keys(l.readKeyBuf[:0])
		return l.readKeyBuf
	}
	if r.Cmd.Route != command.RouteExec {
		return nil
	}
	l.readKeyBuf = l.readKeyBuf[:0]
	for _, q := range sess.Queued() {
		l.readKeyBuf = q.Keys(l.readKeyBuf)
	}
	return l.readKeyBuf
}

// applied reports the mutations of one execution: the Mutations hook, the
// published key counts, and a proposal to the store (nil without one).
func (l *Loop) applied(muts []command.Mutation) *unsynced {
	l.stats.executed.Add(1)
	l.publishKeys()
	if len(muts) == 0 {
		return nil
	}
	l.noteWrites(muts)
	if l.cfg.Mutations != nil {
		l.cfg.Mutations(l.idx, muts)
	}
	if l.dur == nil {
		return nil
	}
	return l.propose(muts)
}

func (l *Loop) execLocal(tc *Conn, r command.Req) {
	res := l.exec(tc.sess, r)
	if job := tc.sess.TakeJob(); job != nil {
		l.startJob(tc, job) // jobs.go: ACL LOAD, ACL SAVE
		return
	}
	if d := tc.sess.TakeReplyDelay(); d > 0 && res.w == nil {
		l.holdReply(tc, res.b, d) // held.go: a failed AUTH past the free attempts
		return
	}
	if res.blk != nil {
		l.parkLocal(tc, r, res.blk) // block.go: a blocking pop found nothing
		return
	}
	l.localReply(tc, res)
	if tc.sess.Closing {
		tc.closing = true
	}
}

// localReply queues a reply in order; one waiting for its write goes into
// its slot, released when the write is durable.
func (l *Loop) localReply(tc *Conn, r result) {
	if r.w != nil {
		l.waitConn(r.w, tc, r.b)
		return
	}
	if tc.head == tc.tail {
		tc.Out = append(tc.Out, r.b...)
		tc.noteReply(len(r.b))
		return
	}
	e := tc.push(mergeNone, 0)
	e.buf = append(e.buf[:0], r.b...)
	e.done = true
	e.held = len(r.b)
	tc.held += e.held
}

// push appends a reply slot expecting parts parts and returns it.
func (tc *Conn) push(m mergeKind, parts int) *pending {
	if int(tc.tail-tc.head) == len(tc.q) {
		n := max(8, 2*len(tc.q))
		q := make([]pending, n)
		for s := tc.head; s != tc.tail; s++ {
			q[s&uint64(n-1)] = tc.q[s&uint64(len(tc.q)-1)]
		}
		tc.q = q
	}
	e := &tc.q[tc.tail&uint64(len(tc.q)-1)]
	tc.tail++
	e.done, e.merge, e.parts, e.sum, e.n, e.failed, e.mute = false, m, parts, 0, 0, false, false
	e.buf, e.held = e.buf[:0], 0
	return e
}

func (tc *Conn) slot(seq uint64) *pending { return &tc.q[seq&uint64(len(tc.q)-1)] }

// writeConn moves the completed prefix of the reply queue to the socket.
func (l *Loop) writeConn(tc *Conn) {
	if tc.closed {
		return
	}
	for tc.head != tc.tail {
		e := tc.slot(tc.head)
		if !e.done {
			break
		}
		if !e.mute {
			tc.Out = append(tc.Out, e.buf...)
		}
		tc.noteReply(len(e.buf))
		tc.held -= e.held
		e.held = 0
		tc.head++
	}
	if tc.blockWait && tc.head > tc.blockSeq {
		tc.blockWait = false // its caller (writeTouched) processes on
	}
	if len(tc.Out) > 0 {
		l.queueOut(tc)
	}
	if tc.closing && tc.head == tc.tail && !tc.CloseNow {
		tc.CloseNow = true
		l.queueOut(tc)
	}
	if tc.moveTo >= 0 && tc.head == tc.tail {
		l.queueOut(tc) // every reply is out: the shell may move it now
	}
}

// queueOut puts tc on the list of connections with output for the shell.
func (l *Loop) queueOut(tc *Conn) {
	if !tc.queued {
		tc.queued = true
		l.outConns = append(l.outConns, tc)
	}
}

// room reports whether one more request of size bytes can go to peer o.
func (l *Loop) room(o, size int) bool {
	p := &l.peers[o]
	if p.credits >= p.repIn.Cap() || p.reqOut.Free() == 0 {
		return false
	}
	return size > p.reqOutA.Size()/2 || p.reqOutA.Fits(size)
}

// sendReq stages request args to loop o for tc's reply slot seq. room(o)
// must have said yes.
func (l *Loop) sendReq(tc *Conn, o int, seq uint64, r command.Req, handoff bool, rw *rwatch) {
	m := msg{kind: mReq, conn: tc, seq: seq, rw: rw, resp3: tc.sess.RESP3()}
	if handoff {
		m.kind, m.sess = mReqSess, tc.sess
	}
	l.stageReq(o, &m, r)
}

// stageReq stages request m carrying r to loop o, spending a credit: its
// arguments packed in the arena, its command resolved already.
func (l *Loop) stageReq(o int, m *msg, r command.Req) {
	p := &l.peers[o]
	m.cmd, m.unknownSub = r.Cmd, r.UnknownSub
	if err := stageTo(p.reqOut, p.reqOutA, m, packedLen(r.Args), func(b []byte) { pack(b, r.Args) }); err != nil {
		panic("server: request without room: " + err.Error()) // room() was checked
	}
	p.credits++
	l.stats.crossSent.Add(1)
}

// forward sends a single-owner request to loop o; rw goes with a
// handed-over EXEC whose watches live on o.
func (l *Loop) forward(tc *Conn, r command.Req, o int, handoff bool, rw *rwatch) bool {
	if !l.room(o, packedLen(r.Args)) {
		return false
	}
	seq := tc.tail
	tc.push(mergeNone, 1)
	l.sendReq(tc, o, seq, r, handoff, rw)
	tc.blockLoop = o
	if handoff {
		tc.handoff = true
	}
	return true
}

// ownerGroup collects the arguments of one owner's part of a split command.
type ownerGroup struct {
	args [][]byte
	used bool
}

// broadcast runs args on every loop and merges the replies. The local part
// runs first with the client's session: if it is refused (auth, ACL, syntax)
// that error is the reply and nothing is sent; otherwise the other loops run
// it as the client's user (mReqAs), so its key patterns filter KEYS there
// too, and the session itself is never shared.
func (l *Loop) broadcast(tc *Conn, r command.Req, m mergeKind) bool {
	if len(l.peers) == 1 {
		l.execLocal(tc, r)
		return true
	}
	size := packedLen(r.Args)
	for o := range l.peers {
		if o != l.idx && !l.room(o, size) {
			return false
		}
	}
	res := l.exec(tc.sess, r)
	if len(res.b) > 0 && res.b[0] == '-' {
		l.localReply(tc, res)
		return true
	}
	seq := tc.tail
	tc.push(m, len(l.peers))
	l.localPart(tc, seq, res)
	for o := range l.peers {
		if o != l.idx {
			l.stageReq(o, &msg{kind: mReqAs, conn: tc, seq: seq, user: tc.sess.User(), resp3: tc.sess.RESP3()}, r)
		}
	}
	return true
}

// localPart applies this loop's part of tc's split command seq, once its
// write is durable.
func (l *Loop) localPart(tc *Conn, seq uint64, r result) {
	if r.w != nil {
		l.waitPart(r.w, tc, seq, r.b)
		return
	}
	l.mergePart(tc.slot(seq), l.idx, r.b)
}

// isNull reports a null reply, RESP2's or RESP3's.
func isNull(b []byte) bool {
	return len(b) == 3 && b[0] == '_' || len(b) == 5 && (b[0] == '$' || b[0] == '*') && b[1] == '-'
}

// mergePart applies one part's reply b (from loop o) to e.
func (l *Loop) mergePart(e *pending, o int, b []byte) {
	switch {
	case e.merge == mergeNone:
		e.buf = append(e.buf[:0], b...)
		e.done = true
		return
	case len(b) > 0 && b[0] == '-':
		if !e.failed {
			e.failed = true
			e.buf = append(e.buf[:0], b...)
		}
	case e.failed:
	case e.merge == mergeSum || e.merge == mergeKillOld:
		if v, ok := parseIntReply(b); ok {
			e.sum += v
		}
	case e.merge == mergeClientList:
		if el := bulkLen(b); el >= 2 {
			if i := bytes.IndexByte(b, '\n'); i > 0 && i+1 <= el-2 {
				e.buf = append(e.buf, b[i+1:el-2]...)
			}
		}
	case e.merge == mergeArray:
		if cnt, body, ok := parseArrayHeader(b); ok {
			e.n += cnt
			e.buf = append(e.buf, body...)
		}
	case e.merge == mergeMget:
		e.subs[o] = append(e.subs[o][:0], b...)
	case e.merge == mergeRandom:
		// Reservoir sampling over the loops that found a key; a null
		// stands until one does.
		if isNull(b) {
			if e.n == 0 {
				e.buf = append(e.buf[:0], b...)
			}
		} else if e.n++; rand.Int64N(e.n) == 0 {
			e.buf = append(e.buf[:0], b...)
		}
	}
	e.parts--
	if e.parts > 0 {
		return
	}
	e.done = true
	if e.failed {
		return
	}
	switch e.merge {
	case mergeSum:
		e.buf = resp.AppendInt(e.buf[:0], e.sum)
	case mergeOK:
		e.buf = resp.AppendOK(e.buf[:0])
	case mergeKillOld:
		if e.sum > 0 {
			e.buf = resp.AppendOK(e.buf[:0])
		} else {
			e.buf = resp.AppendError(e.buf[:0], "ERR No such client")
		}
	case mergeClientList:
		body := sortClientLines(e.buf)
		e.buf = resp.AppendBulk(e.buf[:0], body)
	case mergeArray:
		body := append([]byte(nil), e.buf...)
		e.buf = append(resp.AppendArray(e.buf[:0], int(e.n)), body...)
	case mergeMget:
		e.buf = resp.AppendArray(e.buf[:0], len(e.order))
		// Consume views of the sub-replies, keeping subs' buffers whole
		// for the next merge (no allocation once they have grown).
		e.view = append(e.view[:0], e.subs...)
		for i := range e.view {
			if len(e.view[i]) > 0 {
				_, e.view[i], _ = parseArrayHeader(e.view[i])
			}
		}
		for _, o := range e.order {
			el := bulkLen(e.view[o])
			e.buf = append(e.buf, e.view[o][:el]...)
			e.view[o] = e.view[o][el:]
		}
	}
}

// parseIntReply parses ":n\r\n".
func parseIntReply(b []byte) (int64, bool) {
	if len(b) < 4 || b[0] != ':' {
		return 0, false
	}
	return resp.ParseInt(b[1 : len(b)-2])
}

// parseArrayHeader splits "*n\r\n<body>".
func parseArrayHeader(b []byte) (int64, []byte, bool) {
	if len(b) < 4 || b[0] != '*' {
		return 0, nil, false
	}
	for i := 1; i+1 < len(b); i++ {
		if b[i] == '\r' {
			n, ok := resp.ParseInt(b[1:i])
			return n, b[i+2:], ok
		}
	}
	return 0, nil, false
}

// bulkLen is the length of the bulk (or null bulk) reply at the start of b.
func bulkLen(b []byte) int {
	if len(b) >= 3 && b[0] == '_' {
		return 3 // RESP3's null
	}
	for i := 1; i+1 < len(b); i++ {
		if b[i] == '\r' {
			n, _ := resp.ParseInt(b[1:i])
			if n < 0 {
				return i + 2
			}
			return i + 2 + int(n) + 2
		}
	}
	return len(b)
}
