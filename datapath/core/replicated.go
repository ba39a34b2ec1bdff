package core

import (
	"errors"
	"strconv"
	"time"

	"github.com/dorivo/dorivo/datapath/command"
	"github.com/dorivo/dorivo/datapath/resp"
	"github.com/dorivo/dorivo/datapath/wire"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// Replication (Config.Cluster). Each store shard is a raft group over the
// nodes; this node's loops serve the shards it leads, once the owner loop
// has reloaded them from the store (the shell's job, see Cluster.Route).
// A request whose keys are all in shards led by one other node is
// forwarded there (Forwards, ForwardDone) and its reply fills the client's
// reply slot in order. A request for a shard with no leader now gets
// -TRYAGAIN; one whose keys span nodes gets -CROSSSLOT, as Redis Cluster
// replies; so do transactions and WATCH touching shards led elsewhere.
//
// Reads of a shard led here are linearizable: their reply waits in the
// loop's write FIFO (unsynced.go) behind a ReadIndex of the shard, so it
// leaves once a quorum confirmed this node still leads, and only after
// every write the loop executed before the read is committed: no reply
// reveals an uncommitted write.

// Cluster is the loop's view of the replicated store. Its methods are
// called on the loop and must not block.
type Cluster interface {
	// Route returns the node leading shard (0: none known now) and whether
	// this node's loops serve it (it leads, and the owner loop has
	// reloaded the shard's keys).
	Route(shard uint32) (leader uint64, here bool)
	// Self is this node's raft ID.
	Self() uint64
	// ReadIndex confirms a read of shard that the loop served while this
	// node led it: done (from any goroutine) once a quorum confirmed this
	// node still leads it after the read, or with an error if it does not.
	ReadIndex(shard uint32, done func(index uint64, err error))
}

// Forward is a request for another node, taken by the shell (Forwards):
// Req is the request as RESP, to send to node Node; the reply goes back
// with ForwardDone(Conn, Seq, reply).
//
// A replica read (Replica) is served by the shell off the loop from this
// node's own replica, the store's applied data: Node is this node; with
// ReadIndex it waits first for a raft ReadIndex of Shard, so that the read
// is linearizable (a follower read). Stale marks a read that may fall back
// to the replica when Node cannot be asked (its breaker is open, or it
// cannot be reached). User and RESP3 are the client's, for a replica read
// to run as it would here.
type Forward struct {
	Node  uint64
	Shard uint32 // the shard of the request's first key
	Req   []byte
	Conn  *Conn
	Seq   uint64

	Replica, ReadIndex, Stale bool
	User                      string
	RESP3                     bool

	dg *dgForward // a datagram's, answered by datagram instead of Conn
}

// dgForward is how a forwarded datagram's reply goes back.
type dgForward struct {
	id  uint32
	op  wire.Opcode
	ret dgReturn
}

// forwardQueue bounds the forwarded replies waiting for the loop to take
// them; the shell's forwarders wait when it is full.
const forwardQueue = 1 << 14

// repLoop is a loop's replication state.
type repLoop struct {
	cluster Cluster
	out     []Forward
	// replies are the forwarded requests' answers, from the shell's
	// goroutines; the loop takes them on Drain.
	replies  chan forwardReply
	inflight int      // forwarded requests not answered yet
	shards   []uint32 // scratch: the shards of one request's keys
}

type forwardReply struct {
	conn  *Conn
	seq   uint64
	dg    *dgForward
	reply []byte
}

// ForwardClientName is the CLIENT SETNAME of a connection another node
// forwards requests over: its requests are served here or refused, never
// forwarded again (two nodes with different views of a leader would bounce
// them).
const ForwardClientName = "dorivo-forward"

// errNoLeader and errCrossNode are the replies for requests no node here
// can serve now.
const (
	errCrossNode = "CROSSSLOT Keys in request don't hash to shards led by the same node"
	errReadRaced = "TRYAGAIN the read saw a write that failed; retry"
)

func errNoLeader(shard uint32) string {
	return "TRYAGAIN shard " + strconv.FormatUint(uint64(shard), 10) + " has no leader serving it now; retry"
}

// routeRemote decides where a request whose keys are in shards not served
// here goes. handled is false when every key is served here (or r has no
// keys): the request takes the local path. Otherwise the request was
// forwarded or answered, or ok is false: no room now (retry).
//
// Reads may go to this node's replica instead (replicaRead): always after
// READONLY, and, for a tenant whose reads may be stale (Config.StaleReads),
// when the shard has no leader or its breaker is open (shedRefusal lets
// such reads through), or, later, when the forwarder cannot ask the leader.
func (l *Loop) routeRemote(tc *Conn, r command.Req) (handled, ok bool) {
	rp := l.rep
	if rp == nil {
		return false, true
	}
	l.keys = r.Keys(l.keys[:0])
	if tc.sess.InMulti() && r.Cmd != nil && r.Cmd.Route == command.RouteExec {
		for _, q := range tc.sess.Queued() {
			l.keys = q.Keys(l.keys)
		}
	}
	if tc.sess.InMulti() && r.Cmd != nil && r.Cmd.Route == command.RouteExec && l.queuedUsersWrite(tc) {
		l.localReply(tc, now(resp.AppendError(l.reply[:0], errUsersInTx)))
		return true, true
	}
	if len(l.keys) == 0 {
		if r.WritesUsers() && !tc.sess.InMulti() {
			return l.routeUsers(tc, r)
		}
		return false, true
	}
	// A request on a forwarding connection is served here or refused.
	fwdConn := string(tc.sess.Name) == ForwardClientName
	var target uint64
	remote, local, fallback := false, false, false
	stale, staleKnown := false, false // whether r may read the replica: asked once a key is not here
	for _, k := range l.keys {
		sl := slot.Of(k)
		shard := l.cfg.Store.ShardOf(sl)
		leader, here := rp.cluster.Route(shard)
		if here {
			local = true
			continue
		}
		if !staleKnown {
			stale = !fwdConn && !tc.sess.InMulti() && r.IsRead() && (tc.sess.ReplicaReads() || l.staleAllowed(tc))
			staleKnown = true
		}
		switch {
		case stale && (tc.sess.ReplicaReads() || leader == 0 || l.shedFor(sl)):
			fallback = true
			continue
		case leader == rp.cluster.Self():
			// Led here, still loading: wait (the shell rings every loop
			// once it is loaded).
			return true, false
		case leader == 0:
			l.localReply(tc, now(resp.AppendError(l.reply[:0], errNoLeader(shard))))
			return true, true
		case target != 0 && leader != target:
			local = true // two remote nodes: as bad as a local and a remote one
		}
		remote, target = true, leader
	}
	if (fallback || remote) && command.CheckReq(tc.sess, r) != "" {
		// Served elsewhere, the client's rights are checked here first
		// (the replica reader and the leader run it with full rights).
		l.localReply(tc, now(l.refused(tc.sess, r)))
		return true, true
	}
	switch {
	case fallback:
		return l.replicaRead(tc, r, !tc.sess.ReplicaReads())
	case !remote:
		return false, true
	case fwdConn:
		l.localReply(tc, now(resp.AppendError(l.reply[:0], errNoLeader(l.cfg.Store.ShardOf(slot.Of(l.keys[0]))))))
		return true, true
	case rp.inflight >= forwardQueue:
		return true, false // the replies channel is full: wait
	case local, tc.sess.InMulti(), r.Cmd != nil && (r.Cmd.Route == command.RouteWatch || r.Cmd.Route == command.RouteExec):
		// Across nodes or inside a transaction, forwarding would lose
		// atomicity.
		l.localReply(tc, now(resp.AppendError(l.reply[:0], errCrossNode)))
		return true, true
	}
	shard := l.cfg.Store.ShardOf(slot.Of(l.keys[0]))
	if r.IsRead() && !stale {
		// A follower read: a ReadIndex, then this node's replica.
		l.pushForward(tc, r, Forward{Node: rp.cluster.Self(), Shard: shard, Replica: true, ReadIndex: true})
		l.stats.followerReads.Add(1)
		return true, true
	}
	l.pushForward(tc, r, Forward{Node: target, Shard: shard, Stale: stale})
	l.stats.forwarded.Add(1)
	return true, true
}

// routeUsers sends r, a change of the user table, to the leader of shard
// 0, whose log stores the table: every replica applies it from there
// (the agent's durable.Store.SetUsersHook), and so do this node's loops.
func (l *Loop) routeUsers(tc *Conn, r command.Req) (handled, ok bool) {
	rp := l.rep
	shard := l.cfg.Store.ShardOf(0)
	leader, here := rp.cluster.Route(shard)
	switch {
	case here:
		return false, true
	case leader == rp.cluster.Self():
		// Led here, still loading: wait, so that the table this change
		// starts from has every change committed before.
		return true, false
	case leader == 0 || string(tc.sess.Name) == ForwardClientName:
		l.localReply(tc, now(resp.AppendError(l.reply[:0], errNoLeader(shard))))
		return true, true
	case rp.inflight >= forwardQueue:
		return true, false
	case command.CheckReq(tc.sess, r) != "":
		l.localReply(tc, now(l.refused(tc.sess, r)))
		return true, true
	case r.Cmd.Name == "config|set" && len(r.Args) > 4:
		l.localReply(tc, now(resp.AppendError(l.reply[:0], errRequirepassAlone)))
		return true, true
	}
	l.pushForward(tc, r, Forward{Node: leader, Shard: shard})
	l.stats.forwarded.Add(1)
	return true, true
}

// Replies to user table changes this node cannot run: the change must run
// on shard 0's leader, alone.
const (
	errUsersInTx        = "CROSSSLOT a transaction that changes users (ACL SETUSER, DELUSER, LOAD, CONFIG SET requirepass) runs only on the node leading shard 0"
	errRequirepassAlone = "ERR in a cluster CONFIG SET requirepass runs on the node leading shard 0: set it alone, and the other parameters in a CONFIG SET of their own"
)

// queuedUsersWrite reports whether tc's queued transaction changes users
// while this node does not serve shard 0.
func (l *Loop) queuedUsersWrite(tc *Conn) bool {
	for _, q := range tc.sess.Queued() {
		if q.WritesUsers() {
			_, here := l.rep.cluster.Route(l.cfg.Store.ShardOf(0))
			return !here
		}
	}
	return false
}

// refused is the reply to r, which command.CheckReq refuses for sess:
// Exec's, so that it is counted and logged (ACL LOG) as Exec does, with no
// wait for the shard's ReadIndex, which a replica cannot have.
func (l *Loop) refused(sess *command.Session, r command.Req) []byte {
	l.reply, _ = command.ExecReq(sess, l.ks, r, l.now, l.reply[:0], nil)
	return l.reply
}

// replicaRead sends r, a read, to this node's replica (Forward.Replica);
// fallback counts it as a stale read that stood in for the leader's.
func (l *Loop) replicaRead(tc *Conn, r command.Req, fallback bool) (handled, ok bool) {
	if l.rep.inflight >= forwardQueue {
		return true, false
	}
	l.pushForward(tc, r, Forward{Node: l.rep.cluster.Self(), Shard: l.cfg.Store.ShardOf(slot.Of(l.keys[0])), Replica: true})
	if fallback {
		l.stats.staleFallbacks.Add(1)
	} else {
		l.stats.replicaReads.Add(1)
	}
	return true, true
}

// pushForward takes a reply slot of tc for r and queues f, filled in with
// r, for the shell.
func (l *Loop) pushForward(tc *Conn, r command.Req, f Forward) {
	f.Req = resp.AppendCommand(nil, r.Args...)
	f.Conn, f.Seq = tc, tc.tail
	f.User, f.RESP3 = tc.sess.User(), tc.sess.RESP3()
	tc.push(mergeNone, 1)
	l.rep.out = append(l.rep.out, f)
	l.rep.inflight++
}

// shedFor reports whether slot sl is shed by its shard's breaker.
func (l *Loop) shedFor(sl uint16) bool {
	return l.shed != nil && l.shed[sl].Reasons&ShedBreaker != 0
}

// staleAllowed reports whether tc's tenant may read stale data when its
// shard's leader cannot be asked (Config.StaleReads).
func (l *Loop) staleAllowed(tc *Conn) bool {
	return l.cfg.StaleReads != nil && l.staleTenant(l.tenantOf(tc))
}

// staleTenant reports whether tenant's reads may be stale.
func (l *Loop) staleTenant(tenant string) bool {
	ts := l.cfg.StaleReads
	if ts == nil {
		return false
	}
	set := ts.Load()
	if set == nil {
		return false
	}
	_, ok := (*set)[tenant]
	return ok
}

// StaleFallback counts a read the shell served from the replica because
// its leader could not be asked; any goroutine may call it.
func (l *Loop) StaleFallback() { l.stats.staleFallbacks.Add(1) }

// Forwards hands the requests for other nodes to the shell, which sends
// each to its node and calls ForwardDone with the reply, from any
// goroutine. send returns false when it cannot take one now: the client
// gets -TRYAGAIN.
func (l *Loop) Forwards(send func(Forward) bool) {
	rp := l.rep
	if rp == nil || len(rp.out) == 0 {
		return
	}
	for _, f := range rp.out {
		if !send(f) {
			rp.inflight--
			l.fillForwarded(forwardReply{conn: f.Conn, seq: f.Seq, dg: f.dg,
				reply: resp.AppendError(l.reply[:0], "TRYAGAIN too many requests queued for node "+strconv.FormatUint(f.Node, 10)+"; retry")})
			l.bell.Ring() // a drain writes the reply out
		}
	}
	clear(rp.out)
	rp.out = rp.out[:0]
}

// ForwardDone returns the reply to a forwarded request (an error reply if
// the node could not be reached), from any goroutine other than the loop's.
// It never blocks: the loop forwards at most forwardQueue requests at once.
func (l *Loop) ForwardDone(f Forward, reply []byte) {
	l.rep.replies <- forwardReply{conn: f.Conn, seq: f.Seq, dg: f.dg, reply: reply}
	l.bell.Ring()
}

// takeForwarded fills the reply slots of forwarded requests.
func (l *Loop) takeForwarded() {
	for {
		select {
		case fr := <-l.rep.replies:
			l.rep.inflight--
			l.fillForwarded(fr)
		default:
			return
		}
	}
}

func (l *Loop) fillForwarded(fr forwardReply) {
	if dg := fr.dg; dg != nil {
		rep := wire.Reply{ID: dg.id, Op: dg.op, Status: wire.StatusOK}
		datagramReply(&rep, fr.reply, dg.ret.signed)
		l.replyDatagram(&rep, dg.ret)
		return
	}
	tc := fr.conn
	if tc.closed {
		return
	}
	e := tc.slot(fr.seq)
	e.buf = append(e.buf[:0], fr.reply...)
	e.done = true
	l.touch(tc)
}

// routeDatagram sends d on when this node does not serve its key's shard
// now, as routeRemote does a request: to the shard's leader, or to this
// node's replica when d is a GET of a tenant whose reads may be stale and
// the leader cannot be asked. It answers UNAVAILABLE when the shard has no
// leader (or its reload here is not done), and reports whether d was
// handled. The leader runs it as the default user: the tenant's user's
// rights are checked here first.
func (l *Loop) routeDatagram(d *dgram, r command.Req, sess *command.Session) bool {
	rp := l.rep
	sl := slot.Of(d.Key)
	shard := l.cfg.Store.ShardOf(sl)
	leader, here := rp.cluster.Route(shard)
	if here {
		return false
	}
	if command.CheckReq(sess, r) != "" {
		rep := wire.Reply{ID: d.ID, Op: d.Op, Status: wire.StatusOK}
		datagramReply(&rep, l.refused(sess, r), d.ret.signed)
		l.replyDatagram(&rep, d.ret)
		return true
	}
	stale := d.Op == wire.OpGet && l.staleTenant(string(d.Tag))
	f := Forward{Node: leader, Shard: shard, User: sess.User(), Stale: stale, dg: &dgForward{id: d.ID, op: d.Op, ret: d.ret}}
	self := rp.cluster.Self()
	switch {
	case rp.inflight >= forwardQueue, !stale && (leader == 0 || leader == self):
		// The replies channel is full, or no leader serves the shard now.
		l.replyUnavailable(d, 50*time.Millisecond)
		return true
	case stale && (leader == 0 || leader == self || l.shedFor(sl)):
		f.Node, f.Replica = self, true
		l.stats.staleFallbacks.Add(1)
	default:
		l.stats.forwarded.Add(1)
	}
	f.Req = resp.AppendCommand(nil, r.Args...)
	rp.out = append(rp.out, f)
	rp.inflight++
	return true
}

// readEntry returns the entry a read's reply waits in (nil: it may leave
// at once). A read of a key with a write in flight waits in the FIFO
// behind that write (and all before it), and answers -TRYAGAIN if one of
// them fails: no reply reveals a write before it is committed. With
// replication it also waits for a ReadIndex of each shard it touched; one
// that touched no written key waits for that alone, outside the FIFO.
func (l *Loop) readEntry(keys [][]byte) *unsynced {
	d := l.dur
	if d == nil || d.delivering || len(keys) == 0 {
		return nil
	}
	var shards []uint32
	if l.rep != nil {
		shards = l.rep.shards[:0]
		for _, k := range keys {
			sh := l.cfg.Store.ShardOf(slot.Of(k))
			if !containsShard(shards, sh) {
				shards = append(shards, sh)
			}
		}
		l.rep.shards = shards
	}
	dep := d.inFlight(keys)
	if len(shards) == 0 && !dep {
		return nil
	}
	h := d.get(l)
	h.read, h.indep = true, !dep
	h.parts.Store(int32(len(shards)) + 1)
	if dep {
		d.push(h)
		l.ks.Stamp = d.tail + 1
	} else {
		d.reads = append(d.reads, h)
	}
	for _, sh := range shards {
		l.rep.cluster.ReadIndex(sh, h.done)
	}
	if h.parts.Add(-1) == 0 {
		l.bell.Ring()
	}
	return h
}

// releaseReads delivers the independent reads whose ReadIndex completed.
func (l *Loop) releaseReads() {
	d := l.dur
	kept := d.reads[:0]
	for _, h := range d.reads {
		if h.parts.Load() != 0 {
			kept = append(kept, h)
			continue
		}
		if !h.released {
			d.delivering = true
			l.deliver(h)
			d.delivering = false
		}
		d.recycle(h)
	}
	clear(d.reads[len(kept):])
	d.reads = kept
}

func containsShard(s []uint32, x uint32) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

// claiming reports whether r is a write that must wait for the reload of
// a claimed shard (Claim): the connection stalls, its requests stay in its
// socket, and resumes once the reload is swapped in.
func (l *Loop) claiming(r command.Req) bool {
	return l.rep != nil && l.dur.diverged == errClaiming && r.Cmd != nil && r.Cmd.Flags&command.Write != 0
}

// errClaiming diverges a loop that must reload a shard this node now leads.
var errClaiming = errors.New("this node now leads a shard of this loop and is reloading its keys")

// Claim makes the loop reload its keyspace from the store, because this
// node now leads one of its shards, whose keys the loop holds only as of
// the last time it led it. It refuses writes until Resync swaps the
// reloaded keyspace in (the shell's Diverged callback starts the reload);
// a Claim while a reload runs is kept for the next one, since the running
// one may have read the store too early.
func (l *Loop) Claim() {
	d := l.dur
	if d == nil {
		return
	}
	if d.diverged != nil {
		d.reclaim = true
		return
	}
	l.diverge(errClaiming)
}
