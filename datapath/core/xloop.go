package core

import (
	"github.com/dorivo/dorivo/datapath/resp"
	"github.com/dorivo/dorivo/datapath/svctime"
)

// serveRequests runs every request loop j has published to this loop and
// stages the replies. Credits guarantee the reply ring has a slot for each.
// A request touching a key locked by a cross-loop transaction is parked in
// the deferred queue, and so is every later request from j while one is
// parked (j's order); when that queue is full the rest stays in the ring
// (backpressure on j) until locks are released (settle).
func (l *Loop) serveRequests(j int) {
	p := &l.peers[j]
	n := p.reqIn.Len()
	if n == 0 {
		return
	}
	t0 := l.tick()
	for i := range n {
		m := p.reqIn.Peek(i)
		if l.defCount[j] > 0 {
			l.readAheadMsg(m) // parked behind another: fetch its values now
		}
		if l.defCount[j] > 0 || l.mustWait(m) {
			if !l.deferMsg(j, m) {
				n = i
				break
			}
		} else {
			l.serveMsg(j, m)
			t0 = l.observe(svctime.Remote, t0)
		}
		if !m.heap && m.end != 0 {
			p.reqInA.Free(m.end)
		}
		*m = msg{}
	}
	p.reqIn.Release(n)
}

// serveMsg runs one request from loop j (j == l.idx: a local datagram
// that was deferred) and stages its reply.
func (l *Loop) serveMsg(j int, m *msg) {
	if j != l.idx {
		// Counted before the reply leaves: a client that has it sees the
		// count.
		l.stats.crossRecv.Add(1)
	}
	p := &l.peers[j]
	r := msg{conn: m.conn, seq: m.seq}
	switch m.kind {
	case mReq, mReqSess, mReqAs:
		req := l.req(m)
		sess := p.sess
		switch m.kind {
		case mReqSess:
			sess = m.sess
		case mReqAs:
			sess = p.asSess
			sess.ActAs(m.user)
		}
		if m.kind != mReqSess {
			sess.SpeakRESP3(m.resp3)
		}
		if m.rw != nil && l.watchDirty(m.rw) {
			sess.SetWatchDirty() // a handed-over EXEC watching keys here
		}
		r.kind = mReply
		if res := l.exec(sess, req); res.blk != nil {
			l.parkPeer(j, &r, req, sess, res.blk)
		} else if res.w != nil {
			l.waitPeer(res.w, j, &r, res.b)
		} else {
			l.stageReply(p, &r, res.b)
		}
		if m.rw != nil {
			l.unwatchAll(m.rw)
		}
	case mWatch:
		l.watchOn(m.rw, l.req(m).Args[1:])
		r.kind = mReply
		l.stageReply(p, &r, resp.AppendOK(l.reply[:0]))
	case mUnwatch:
		l.unwatchAll(m.rw)
		r.kind = mAck
		l.stageReply(p, &r, nil)
	case mUnblock:
		l.unpark(j, m.conn, m.seq)
		r.kind = mAck
		l.stageReply(p, &r, nil)
	case mDatagram:
		d := l.datagramOf(m)
		l.serveDatagram(&d)
		if j == l.idx {
			return
		}
		r.kind = mDatagramDone
		l.stageReply(p, &r, nil)
	}
}

// stageReply stages a reply to peer p, copying b into the reply arena or,
// when the arena is full, into a heap buffer: a reply is never delayed.
func (l *Loop) stageReply(p *peer, r *msg, b []byte) {
	if err := stageTo(p.repOut, p.repOutA, r, len(b), func(dst []byte) { copy(dst, b) }); err == nil {
		return
	}
	r.buf, r.heap, r.end = append([]byte(nil), b...), true, 0
	if !p.repOut.Stage(r) {
		panic("server: reply ring full despite credits")
	}
}

// takeReplies applies every reply loop j has sent back.
func (l *Loop) takeReplies(j int) {
	p := &l.peers[j]
	n := p.repIn.Len()
	if n == 0 {
		return
	}
	for i := range n {
		m := p.repIn.Peek(i)
		p.credits--
		if m.kind == mReply {
			tc := m.conn
			if !tc.closed {
				if e := tc.slot(m.seq); e.merge == mergeScan {
					l.scanPart(tc, m.seq, m.buf)
				} else {
					l.mergePart(e, j, m.buf)
				}
				if !tc.touched {
					tc.touched = true
					l.touched = append(l.touched, tc)
				}
			}
			if tc.handoff && m.seq == tc.tail-1 {
				// The lent session is back.
				tc.handoff = false
				if tc.sess.Closing {
					tc.closing = true
				}
				if tc.closed {
					tc.sess.Close()
				}
			}
		}
		if !m.heap && m.end != 0 {
			p.repInA.Free(m.end)
		}
		*m = msg{}
	}
	p.repIn.Release(n)
}

// writeTouched writes the replies that arrived and resumes connections
// whose lent session came back.
func (l *Loop) writeTouched() {
	list := l.touched
	l.touched = l.touched[:0]
	for _, tc := range list {
		tc.touched = false
		l.writeConn(tc)
		if !tc.handoff && !tc.stalled {
			l.process(tc)
		}
	}
}
