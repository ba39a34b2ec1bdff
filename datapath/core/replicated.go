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
	// ReadIndex confirms a read of shard: done (from any goroutine) once
	// this node's applied state is at least as new as every write
	// acknowledged before the call, or with an error.
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
	replies chan forwardReply
	shards  []uint32 // scratch: the shards of one request's keys
}

type forwardReply struct {
	conn  *Conn
	seq   uint64
	reply []byte
}

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
		case leader == 0 || leader == rp.cluster.Self():
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
	case local, tc.sess.InMulti(), !l.plain(tc.sess), r.Cmd != nil && (r.Cmd.Route == command.RouteWatch || r.Cmd.Route == command.RouteExec):
		// Across nodes, inside a transaction or for another user than
		// the default one, forwarding would lose atomicity or identity.
		l.localReply(tc, now(resp.AppendError(l.reply[:0], errCrossNode)))
		return true, true
	}
	seq := tc.tail
	tc.push(mergeNone, 1)
	rp.out = append(rp.out, Forward{Node: target, Req: resp.AppendCommand(nil, r.Args...), Conn: tc, Seq: seq})
	l.stats.forwarded.Add(1)
	return true, true
}

// Forwards hands the requests for other nodes to the shell, which sends
// each to its node and calls ForwardDone with the reply, from any
// goroutine.
func (l *Loop) Forwards(send func(Forward)) {
	rp := l.rep
	if rp == nil || len(rp.out) == 0 {
		return
	}
	for _, f := range rp.out {
		send(f)
	}
	clear(rp.out)
	rp.out = rp.out[:0]
}

// ForwardDone returns the reply to a forwarded request (an error reply if
// the node could not be reached). It may be called from any goroutine; it
// never blocks for long: the channel holds one slot per reply slot the
// loop's connections may have outstanding.
func (l *Loop) ForwardDone(f Forward, reply []byte) {
	l.rep.replies <- forwardReply{conn: f.Conn, seq: f.Seq, reply: reply}
	l.bell.Ring()
}

// takeForwarded fills the reply slots of forwarded requests.
func (l *Loop) takeForwarded() {
	for {
		select {
		case fr := <-l.rep.replies:
			tc := fr.conn
			if tc.closed {
				continue
			}
			e := tc.slot(fr.seq)
			e.buf = append(e.buf[:0], fr.reply...)
			e.done = true
			l.touch(tc)
		default:
			return
		}
	}
}

// readEntry returns the FIFO entry a read's reply waits in (nil: it may
// leave at once). With replication, behind a ReadIndex of each shard the
// read touched; on one node, behind the writes in flight, if any. keys are
// the read's keys.
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
	if len(shards) == 0 && d.head == d.tail {
		return nil
	}
	h := d.get(l)
	h.read = true
	h.parts.Store(int32(len(shards)) + 1)
	d.push(h)
	l.ks.Stamp = d.tail + 1
	for _, sh := range shards {
		l.rep.cluster.ReadIndex(sh, h.done)
	}
	if h.parts.Add(-1) == 0 {
		l.bell.Ring()
	}
	return h
}

func containsShard(s []uint32, x uint32) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
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
