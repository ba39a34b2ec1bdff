package server

import (
	"errors"
	"strconv"

	"github.com/dorivo/dorivo/datapath/command"
	"github.com/dorivo/dorivo/datapath/resp"
	"github.com/dorivo/dorivo/shardstore/slot"
	"github.com/panjf2000/gnet/v2"
)

// mergeKind says how the parts of a split command combine into one reply.
type mergeKind uint8

const (
	mergeNone  mergeKind = iota // one part, its reply is the reply
	mergeSum                    // integer replies added (DEL, EXISTS, DBSIZE)
	mergeOK                     // +OK when every part said +OK (MSET, FLUSHALL)
	mergeArray                  // arrays concatenated (KEYS)
	mergeMget                   // per-owner MGET arrays interleaved by key order
	mergeScan                   // a SCAN reply whose final cursor continues on the next loop
)

// pending is one reply slot of a connection, in request order.
type pending struct {
	done   bool
	merge  mergeKind
	parts  int
	sum    int64
	n      int64
	buf    []byte   // the reply, or the first error of a merge
	failed bool     // buf holds an error reply
	subs   [][]byte // mergeMget: the sub-reply of each owner loop
	view   [][]byte // mergeMget: what is left of each sub-reply while merging
	order  []uint8  // mergeMget: the owner of each key, in key order (loops <= 256)
}

// tconn is a TCP client: its session and its ordered reply queue. Only its
// loop touches it.
type tconn struct {
	c    gnet.Conn
	sess *command.Session
	// q holds reply slots head..tail-1 (sequence numbers), q[seq&mask].
	q          []pending
	head, tail uint64
	out        []byte

	rd resp.Reader // parse state: a request split across reads resumes where it stopped

	stalled  bool // waiting on the loop's stalled list for room or a hold
	handoff  bool // session lent to another loop; parsing paused
	txWait   bool // a cross-loop transaction of this connection is in flight
	closing  bool // close once every reply is written (protocol error, QUIT)
	closeNow bool
	closed   bool
	touched  bool
	// rw[o] is the connection's WATCH registration on loop o (watch.go);
	// wloops lists the loops where it has keys.
	rw     []*rwatch
	wloops []uint8
}

const errMaxClients = "ERR max number of clients reached"

// OnOpen accepts a TCP client or completes a loop's bootstrap.
func (l *loop) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	if _, ok := c.Context().(bootMarker); ok {
		l.boot(c)
		return nil, gnet.Close
	}
	l.stats.accepted.Add(1)
	if l.srv.clients.Add(1) > int64(l.srv.cfg.MaxClients) {
		l.srv.clients.Add(-1)
		return resp.AppendError(nil, errMaxClients), gnet.Close
	}
	l.stats.conns.Add(1)
	tc := &tconn{c: c, sess: command.NewSession(l.srv.cfg.Node)}
	if a := c.RemoteAddr(); a != nil {
		tc.sess.Addr = a.String()
	}
	c.SetContext(tc)
	return nil, gnet.None
}

// OnClose releases a client. A session lent to another loop is closed when
// it comes back (takeReplies).
func (l *loop) OnClose(c gnet.Conn, _ error) gnet.Action {
	tc, ok := c.Context().(*tconn)
	if !ok {
		return gnet.None
	}
	tc.closed = true
	l.srv.clients.Add(-1)
	l.stats.conns.Add(^uint64(0))
	if !tc.handoff {
		tc.sess.Close()
	}
	if len(tc.wloops) > 0 {
		l.dropWatches(tc)
		l.flushRings()
	}
	return gnet.None
}

