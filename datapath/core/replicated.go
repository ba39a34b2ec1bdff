package core

import (
	"errors"
	"strconv"

	"github.com/dorivo/dorivo/datapath/command"
	"github.com/dorivo/dorivo/datapath/resp"
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
type Forward struct {
	Node uint64
	Req  []byte
	Conn *Conn
	Seq  uint64
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
	if len(l.keys) == 0 {
		return false, true
	}
	var target uint64
	remote, local := false, false
	for _, k := range l.keys {
		shard := l.cfg.Store.ShardOf(slot.Of(k))
		leader, here := rp.cluster.Route(shard)
		switch {
		case here:
			local = true
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
	switch {
	case !remote:
		return false, true
	case string(tc.sess.Name) == ForwardClientName:
		l.localReply(tc, now(resp.AppendError(l.reply[:0], errNoLeader(l.cfg.Store.ShardOf(slot.Of(l.keys[0]))))))
		return true, true
	case rp.inflight >= forwardQueue:
		return true, false // the replies channel is full: wait
	case local, tc.sess.InMulti(), !l.plain(tc.sess), r.Cmd != nil && (r.Cmd.Route == command.RouteWatch || r.Cmd.Route == command.RouteExec):
		// Across nodes, inside a transaction or for another user than
		// the default one, forwarding would lose atomicity or identity.
		l.localReply(tc, now(resp.AppendError(l.reply[:0], errCrossNode)))
		return true, true
	}
	seq := tc.tail
	tc.push(mergeNone, 1)
	rp.out = append(rp.out, Forward{Node: target, Req: resp.AppendCommand(nil, r.Args...), Conn: tc, Seq: seq})
	rp.inflight++
	l.stats.forwarded.Add(1)
	return true, true
}

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
			l.fillForwarded(f.Conn, f.Seq, resp.AppendError(l.reply[:0], "TRYAGAIN too many requests queued for node "+strconv.FormatUint(f.Node, 10)+"; retry"))
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
	l.rep.replies <- forwardReply{conn: f.Conn, seq: f.Seq, reply: reply}
	l.bell.Ring()
}

// takeForwarded fills the reply slots of forwarded requests.
func (l *Loop) takeForwarded() {
	for {
		select {
		case fr := <-l.rep.replies:
			l.rep.inflight--
			l.fillForwarded(fr.conn, fr.seq, fr.reply)
		default:
			return
		}
	}
}

func (l *Loop) fillForwarded(tc *Conn, seq uint64, reply []byte) {
	if tc.closed {
		return
	}
	e := tc.slot(seq)
	e.buf = append(e.buf[:0], reply...)
	e.done = true
	l.touch(tc)
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
