package server

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/dorivo/dorivo/datapath/command"
	"github.com/dorivo/dorivo/datapath/core"
	"github.com/dorivo/dorivo/datapath/resp"
	"github.com/dorivo/dorivo/shardstore/collection"
	"github.com/dorivo/dorivo/shardstore/durable"
	"github.com/dorivo/dorivo/shardstore/keyspace"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// Replica reads (core.Forward.Replica): a read this node serves from its
// own replica of the keys' shards, the store's applied (so committed)
// data. The replica readers copy the request's keys out of the store into
// a scratch keyspace and run the command there, off the loops, as the
// client's user and in its protocol. The keys are copied from one applied
// state (durable.Store.ReadConsistent), so an atomic write of several keys
// is seen whole or not at all; a collection is copied whole for each read.
//
// A follower read (Forward.ReadIndex) first asks raft for a ReadIndex of
// each shard it reads, which the store answers once this replica has
// applied the index: the read is linearizable, and it costs the leader a
// heartbeat round, not the read. A READONLY or stale read asks nothing:
// no round trip, and it may be stale, never dirty.

// replicaReaders is how many goroutines serve replica reads; they wait on
// the store (its read cache, pebble on a miss), never on a ReadIndex.
const replicaReaders = 4

// replicaQueue bounds the replica reads waiting for a reader, and
// replicaConfirming those waiting for their ReadIndex.
const (
	replicaQueue      = 4096
	replicaConfirming = 4096
)

// replicaReader serves the node's replica reads.
type replicaReader struct {
	srv  *Server
	st   *durable.Store
	reqs chan replicaReq
	// confirming holds a token per read waiting for its ReadIndex.
	confirming chan struct{}
	stop       <-chan struct{}
}

// replicaReq is one replica read, from loop; confirmed once its ReadIndex
// (if it needs one) was answered, and then with its parsed req and keys.
type replicaReq struct {
	core.Forward
	loop      int
	confirmed bool
	req       command.Req
	keys      [][]byte
}

func newReplicaReader(s *Server) *replicaReader {
	return &replicaReader{srv: s, st: s.cfg.Store, reqs: make(chan replicaReq, replicaQueue),
		confirming: make(chan struct{}, replicaConfirming)}
}

func (r *replicaReader) run(stop <-chan struct{}) {
	r.stop = stop
	for range replicaReaders {
		go func() {
			for {
				select {
				case q := <-r.reqs:
					r.handle(q)
				case <-stop:
					return
				}
			}
		}()
	}
}

// handle starts q's ReadIndex, or serves q.
func (r *replicaReader) handle(q replicaReq) {
	var reply []byte
	if !q.confirmed {
		q.req, q.keys, reply = r.parse(q.Forward)
	}
	if reply == nil && q.ReadIndex && !q.confirmed {
		r.confirming <- struct{}{} // a full set of reads waiting: the queue fills, new ones get -TRYAGAIN
		r.readIndex(q)
		return
	}
	if reply == nil {
		reply = r.serve(q.Forward, q.req, q.keys)
	}
	r.srv.loops[q.loop].core.ForwardDone(q.Forward, reply)
}

// send queues f; false when the queue is full.
func (r *replicaReader) send(f core.Forward, loop int) bool {
	select {
	case r.reqs <- replicaReq{Forward: f, loop: loop}:
		return true
	default:
		return false
	}
}

// parse resolves f's command and keys, or returns the error reply.
func (r *replicaReader) parse(f core.Forward) (command.Req, [][]byte, []byte) {
	args, _, err := resp.Parse(f.Req, nil, resp.Limits{MaxBulkLen: 1 << 40, MaxMultibulk: 1 << 40})
	if err != nil || len(args) == 0 {
		return command.Req{}, nil, resp.AppendError(nil, "ERR replica read: bad request")
	}
	req := command.Resolve(args)
	return req, req.Keys(nil), nil
}