// process parses and dispatches as many of tc's buffered requests as it
// can. It stops, leaving the rest in gnet's inbound buffer, when a request
// needs room that is not there (backpressure) or the session is lent out.
func (l *loop) process(tc *tconn) {
	if tc.closed || tc.stalled || tc.handoff || tc.txWait || tc.closing {
		return
	}
	c := tc.c
	if c.InboundBuffered() > l.srv.cfg.MaxQueryBuffer {
		tc.closing, tc.closeNow = true, true // Redis closes over client-query-buffer-limit, no reply
		_ = c.Close()
		return
	}
	buf, _ := c.Peek(-1)
	off := 0
	for off < len(buf) {
		if int(tc.tail-tc.head) >= l.srv.cfg.MaxPending {
			l.stall(tc)
			break
		}
		lim := l.limits
		lim.Unauthenticated = !tc.sess.Authenticated() // Redis's stricter limits before AUTH
		// CONFIG SET proto-max-bulk-len applies to the next request, as in Redis.
		lim.MaxBulkLen = l.srv.cfg.Node.Config().ProtoMaxBulkLen
		args, n, complete, err := tc.rd.Parse(buf[off:], l.args[:0], lim)
		if err != nil {
			var perr resp.Error
			if errors.As(err, &perr) {
				l.localReply(tc, resp.AppendError(l.reply[:0], string(perr)))
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
		if !l.dispatch(tc, args) {
			l.stall(tc) // tc.rd keeps the request: the next Parse returns it again
			if tc.sess.Authenticated() {
				l.readAhead(buf[off+n:], lim)
			}
			break
		}
		tc.rd.Done()
		l.stats.requests.Add(1)
		off += n
		if tc.handoff || tc.txWait || tc.closing {
			break
		}
	}
	if off > 0 {
		_, _ = c.Discard(off)
	}
	l.writeConn(tc)
}

func (l *loop) stall(tc *tconn) {
	if tc.stalled {
		return
	}
	tc.stalled = true
	l.stats.stalls.Add(1)
	l.stalled = append(l.stalled, tc)
}

// resumeStalled retries every connection that waited for room.
func (l *loop) resumeStalled() {
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
func (l *loop) plain(s *command.Session) bool {
	return l.srv.scratchAuth && s.Authenticated() && s.User() == "default" && !s.InMulti()
}

// ownerOf returns the loop owning every key of args: -1 when it has no keys,
// -2 when the keys span loops.
func (l *loop) ownerOf(args [][]byte) int {
	l.keys = command.Keys(args, l.keys[:0])
	owner := -1
	for _, k := range l.keys {
		o := l.srv.cfg.Table.Owner(slot.Of(k))
		if owner == -1 {
			owner = o
		} else if owner != o {
			return -2
		}
	}
	return owner
}

const errCrossLoop = "CROSSSLOT Keys in request don't hash to the same slot"

// dispatch routes one request. It returns false, having changed nothing,
// when the request needs ring room, credit, reply slots or keys that are
// not available now (held by a cross-loop transaction, or cold).
func (l *loop) dispatch(tc *tconn, args [][]byte) bool {
	cmd, _ := command.Lookup(args)
	name := ""
	if cmd != nil {
		name = cmd.Name
	}
	sess := tc.sess
	if sess.InMulti() {
		switch name {
		case "exec":
			return l.dispatchExec(tc, args)
		case "discard":
			if len(args) == 1 && len(tc.wloops) > 0 {
				if !l.unwatchRoom(tc) {
					return false
				}
				l.dropWatches(tc)
			}
		}
		l.execLocal(tc, args) // queued, or MULTI/WATCH refused inside MULTI
		return true
	}
	switch name {
	case "exec":
		l.execLocal(tc, args) // EXEC without MULTI
		return true
	case "watch":
		return l.dispatchWatch(tc, args)
	case "unwatch":
		if len(tc.wloops) > 0 && command.Check(sess, args) == "" {
			if !l.unwatchRoom(tc) {
				return false
			}
			l.dropWatches(tc)
		}
	case "mget", "mset", "msetnx", "del", "unlink", "exists", "touch":
		if l.ownerOf(args) == -2 {
			return l.crossCmd(tc, args, name)
		}
	case "dbsize":
		if len(args) == 1 {
			return l.broadcast(tc, args, mergeSum)
		}
	case "flushall", "flushdb":
		return l.broadcast(tc, args, mergeOK)
	case "keys":
		if len(args) == 2 {
			return l.broadcast(tc, args, mergeArray)
		}
	case "scan":
		if o, next, ok := l.srv.scanRoute(args); ok {
			return l.scan(tc, args, o, next)
		}
	}
	o := l.ownerOf(args)
	switch {
	case o == -2:
		l.localReply(tc, resp.AppendError(l.reply[:0], errCrossLoop))
		return true
	case o == l.idx && l.mustWaitFor(args, l.keys):
		return false // a transaction holds a key, or a value is cold: wait
	case o < 0 || o == l.idx:
		l.execLocal(tc, args)
		return true
	}
	return l.forward(tc, args, o, !l.plain(sess), nil)
}

// scan runs SCAN on loop o, the owner of the cursor's slot; when that loop
// has no more keys the reply's cursor 0 becomes the first slot of the next
// loop's range, so one client-side iteration walks every loop.
func (l *loop) scan(tc *tconn, args [][]byte, o int, next uint64) bool {
	if o == l.idx {
		l.localReply(tc, rewriteScanCursor(l.exec(tc.sess, args), next, &l.scratch))
		return true
	}
	if !l.room(o, cmdLen(args)) {
		return false
	}
	seq := tc.tail
	e := tc.push(mergeScan, 1)
	e.sum = int64(next)
	l.sendReq(tc, o, seq, args, !l.plain(tc.sess), nil)
	if !l.plain(tc.sess) {
		tc.handoff = true
	}
	return true
}

// rewriteScanCursor replaces the final cursor 0 of a SCAN reply with next
// (slot<<32, the next loop's first slot); next 0 leaves it.
func rewriteScanCursor(b []byte, next uint64, scratch *[]byte) []byte {
	const done = "*2\r\n$1\r\n0\r\n"
	if next == 0 || len(b) < len(done) || string(b[:len(done)]) != done {
		return b
	}
	c := strconv.AppendUint(nil, next, 10)
	out := append((*scratch)[:0], "*2\r\n$"...)
	out = strconv.AppendInt(out, int64(len(c)), 10)
	out = append(out, "\r\n"...)
	out = append(out, c...)
	out = append(out, "\r\n"...)
	out = append(out, b[len(done):]...)
	*scratch = out
	return out
}

// dispatchExec runs EXEC inside MULTI. A transaction whose keys and
// watches are all on one loop runs there whole, as before (the session
// travels with the EXEC when that loop is another one); one spanning loops
// runs as a cross-loop transaction (xtx.go).
func (l *loop) dispatchExec(tc *tconn, args [][]byte) bool {
	sess := tc.sess
	if sess.QueueAborted() || command.Check(sess, args) != "" {
		// EXECABORT: Redis discards the transaction and its watches.
		if !l.unwatchRoom(tc) {
			return false
		}
		l.dropWatches(tc)
		l.execLocal(tc, args)
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
		l.keys = command.Keys(q, l.keys[:0])
		for _, k := range l.keys {
			mark(l.srv.cfg.Table.Owner(slot.Of(k)))
		}
	}
	for _, o := range tc.wloops {
		mark(int(o))
	}
	if count > 1 {
		return l.crossExec(tc)
	}
	if only < 0 || only == l.idx {
		if l.queueHeld(sess) {
			return false
		}
		var rw *rwatch
		if tc.watchesOn(l.idx) {
			rw = tc.rw[l.idx]
			if l.watchDirty(rw) {
				sess.SetWatchDirty()
			}
		}
		l.execLocal(tc, args)
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
	if !l.forward(tc, args, only, true, rw) {
		return false
	}
	tc.wloops = tc.wloops[:0]
	return true
}

var discardArgs = [][]byte{[]byte("DISCARD")}

// quiet reports whether every earlier request of tc has its reply: a
// cross-loop transaction travels on the ctl rings and must not overtake
// the connection's requests still on a request ring.
func (l *loop) quiet(tc *tconn) bool {
	l.writeConn(tc)
	return tc.head == tc.tail
}

// crossExec starts EXEC of a transaction spanning loops.
func (l *loop) crossExec(tc *tconn) bool {
	if !l.quiet(tc) || l.txCount >= l.txMax {
		return false
	}
	sess := tc.sess
	x := l.newTx(tc, txExec)
	x.cmds = append(x.cmds, sess.Queued()...)
	for _, q := range x.cmds {
		l.planCmd(x, q, command.QueuedCheck(sess, q))
	}
	for _, o := range tc.wloops {
		p := &x.parts[o]
		p.used, p.rw = true, tc.rw[o]
	}
	tc.wloops = tc.wloops[:0]
	// End the MULTI: the transaction owns the queued commands now.
	l.reply, _ = command.Exec(sess, l.ks, discardArgs, l.now, l.reply[:0], nil)
	l.startTx(x)
	return true
}

// crossCmd runs a multi-key command whose keys span loops as a one-command
// transaction: atomic like one on a single loop.
func (l *loop) crossCmd(tc *tconn, args [][]byte, name string) bool {
	if msg := command.Check(tc.sess, args); msg != "" {
		l.localReply(tc, resp.AppendError(l.reply[:0], msg))
		return true
	}
	if (name == "mset" || name == "msetnx") && len(args)%2 == 0 {
		l.execLocal(tc, args) // arity error
		return true
	}
	if b, refused := l.refuseWrite(tc.sess, args); refused {
		l.localReply(tc, b) // durable.go: disk full or diverged
		return true
	}
	if !l.quiet(tc) || l.txCount >= l.txMax {
		return false
	}
	k := txCmd
	if name == "msetnx" {
		k = txMsetnx
	}
	x := l.newTx(tc, k)
	args = x.ownArgs(args)
	x.cmds = append(x.cmds, args)
	l.planCmd(x, args, "")
	l.startTx(x)
	return true
}

// exec runs args on this loop's keyspace, hands the writes' mutation
// records to the Mutations hook, and returns the reply (l.reply).
func (l *loop) exec(sess *command.Session, args [][]byte) []byte {
	if b, refused := l.refuseWrite(sess, args); refused {
		return b // durable.go: disk full or diverged
	}
	l.reply, l.muts = command.Exec(sess, l.ks, args, l.now, l.reply[:0], l.muts[:0])
	l.stats.executed.Add(1)
	if len(l.muts) > 0 && l.srv.cfg.Mutations != nil {
		l.srv.cfg.Mutations(l.idx, l.muts)
	}
	if len(l.muts) > 0 && l.dur != nil {
		l.propose(l.muts) // the reply is held until durable (durable.go)
	}
	return l.reply
}

func (l *loop) execLocal(tc *tconn, args [][]byte) {
	l.localReply(tc, l.exec(tc.sess, args))
	if tc.sess.Closing {
		tc.closing = true
	}
}

// localReply queues a complete reply in order.
func (l *loop) localReply(tc *tconn, b []byte) {
	if l.holdLocal(tc, b) {
		return
	}
	if tc.head == tc.tail {
		tc.out = append(tc.out, b...)
		return
	}
	e := tc.push(mergeNone, 0)
	e.buf = append(e.buf[:0], b...)
	e.done = true
}

// push appends a reply slot expecting parts parts and returns it.
func (tc *tconn) push(m mergeKind, parts int) *pending {
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
	e.done, e.merge, e.parts, e.sum, e.n, e.failed = false, m, parts, 0, 0, false
	e.buf = e.buf[:0]
	return e
}

func (tc *tconn) slot(seq uint64) *pending { return &tc.q[seq&uint64(len(tc.q)-1)] }

// writeConn moves the completed prefix of the reply queue to the socket.
func (l *loop) writeConn(tc *tconn) {
	if tc.closed {
		return
	}
	for tc.head != tc.tail {
		e := tc.slot(tc.head)
		if !e.done {
			break
		}
		tc.out = append(tc.out, e.buf...)
		tc.head++
	}
	if len(tc.out) > 0 {
		_, _ = tc.c.Write(tc.out)
		tc.out = tc.out[:0]
	}
	if tc.closing && tc.head == tc.tail && !tc.closeNow {
		tc.closeNow = true
		_ = tc.c.Close()
	}
}

// cmdLen is the RESP multibulk encoding length of args.
func cmdLen(args [][]byte) int {
	n := 1 + intLen(len(args)) + 2
	for _, a := range args {
		n += 1 + intLen(len(a)) + 2 + len(a) + 2
	}
	return n
}

func intLen(n int) int {
	d := 1
	for n >= 10 {
		n /= 10
		d++
	}
	return d
}

// encode writes args as a RESP multibulk into dst, which has exactly
// cmdLen(args) bytes.
func encode(dst []byte, args [][]byte) {
	b := dst[:0]
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, '\r', '\n')
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, '\r', '\n')
		b = append(b, a...)
		b = append(b, '\r', '\n')
	}
}

// room reports whether one more request of size bytes can go to peer o.
func (l *loop) room(o, size int) bool {
	p := &l.peers[o]
	if p.credits >= p.repIn.Cap() || p.reqOut.Free() == 0 {
		return false
	}
	return size > p.reqOutA.Size()/2 || p.reqOutA.Fits(size)
}

// sendReq stages request args to loop o for tc's reply slot seq. room(o)
// must have said yes.
func (l *loop) sendReq(tc *tconn, o int, seq uint64, args [][]byte, handoff bool, rw *rwatch) {
	m := msg{kind: mReq, conn: tc, seq: seq, rw: rw}
	if handoff {
		m.kind, m.sess = mReqSess, tc.sess
	}
	l.stageReq(o, &m, args)
}

// stageReq stages request m carrying args to loop o, spending a credit.
func (l *loop) stageReq(o int, m *msg, args [][]byte) {
	p := &l.peers[o]
	if err := stageTo(p.reqOut, p.reqOutA, m, cmdLen(args), func(b []byte) { encode(b, args) }); err != nil {
		panic("server: request without room: " + err.Error()) // room() was checked
	}
	p.credits++
	l.stats.crossSent.Add(1)
}

// forward sends a single-owner request to loop o; rw goes with a
// handed-over EXEC whose watches live on o.
func (l *loop) forward(tc *tconn, args [][]byte, o int, handoff bool, rw *rwatch) bool {
	if !l.room(o, cmdLen(args)) {
		return false
	}
	seq := tc.tail
	tc.push(mergeNone, 1)
	l.sendReq(tc, o, seq, args, handoff, rw)
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
func (l *loop) broadcast(tc *tconn, args [][]byte, m mergeKind) bool {
	if len(l.peers) == 1 {
		l.execLocal(tc, args)
		return true
	}
	size := cmdLen(args)
	for o := range l.peers {
		if o != l.idx && !l.room(o, size) {
			return false
		}
	}
	l.exec(tc.sess, args)
	if len(l.reply) > 0 && l.reply[0] == '-' {
		l.localReply(tc, l.reply)
		return true
	}
	seq := tc.tail
	tc.push(m, len(l.peers))
	l.part(tc, seq, l.idx, l.reply)
	for o := range l.peers {
		if o != l.idx {
			l.stageReq(o, &msg{kind: mReqAs, conn: tc, seq: seq, user: tc.sess.User()}, args)
		}
	}
	return true
}

// part applies one part's reply b (from loop o) to tc's slot seq.
func (l *loop) part(tc *tconn, seq uint64, o int, b []byte) {
	if o == l.idx && l.holdPart(tc, seq, b) {
		return
	}
	l.mergePart(tc.slot(seq), o, b)
}

// mergePart applies one part's reply b (from loop o) to e.
func (l *loop) mergePart(e *pending, o int, b []byte) {
	switch {
	case e.merge == mergeNone:
		e.buf = append(e.buf[:0], b...)
		e.done = true
		return
	case e.merge == mergeScan:
		e.buf = append(e.buf[:0], rewriteScanCursor(b, uint64(e.sum), &l.scratch)...)
		e.done = true
		return
	case len(b) > 0 && b[0] == '-':
		if !e.failed {
			e.failed = true
			e.buf = append(e.buf[:0], b...)
		}
	case e.failed:
	case e.merge == mergeSum:
		if v, ok := parseIntReply(b); ok {
			e.sum += v
		}
	case e.merge == mergeArray:
		if cnt, body, ok := parseArrayHeader(b); ok {
			e.n += cnt
			e.buf = append(e.buf, body...)
		}
	case e.merge == mergeMget:
		e.subs[o] = append(e.subs[o][:0], b...)
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
