package server

import (
	"hash/maphash"

	"github.com/dorivo/dorivo/datapath/command"
	"github.com/dorivo/dorivo/datapath/resp"
	"github.com/dorivo/dorivo/datapath/wire"
)

// Holds. A cross-loop transaction holds its keys on every loop it touches
// from its prepare until its commit or abort (two-phase locking, see
// xtx.go). The hold table is the loop's own: keyed by a 64-bit hash of the
// key so that taking a hold allocates nothing; two keys with the same hash
// only make a transaction or a request wait when it need not, never the
// reverse. A request touching a held key waits: a local connection stalls
// (its bytes stay in gnet's buffer), a request from another loop is parked
// in the loop's bounded deferred queue, in order per sending loop.

var holdSeed = maphash.MakeSeed()

func keyHash(k []byte) uint64 { return maphash.Bytes(holdSeed, k) }

// keyHashString is keyHash of a string key (maphash hashes the bytes,
// however they are passed).
func keyHashString(k string) uint64 { return maphash.String(holdSeed, k) }

// hold is one held key hash: the transaction holding it and how many of
// its keys have that hash.
type hold struct {
	x *xtx
	n int32
}

// mustWaitFor reports whether the command args with keys must wait: a
// key's value is cold and the command reads it (its fetch is started
// here, cold.go), or a transaction holds a key.
func (l *loop) mustWaitFor(args, keys [][]byte) bool {
	if l.cold != nil && l.ks.ColdLen() > 0 && command.ReadsValues(args) && l.coldAny(keys) {
		return true
	}
	return l.heldAny(keys)
}

// heldAny reports whether a transaction holds any of keys.
func (l *loop) heldAny(keys [][]byte) bool {
	if len(l.holds) == 0 {
		return false
	}
	for _, k := range keys {
		if _, ok := l.holds[keyHash(k)]; ok {
			return true
		}
	}
	return false
}

// conflicts reports whether a transaction other than x holds any of keys.
func (l *loop) conflicts(x *xtx, keys [][]byte) bool {
	if len(l.holds) == 0 {
		return false
	}
	for _, k := range keys {
		if h, ok := l.holds[keyHash(k)]; ok && h.x != x {
			return true
		}
	}
	return false
}

func (l *loop) acquire(x *xtx, keys [][]byte) {
	for _, k := range keys {
		h := keyHash(k)
		e := l.holds[h]
		e.x = x
		e.n++
		l.holds[h] = e
	}
}

// release drops x's holds on keys; the loop then retries what waited.
func (l *loop) release(x *xtx, keys [][]byte) {
	for _, k := range keys {
		h := keyHash(k)
		e, ok := l.holds[h]
		if !ok || e.x != x {
			continue
		}
		if e.n--; e.n == 0 {
			delete(l.holds, h)
		} else {
			l.holds[h] = e
		}
	}
	l.released = true
}

// deferred is a request from another loop (or a local datagram, src ==
// the loop's own index) parked because it touches a held key. It owns a
// copy of the request bytes, reused by later entries.
type deferred struct {
	src int
	m   msg
	own []byte
}

// mustWait reports whether cross-loop message m touches a held key. A
// handed-over EXEC touches the keys of the session's queue.
func (l *loop) mustWait(m *msg) bool {
	if len(l.holds) == 0 && (l.cold == nil || l.ks.ColdLen() == 0) {
		return false
	}
	switch m.kind {
	case mReq, mReqSess, mReqAs:
		args, _, _ := resp.Parse(m.buf, l.args[:0], noLimits)
		l.args = args[:0]
		l.keys = command.Keys(args, l.keys[:0])
		if l.mustWaitFor(args, l.keys) {
			return true
		}
		if m.kind == mReqSess && len(args) == 1 && isExec(args[0]) {
			return l.queueHeld(m.sess)
		}
	case mDatagram:
		var req wire.Request
		if wire.ParseRequest(m.buf, &req) == nil {
			return l.datagramWaits(&req)
		}
	}
	return false
}

// queueHeld reports whether a key of s's MULTI queue is held, or cold and
// read by its command. The cold keys of every queued command are checked
// as one set, so that all are fetched, and pinned, together (cold.go).
func (l *loop) queueHeld(s *command.Session) bool {
	cold := l.cold != nil && l.ks.ColdLen() > 0
	if len(l.holds) == 0 && !cold {
		return false
	}
	l.keys, l.valueKeys = l.keys[:0], l.valueKeys[:0]
	for _, args := range s.Queued() {
		n := len(l.keys)
		l.keys = command.Keys(args, l.keys)
		if cold && command.ReadsValues(args) {
			l.valueKeys = append(l.valueKeys, l.keys[n:]...)
		}
	}
	return cold && l.coldAny(l.valueKeys) || l.heldAny(l.keys)
}

// datagramWaits is mustWaitFor for a datagram request.
func (l *loop) datagramWaits(req *wire.Request) bool {
	l.keys = append(l.keys[:0], req.Key)
	if req.Op == wire.OpGet && l.coldAny(l.keys) {
		return true
	}
	return l.heldAny(l.keys)
}

func isExec(b []byte) bool {
	return len(b) == 4 && b[0]|0x20 == 'e' && b[1]|0x20 == 'x' && b[2]|0x20 == 'e' && b[3]|0x20 == 'c'
}

// deferMsg parks m from src; false when the queue is full (the caller
// leaves m in its ring: backpressure on the sending loop).
func (l *loop) deferMsg(src int, m *msg) bool {
	if len(l.defq) == cap(l.defq) {
		return false
	}
	l.defq = l.defq[:len(l.defq)+1]
	e := &l.defq[len(l.defq)-1]
	e.src = src
	e.own = append(e.own[:0], m.buf...)
	e.m = *m
	e.m.buf, e.m.heap, e.m.end = e.own, true, 0
	l.defCount[src]++
	l.stats.deferred.Add(1)
	return true
}

// runDeferred serves the parked requests whose keys are free, keeping each
// source's order: once one entry of a source still waits, the later
// entries of that source wait behind it.
func (l *loop) runDeferred() {
	if len(l.defq) == 0 {
		return
	}
	clear(l.defBlocked)
	w := 0
	for i := range l.defq {
		e := &l.defq[i]
		if l.defBlocked[e.src] || l.mustWait(&e.m) {
			l.defBlocked[e.src] = true
			l.defq[w], l.defq[i] = l.defq[i], l.defq[w]
			w++
			continue
		}
		l.serveMsg(e.src, &e.m)
		l.defCount[e.src]--
		e.m = msg{}
	}
	l.defq = l.defq[:w]
}

// settle runs what waited on holds released since the last call: parked
// requests first (they came first), then rings left unread because the
// deferred queue was full, then stalled local connections, and only then
// transactions waiting to prepare, so that plain requests are not starved
// by transactions taking the same keys again.
func (l *loop) settle() {
	for l.released {
		l.released = false
		l.runDeferred()
		for j := range l.peers {
			if j != l.idx {
				l.serveRequests(j)
			}
		}
		l.resumeStalled()
		l.grantWaiters()
	}
}
