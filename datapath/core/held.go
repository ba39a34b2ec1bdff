package core

// Held replies: a failed AUTH past the free attempts leaves a delay
// (command.Session.TakeReplyDelay). Its reply takes the connection's slot
// as usual but is released only once the loop's clock (the now of Drain
// and Traffic) passes its due time; until then the connection is paused
// (txWait), so its later requests, further guesses among them, wait unread
// in its socket. Nothing blocks: other connections are served meanwhile,
// and the shell's periodic Drain (the expiry tick) releases the reply.

type heldReply struct {
	tc    *Conn
	seq   uint64
	dueMs int64
}

// holdReply queues b for tc, released at l.now + delayMs.
func (l *Loop) holdReply(tc *Conn, b []byte, delayMs int64) {
	e := tc.push(mergeNone, 0)
	e.buf = append(e.buf[:0], b...)
	tc.txWait = true
	l.held = append(l.held, heldReply{tc: tc, seq: tc.tail - 1, dueMs: l.now + delayMs})
}

// releaseHeld releases the held replies due at l.now.
func (l *Loop) releaseHeld() {
	if len(l.held) == 0 {
		return
	}
	keep := l.held[:0]
	for _, h := range l.held {
		switch {
		case h.tc.closed:
		case h.dueMs > l.now:
			keep = append(keep, h)
		default:
			h.tc.slot(h.seq).done = true
			h.tc.txWait = false
			l.touch(h.tc)
		}
	}
	clear(l.held[len(keep):])
	l.held = keep
}

// HeldReplies reports how many replies wait for their delay; the shell's
// tick keeps draining while there are any.
func (l *Loop) HeldReplies() int { return len(l.held) }
