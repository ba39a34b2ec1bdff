package core

import (
	"hash/maphash"

	"github.com/dorivo/dorivo/datapath/command"
)

// Key locks. A cross-loop transaction locks its keys on every loop it
// touches from its prepare until its commit or abort (two-phase locking,
// see xtx.go). The lock table is the loop's own: keyed by a 64-bit hash of
// the key so that taking a lock allocates nothing; two keys with the same hash
// only make a transaction or a request wait when it need not, never the
// reverse. Not covered by locks: FLUSHALL/FLUSHDB, KEYS, DBSIZE and SCAN,
// which are not atomic across loops anyway, and keyless whole-keyspace
// commands inside a cross-loop MULTI, which see the coordinator's loop
// only. A request touching a locked key waits: a local connection stalls
// (its bytes stay in gnet's buffer), a request from another loop is parked
// in the loop's bounded deferred queue, in order per sending loop.

var lockSeed = maphash.MakeSeed()

func keyHash(k []byte) uint64 { return maphash.Bytes(lockSeed, k) }

// keyHashString is keyHash of a string key (maphash hashes the bytes,
// however they are passed).
func keyHashString(k string) uint64 { return maphash.String(lockSeed, k) }

// keyLock is one locked key hash: the transaction locking it and how many of
// its keys have that hash.
type keyLock struct {
	x *xtx
	n int32
}

// mustWaitFor reports whether the command args with keys must wait: a
// key's value is cold and the command reads it (its fetch is started
// here, cold.go), or a transaction locks a key.
func (l *Loop) mustWaitFor(r command.Req, keys [][]byte) bool {
	if l.cold != nil && l.ks.ColdLen() > 0 && r.ReadsValues() && l.coldAny(keys) {
		return true
	}
	return l.lockedAny(keys)
}

// lockedAny reports whether a transaction locks any of keys.
func (l *Loop) lockedAny(keys [][]byte) bool {
	if len(l.locks) == 0 {
		return false
	}
	for _, k := range keys {
		if _, ok := l.locks[keyHash(k)]; ok {
			return true
		}
	}
	return false
}

// conflicts reports whether a transaction other than x locks any of keys.
func (l *Loop) conflicts(x *xtx, keys [][]byte) bool {
	if len(l.locks) == 0 {
		return false
	}
	for _, k := range keys {
		if h, ok := l.locks[keyHash(k)]; ok && h.x != x {
			return true
		}
	}
	return false
}

func (l *Loop) lock(x *xtx, keys [][]byte) {
	for _, k := range keys {
		h := keyHash(k)
		e := l.locks[h]
		e.x = x
		e.n++
		l.locks[h] = e
	}
}

// unlock drops x's locks on keys; the loop then retries what waited.
func (l *Loop) unlock(x *xtx, keys [][]byte) {
	for _, k := range keys {
		h := keyHash(k)
		e, ok := l.locks[h]
		if !ok || e.x != x {
			continue
		}
		if e.n--; e.n == 0 {
			delete(l.locks, h)
		} else {
			l.locks[h] = e
		}
	}
	l.unlocked = true
}

// deferred is a request from another loop (or a local datagram, src ==
// the loop's own index) parked because it touches a locked key. It owns a
// copy of the request bytes, reused by later entries.
type deferred struct {
	src int
	m   msg
	own []byte
}

// mustWait reports whether cross-loop message m touches a locked key. A
// handed-over EXEC touches the keys of the session's queue.
func (l *Loop) mustWait(m *msg) bool {
	if len(l.locks) == 0 && (l.cold == nil || l.ks.ColdLen() == 0) {
		return false
	}
	switch m.kind {
	case mReq, mReqSess, mReqAs:
		r := l.req(m)
		l.keys = r.Keys(l.keys[:0])
		if l.mustWaitFor(r, l.keys) {
			return true
		}
		if m.kind == mReqSess && r.Is(command.RouteExec) {
			return l.queueWaits(m.sess)
		}
	case mDatagram:
		d := l.datagramOf(m)
		return l.datagramWaits(&d)
	}
	return false
}

// queueWaits reports whether a key of s's MULTI queue is locked, or cold and
// read by its command. The cold keys of every queued command are checked
// as one set, so that all are fetched, and pinned, together (cold.go).
func (l *Loop) queueWaits(s *command.Session) bool {
	cold := l.cold != nil && l.ks.ColdLen() > 0
	if len(l.locks) == 0 && !cold {
		return false
	}
	l.keys, l.valueKeys = l.keys[:0], l.valueKeys[:0]
	for _, q := range s.Queued() {
		n := len(l.keys)
		l.keys = q.Keys(l.keys)
		if cold && q.ReadsValues() {
			l.valueKeys = append(l.valueKeys, l.keys[n:]...)
		}
	}
	return cold && l.coldAny(l.valueKeys) || l.lockedAny(l.keys)
}

// deferMsg parks m from src; false when the queue is full (the caller
// leaves m in its ring: backpressure on the sending loop).
func (l *Loop) deferMsg(src int, m *msg) bool {
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
func (l *Loop) runDeferred() {
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

// settle runs what waited on locks released since the last call: parked
// requests first (they came first), then rings left unread because the
// deferred queue was full, then stalled local connections, and only then
// transactions waiting to prepare, so that plain requests are not starved
// by transactions taking the same keys again.
func (l *Loop) settle() {
	for l.unlocked {
		l.unlocked = false
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

// Lock locks keys as a cross-loop transaction would, until unlock is
// called (on the loop): for tests and inspection of the waiting paths.
func (l *Loop) Lock(keys [][]byte) (unlock func()) {
	x := &xtx{}
	l.lock(x, keys)
	return func() {
		l.unlock(x, keys)
		l.afterWork()
	}
}

// Outstanding counts what the loop still tracks for transactions: locked
// key hashes, waiting prepares, parked requests, coordinated transactions
// and watched keys. A quiet loop has none (tests).
func (l *Loop) Outstanding() int {
	return len(l.locks) + len(l.waitq) + len(l.defq) + l.txCount + l.ks.WatchedKeys()
}
