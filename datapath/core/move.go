package core

import "github.com/dorivo/dorivo/shardstore/slot"

// Connections of tenants move to their home loop. A user whose key
// patterns confine it to one hash tag (command.Node.UserTag) has all its
// keys in one slot, so once a connection authenticates as such a user,
// every request it makes would cross to that slot's loop. Instead the
// connection itself moves there: it stops parsing right after the request
// that changed its user (its later bytes stay unread), and once every
// reply it is owed has gone out the shell hands the socket, the unread
// bytes and this Conn, with its session, MULTI state and watches, to the
// home loop (Release here, Adopt there). Nothing is in flight for it then,
// so no reply can arrive on the old loop. Inside MULTI the move waits for
// EXEC or DISCARD.

// checkHome recomputes tc's home loop after its user changed and, when it
// is another loop, marks tc to move there; true means tc must stop parsing.
func (l *Loop) checkHome(tc *Conn) bool {
	if tc.sess.InMulti() {
		return false // look again after the transaction
	}
	tc.home = tc.sess.User()
	tag, ok := l.cfg.Node.UserTag(tc.home)
	if !ok {
		return false
	}
	if o := l.cfg.Table.Owner(slot.OfTag([]byte(tag))); o != l.idx {
		tc.moveTo = o
		return true
	}
	return false
}

// MoveTo returns the loop tc is ready to move to: it waits for a move and
// is owed no reply. ok is false otherwise.
func (tc *Conn) MoveTo() (loop int, ok bool) {
	return tc.moveTo, tc.moveTo >= 0 && tc.head == tc.tail && !tc.closed && !tc.closing
}

// Release hands tc over to another loop: this loop forgets it without
// closing its session. Its unread bytes go with it (the shell's part).
func (l *Loop) Release(tc *Conn) {
	tc.closed = true // stale references on this loop skip it
	l.forget(tc)
}

// Adopt serves tc, released by another loop, from now on: in holds its
// unread bytes, shell the shell's new handle.
func (l *Loop) Adopt(tc *Conn, in Input, shell any) {
	tc.in, tc.Shell = in, shell
	tc.closed, tc.queued, tc.touched, tc.stalled = false, false, false, false
	tc.moveTo = -1
	tc.paused, tc.unsent = false, 0
	l.conns[tc] = struct{}{}
	l.stats.conns.Add(1)
	l.stats.moved.Add(1)
}
