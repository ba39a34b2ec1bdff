package core

import (
	"github.com/dorivo/dorivo/datapath/command"
	"github.com/dorivo/dorivo/datapath/resp"
	"github.com/dorivo/dorivo/shardstore/keyspace"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// WATCH across loops. The server, not the session, keeps watches: a
// connection has one rwatch per loop owning keys it watches, registered in
// that loop's keyspace with a Watcher of its own, so a write on that loop
// marks only that loop's Watcher and no two loops write the same memory.
// An rwatch is created by the connection's loop and from then on touched
// only by its owner loop, through messages on the request ring (in order
// with the connection's other requests to that loop): mWatch registers
// keys, mUnwatch drops them. EXEC checks them on their owners: in place for
// a transaction on one loop, in the prepare phase across loops (the watched
// keys are locked too, so they cannot change between the check and the
// commit). EXEC, DISCARD, UNWATCH and closing the connection unregister
// them on every loop that has some.
type rwatch struct {
	w    keyspace.Watcher
	keys [][]byte // owned by the owner loop
}

// watchOn registers keys for rw on this loop. Like Redis, a watch that is
// already dirty takes no more keys.
func (l *Loop) watchOn(rw *rwatch, keys [][]byte) {
	if rw.w.Dirty {
		return
	}
outer:
	for _, k := range keys {
		for _, have := range rw.keys {
			if string(have) == string(k) {
				continue outer
			}
		}
		l.ks.Watch(k, &rw.w, l.now)
		rw.keys = append(rw.keys, append([]byte(nil), k...))
	}
}

// unwatchAll drops every key of rw on this loop.
func (l *Loop) unwatchAll(rw *rwatch) {
	for _, k := range rw.keys {
		l.ks.Unwatch(k, &rw.w)
	}
	clear(rw.keys)
	rw.keys = rw.keys[:0]
	rw.w.Dirty = false
}

// watchDirty reports whether EXEC must abort because of rw: a watched key
// was written, or expired since it was watched.
func (l *Loop) watchDirty(rw *rwatch) bool {
	if rw.w.Dirty {
		return true
	}
	for _, k := range rw.keys {
		if l.ks.WatchedExpired(k, &rw.w, l.now) {
			return true
		}
	}
	return false
}

// rwOf returns tc's rwatch for loop o, creating it.
func (tc *Conn) rwOf(o, loops int) *rwatch {
	if tc.rw == nil {
		tc.rw = make([]*rwatch, loops)
	}
	if tc.rw[o] == nil {
		tc.rw[o] = &rwatch{}
	}
	return tc.rw[o]
}

func (tc *Conn) watchesOn(o int) bool {
	for _, w := range tc.wloops {
		if int(w) == o {
			return true
		}
	}
	return false
}

// dispatchWatch runs WATCH outside MULTI: local keys are registered in
// place, the others by their owners, and the reply is +OK once all are.
func (l *Loop) dispatchWatch(tc *Conn, r command.Req) bool {
	if msg := command.CheckReq(tc.sess, r); msg != "" {
		command.NoteRejected(tc.sess, r, msg, l.now) // ACL LOG
		l.localReply(tc, now(l.errReply(msg)))
		return true
	}
	args := r.Args
	n := len(l.peers)
	if len(l.group) != n {
		l.group = make([]ownerGroup, n)
	}
	for i := range l.group {
		l.group[i].args = append(l.group[i].args[:0], args[0])
		l.group[i].used = false
	}
	for _, k := range args[1:] {
		g := &l.group[l.cfg.Table.Owner(slot.Of(k))]
		g.used = true
		g.args = append(g.args, k)
	}
	remote := 0
	for o := range l.group {
		if l.group[o].used && o != l.idx {
			remote++
			if !l.room(o, packedLen(l.group[o].args)) {
				return false
			}
		}
	}
	for o := range l.group {
		if l.group[o].used && !tc.watchesOn(o) {
			tc.wloops = append(tc.wloops, uint8(o))
		}
	}
	if g := &l.group[l.idx]; g.used {
		l.watchOn(tc.rwOf(l.idx, n), g.args[1:])
	}
	if remote == 0 {
		l.localReply(tc, now(resp.AppendOK(l.reply[:0])))
		return true
	}
	seq := tc.tail
	tc.push(mergeOK, remote)
	for o := range l.group {
		if g := &l.group[o]; g.used && o != l.idx {
			l.stageReq(o, &msg{kind: mWatch, conn: tc, seq: seq, rw: tc.rwOf(o, n)}, command.Req{Args: g.args, Cmd: r.Cmd})
		}
	}
	return true
}

// unwatchRoom reports whether tc's watches on other loops can be dropped
// now (one request slot per loop).
func (l *Loop) unwatchRoom(tc *Conn) bool {
	for _, o := range tc.wloops {
		if int(o) != l.idx && !l.room(int(o), 0) {
			return false
		}
	}
	return true
}

// dropWatches unregisters tc's watches on every loop; unwatchRoom must
// have said yes, unless the connection is closing (then a loop without
// room gets the request later, from the drain).
func (l *Loop) dropWatches(tc *Conn) {
	for _, o := range tc.wloops {
		rw := tc.rw[o]
		if int(o) == l.idx {
			l.unwatchAll(rw)
			continue
		}
		if !l.sendUnwatch(int(o), rw) {
			l.unwatchLater = append(l.unwatchLater, laterUnwatch{int(o), rw})
		}
	}
	tc.wloops = tc.wloops[:0]
}

type laterUnwatch struct {
	o  int
	rw *rwatch
}

func (l *Loop) sendUnwatch(o int, rw *rwatch) bool {
	if !l.room(o, 0) {
		return false
	}
	p := &l.peers[o]
	m := msg{kind: mUnwatch, rw: rw}
	if !p.reqOut.Stage(&m) {
		return false
	}
	p.credits++
	l.stats.crossSent.Add(1)
	return true
}

// retryUnwatches sends the unwatches closed connections left behind.
func (l *Loop) retryUnwatches() {
	w := 0
	for _, u := range l.unwatchLater {
		if !l.sendUnwatch(u.o, u.rw) {
			l.unwatchLater[w] = u
			w++
		}
	}
	clear(l.unwatchLater[w:])
	l.unwatchLater = l.unwatchLater[:w]
}