// serve runs f's read (req over keys) against this node's replica and
// returns the reply.
func (r *replicaReader) serve(f core.Forward, req command.Req, keys [][]byte) []byte {
	var ks *keyspace.Keyspace
	err := r.st.ReadConsistent(func() error {
		ks = keyspace.New()
		for _, k := range keys {
			if err := r.load(ks, k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		r.srv.cfg.Logger.Warn("server: replica read failed", "err", err)
		return resp.AppendError(nil, "TRYAGAIN this node's replica cannot be read now; retry")
	}
	sess := command.NewInternalSession(r.srv.cfg.Node)
	sess.ActAs(f.User)
	sess.SpeakRESP3(f.RESP3)
	reply, _ := command.ExecReq(sess, ks, req, time.Now().UnixMilli(), nil, nil)
	return reply
}

// readIndex asks a ReadIndex of every shard of q's keys; once each is
// applied here, q goes back to the readers confirmed (or gets the error
// reply). Each ReadIndex is a call to its shard's breaker, as a forwarded
// request is: it depends on the shard's leader.
func (r *replicaReader) readIndex(q replicaReq) {
	var shards []uint32
	for _, k := range q.keys {
		if sh := r.st.ShardOf(slot.Of(k)); !slices.Contains(shards, sh) {
			shards = append(shards, sh)
		}
	}
	brks := r.srv.cfg.Cluster.ShardBreakers
	for i, sh := range shards {
		if brks != nil && !brks[sh].Allow() {
			for _, prev := range shards[:i] {
				brks[prev].Release()
			}
			r.confirmed(q, resp.AppendError(nil, "TRYAGAIN unavailable for shard "+strconv.FormatUint(uint64(sh), 10)+": the shard's breaker is open; retry"))
			return
		}
	}
	c := &confirm{r: r, q: q, at: time.Now(), left: len(shards)}
	for _, sh := range shards {
		leader := r.st.Leader(sh).Leader // when asked
		r.st.ReadIndex(sh, func(_ uint64, err error) { c.answer(sh, leader, err) })
	}
}

// confirm collects the ReadIndex answers of one read, on the store's
// driver: it must not block.
type confirm struct {
	r     *replicaReader
	q     replicaReq
	at    time.Time
	mu    sync.Mutex
	left  int
	first error
}

func (c *confirm) answer(sh uint32, leader uint64, err error) {
	r := c.r
	if brks := r.srv.cfg.Cluster.ShardBreakers; brks != nil {
		if r.st.Leader(sh).Leader != leader {
			brks[sh].Release() // reset for the new leader: not its call
		} else {
			brks[sh].Record(time.Since(c.at), err)
		}
	}
	c.mu.Lock()
	c.left--
	if err != nil && c.first == nil {
		c.first = err
	}
	left, first := c.left, c.first
	c.mu.Unlock()
	if left > 0 {
		return
	}
	var reply []byte
	if first != nil {
		reply = resp.AppendError(nil, core.ReadIndexError(first))
	}
	c.q.confirmed = true
	go r.confirmed(c.q, reply) // off the driver: both may wait for room
}

// confirmed ends q's wait for its ReadIndex: reply (an error) goes to its
// loop, or, with none, q goes back to the readers.
func (r *replicaReader) confirmed(q replicaReq, reply []byte) {
	<-r.confirming
	if reply != nil {
		r.srv.loops[q.loop].core.ForwardDone(q.Forward, reply)
		return
	}
	select {
	case r.reqs <- q:
	case <-r.stop:
	}
}

// load copies key's applied value, a string or a collection, into ks.
func (r *replicaReader) load(ks *keyspace.Keyspace, key []byte) error {
	sl := slot.Of(key)
	shard := r.st.ShardOf(sl)
	v, exp, found, err := r.st.Get(shard, key)
	switch {
	case errors.Is(err, durable.ErrClosed):
		return err
	case err != nil:
		return fmt.Errorf("shard %d: %w", shard, err)
	case found:
		ks.Set(key, v, exp)
		return nil
	}
	return loadCollection(r.st, sl, key, ks)
}

// loadCollection loads key's collection, if it has a live one, into ks:
// its metadata record, then its elements of that version (readColl).
func loadCollection(st *durable.Store, sl uint16, key []byte, ks *keyspace.Keyspace) error {
	lo := append([]byte{'m'}, key...)
	hi := append(append([]byte(nil), lo...), 0)
	var meta []byte
	if err := st.ScanCollections(sl, sl, lo, hi, func(_ uint16, _, v []byte) error {
		meta = append([]byte(nil), v...)
		return nil
	}); err != nil || meta == nil {
		return err
	}
	m, err := collection.DecodeMeta(meta)
	if err != nil {
		return fmt.Errorf("collection %q: %w", key, err)
	}
	if m.ExpireMs != 0 && m.ExpireMs <= time.Now().UnixMilli() {
		return nil
	}
	co, err := readColl(st, key, m)
	if err != nil {
		return err
	}
	ks.SetColl(key, co, m.ExpireMs)
	return nil
}
