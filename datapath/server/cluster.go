package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/dorivo/dorivo/breaker"
	"github.com/dorivo/dorivo/datapath/command"
	"github.com/dorivo/dorivo/datapath/core"
	"github.com/dorivo/dorivo/datapath/resp"
	"github.com/dorivo/dorivo/shardstore/durable"
)

// ClusterConfig makes the server one node of a replicated cluster: the
// store (Config.Store) is a replica of every shard's raft group
// (shardstore/replica), the loops serve the shards this node leads, and
// requests for the others are forwarded to their leader's RESP address.
type ClusterConfig struct {
	// Peers maps every other node's raft ID to its RESP address
	// (host:port), where forwarded requests go.
	Peers map[uint64]string
	// PeerBreakers, one per other node (optional), guard the requests
	// forwarded to it: each forwarded request is a call, slow past the
	// breaker's SlowCallDuration, failed when its connection was lost or
	// timed out or the node could not be dialled. While one is open, the
	// requests for its node get -TRYAGAIN at once instead of waiting out
	// forwardTimeout.
	PeerBreakers map[uint64]*breaker.Breaker
	// ShardBreakers, one per shard (optional), guard the requests
	// forwarded to each shard's leader, as PeerBreakers do their node's,
	// and also count the leader's -TRYAGAIN, -TIMEOUT and -CLUSTERDOWN
	// replies as failures. One that is open refuses its shard's
	// forwarded requests with -TRYAGAIN; the agent also sheds the shard's
	// slots while it is open (core.ShedBreaker). Each is reset when its
	// shard's leader changes: its calls were another leader's.
	ShardBreakers []*breaker.Breaker
	// PeerSecret, when set, is the cluster's shared secret: forwarding
	// connections authenticate with it as command.PeerUser, so that
	// forwarding works when the default user has a password. Every node
	// must have the same (the agent's --peer-secret-file).
	PeerSecret []byte
}

// ForwardClientName is the CLIENT SETNAME of the connections forwarders
// open: a request arriving on one is never forwarded again (core).
const ForwardClientName = core.ForwardClientName

// clusterView is the loops' core.Cluster: leadership from the store, and
// which led shards the owner loop has reloaded (loadedAt).
type clusterView struct {
	srv  *Server
	st   *durable.Store
	self uint64
	// gens[shard] counts the shard's leadership changes seen here, and
	// loadedAt[shard] is 1 + the generation the owner loop's last reload
	// covered: the loops serve the shard only while the two agree, so a
	// change during or after a reload (lost and won again: the store may
	// hold another leader's writes the reload did not read) unloads it,
	// and that change's own Claim reloads again.
	gens, loadedAt []atomic.Uint64
	// fwd[node][2*loop+p] forwards loop's requests to node, in order: p 0
	// over RESP2, p 1 over RESP3 (HELLO 3), for the requests of clients
	// that speak it, so that the reply is in the client's protocol.
	fwd map[uint64][]*forwarder
	// replica serves the reads this node answers from its own replica.
	replica *replicaReader
}

func newClusterView(s *Server) (*clusterView, error) {
	st := s.cfg.Store
	if st == nil {
		return nil, errors.New("server config: a cluster needs a Store")
	}
	if sb := s.cfg.Cluster.ShardBreakers; sb != nil && len(sb) != st.Shards() {
		return nil, fmt.Errorf("server config: %d shard breakers for %d shards", len(sb), st.Shards())
	}
	v := &clusterView{srv: s, st: st, self: st.NodeID(), gens: make([]atomic.Uint64, st.Shards()), loadedAt: make([]atomic.Uint64, st.Shards()),
		fwd:     map[uint64][]*forwarder{},
		replica: newReplicaReader(s)}
	for id, addr := range s.cfg.Cluster.Peers {
		if id == v.self {
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("server config: node %d's RESP address %q: %w", id, addr, err)
		}
		for i := range s.cfg.Loops {
			for _, resp3 := range []bool{false, true} {
				v.fwd[id] = append(v.fwd[id], &forwarder{node: id, addr: addr, loop: i, resp3: resp3, srv: s, reqc: make(chan core.Forward, forwardBatch),
					brk: s.cfg.Cluster.PeerBreakers[id], shardBrk: s.cfg.Cluster.ShardBreakers, replica: v.replica})
			}
		}
	}
	return v, nil
}

func (v *clusterView) Route(shard uint32) (uint64, bool) {
	li := v.st.Leader(shard)
	return li.Leader, li.Leader == v.self && v.loadedAt[shard].Load() == v.gens[shard].Load()+1
}

func (v *clusterView) Self() uint64 { return v.self }

func (v *clusterView) ReadIndex(shard uint32, done func(uint64, error)) {
	v.st.LeaderReadIndex(shard, done)
}

// start runs the forwarders and begins claiming the shards this node leads.
func (v *clusterView) start(ctx context.Context) {
	v.replica.run(ctx.Done())
	for _, fs := range v.fwd {
		for _, f := range fs {
			go f.run(ctx)
		}
	}
	v.st.SetLeaderHook(v.leaderChanged)
	for shard := range v.st.Shards() {
		if v.st.IsLeader(uint32(shard)) {
			v.leaderChanged(uint32(shard), v.self, 0)
		}
	}
}

// leaderChanged runs on the store's driver: a shard this node now leads
// is reloaded by its owner loop (core.Loop.Claim) before the loops serve
// it; one it stopped leading is no longer served at once.
func (v *clusterView) leaderChanged(shard uint32, leader, _ uint64) {
	v.gens[shard].Add(1) // unloads the shard (Route)
	if sb := v.srv.cfg.Cluster.ShardBreakers; sb != nil && sb[shard].State() != breaker.Closed {
		sb[shard].Reset()
	}
	if leader != v.self {
		return
	}
	first, _ := v.st.Slots(shard)
	o := v.srv.cfg.Table.Owner(first)
	go func() {
		for !v.srv.stopping.Load() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := v.srv.RunOnLoop(ctx, o, func() { v.srv.loops[o].core.Claim() })
			cancel()
			if err == nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
}

// ledShard is a shard a reload covers, with its leadership generation
// when the reload began.
type ledShard struct {
	shard uint32
	gen   uint64
}

// ledShards returns the shards of loop o this node leads now, after a
// ReadIndex of each confirmed that the store has applied every committed
// write: the store's data for them is then complete.
func (v *clusterView) ledShards(o int) ([]ledShard, error) {
	var led []ledShard
	for shard := range v.st.Shards() {
		first, _ := v.st.Slots(uint32(shard))
		if v.srv.cfg.Table.Owner(first) != o || !v.st.IsLeader(uint32(shard)) {
			continue
		}
		gen := v.gens[shard].Load()
		ch := make(chan error, 1)
		v.st.LeaderReadIndex(uint32(shard), func(_ uint64, err error) { ch <- err })
		if err := <-ch; err != nil {
			return nil, fmt.Errorf("shard %d: %w", shard, err)
		}
		led = append(led, ledShard{uint32(shard), gen})
	}
	return led, nil
}

// markLoaded records that loop o's reload covered shards, for those this
// node still leads with no leadership change since the reload confirmed
// it: after a change (lost and won again) the store may hold writes of
// another leader's term that the reload did not read, and the change's
// own Claim reloads again.
func (v *clusterView) markLoaded(shards []ledShard) {
	for _, s := range shards {
		if v.st.IsLeader(s.shard) {
			v.loadedAt[s.shard].Store(s.gen + 1) // stale at once if gens moved on
		}
	}
	for _, l := range v.srv.loops { // connections stalled on these shards retry
		l.core.Bell().Ring()
	}
}

// send hands a loop's forwarded request to its node's forwarder; false
// when its queue is full.
func (v *clusterView) send(f core.Forward, loop int) bool {
	if f.Replica {
		return v.replica.send(f, loop)
	}
	fs := v.fwd[f.Node]
	if len(fs) == 0 {
		return false
	}
	i := 2 * loop
	if f.RESP3 {
		i++
	}
	select {
	case fs[i].reqc <- f:
		return true
	default:
		return false
	}
}

// forwardBatch is the most requests queued for one forwarder connection.
const forwardBatch = 4096

// forwardTimeout bounds the wait for a forwarded request's reply.
const forwardTimeout = time.Second

// forwarder carries one loop's requests for one node over one RESP
// connection, pipelined: replies come back in request order.
type forwarder struct {
	node  uint64
	addr  string
	loop  int
	resp3 bool // the connection speaks RESP3 (HELLO 3)
	srv   *Server
	reqc  chan core.Forward
	brk   *breaker.Breaker // nil: none
	// shardBrk are the shards' breakers (nil: none).
	shardBrk []*breaker.Breaker
	// replica serves a Stale read the node cannot be asked for.
	replica *replicaReader
}

// sentForward is a request written to the node: when, for its breaker
// calls, each of which let it through (a call to Record).
type sentForward struct {
	core.Forward
	at time.Time
}

// errPeerLost is the breaker failure of a forwarded request whose
// connection was lost or timed out.
var errPeerLost = errors.New("forwarded request lost: connection failed or timed out")

// admit asks the shard's and the node's breakers for a call; false: one
// is open, and fw was answered: -TRYAGAIN, or from this node's replica
// when fw may be stale.
func (f *forwarder) admit(fw core.Forward) bool {
	sb := f.shardBreaker(fw)
	if sb != nil && !sb.Allow() {
		f.refuse(fw, f.errReply("TRYAGAIN", "unavailable for shard "+strconv.FormatUint(uint64(fw.Shard), 10)+": the shard's breaker is open; retry"))
		return false
	}
	if f.brk != nil && !f.brk.Allow() {
		if sb != nil {
			sb.Release()
		}
		f.refuse(fw, f.errReply("TRYAGAIN", "unavailable: its breaker is open; retry"))
		return false
	}
	return true
}

// release returns the permits admit took for a request that was not sent.
func (f *forwarder) release(fw core.Forward) {
	if sb := f.shardBreaker(fw); sb != nil {
		sb.Release()
	}
	if f.brk != nil {
		f.brk.Release()
	}
}

// refuse answers fw, which cannot be sent: from this node's replica when
// it may be stale and the replica readers have room, else with reply.
func (f *forwarder) refuse(fw core.Forward, reply []byte) {
	if fw.Stale {
		fw.Replica = true
		if f.replica.send(fw, f.loop) {
			f.srv.loops[f.loop].core.StaleFallback()
			return
		}
	}
	f.done(fw, reply)
}

func (f *forwarder) shardBreaker(fw core.Forward) *breaker.Breaker {
	if f.shardBrk == nil {
		return nil
	}
	return f.shardBrk[fw.Shard]
}

// record reports a sent request's outcome to its breakers: a lost request
// fails both, and the shard's also counts its leader's replies that say
// it could not serve the shard.
func (f *forwarder) record(s sentForward, reply []byte, err error) {
	d := time.Since(s.at)
	if f.brk != nil {
		f.brk.Record(d, err)
	}
	if sb := f.shardBreaker(s.Forward); sb != nil {
		if f.srv.cfg.Store.Leader(s.Shard).Leader != f.node {
			// The shard has another leader now, and the breaker was reset
			// for it: this call was the old one's.
			sb.Release()
			return
		}
		if err == nil && unavailableReply(reply) {
			err = errShardUnavailable
		}
		sb.Record(d, err)
	}
}

// errShardUnavailable is the shard breaker failure of a forwarded request
// its node answered it could not serve.
var errShardUnavailable = errors.New("forwarded request refused: the shard was unavailable there")

// unavailableReply reports whether reply is an error saying the shard
// could not be served (retry elsewhere or later), not the request's own.
func unavailableReply(reply []byte) bool {
	for _, p := range []string{"-TRYAGAIN", "-TIMEOUT", "-CLUSTERDOWN"} {
		if len(reply) >= len(p) && string(reply[:len(p)]) == p {
			return true
		}
	}
	return false
}

func (f *forwarder) done(fw core.Forward, reply []byte) {
	f.srv.loops[f.loop].core.ForwardDone(fw, reply)
}

func (f *forwarder) errReply(code, what string) []byte {
	return resp.AppendError(nil, code+" node "+strconv.FormatUint(f.node, 10)+" "+what)
}

// run keeps a connection to the node and serves the queue over it; while
// the node cannot be reached, queued requests are refused with -TRYAGAIN.
func (f *forwarder) run(ctx context.Context) {
	backoff := 10 * time.Millisecond
	for ctx.Err() == nil {
		at := time.Now()
		c, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", f.addr)
		if err != nil {
			// A failed dial is a failed call when requests wait for it
			// (the node's fault, not a shard's); an idle forwarder's
			// redials, at start or on a connection nobody uses, are not.
			if f.brk != nil && ctx.Err() == nil && len(f.reqc) > 0 && f.brk.Allow() {
				f.brk.Record(time.Since(at), err)
			}
			f.refuseQueued(backoff)
			backoff = min(2*backoff, 500*time.Millisecond)
			continue
		}
		if f.serve(ctx, c) {
			backoff = 10 * time.Millisecond
			continue
		}
		f.refuseQueued(backoff) // refused or failed at once: no busy loop
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}

// refuseQueued answers what is queued now with -TRYAGAIN, then waits.
func (f *forwarder) refuseQueued(wait time.Duration) {
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case fw := <-f.reqc:
			if f.admit(fw) {
				f.release(fw) // not sent: no outcome to judge
				f.refuse(fw, f.errReply("TRYAGAIN", "cannot be reached to forward the request; retry"))
			}
		case <-t.C:
			return
		}
	}
}

// serve pipelines requests over c until it fails; requests sent and not
// answered then get -TIMEOUT: the node may or may not have run them. It
// returns false when the connection failed before serving any.
func (f *forwarder) serve(ctx context.Context, c net.Conn) bool {
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	var hello []byte
	replies := 1 // CLIENT SETNAME's, and AUTH's and HELLO's
	if sec := f.srv.cfg.Cluster.PeerSecret; len(sec) > 0 {
		hello = resp.AppendCommand(hello, []byte("AUTH"), []byte(command.PeerUser), sec)
		replies++
	}
	if f.resp3 {
		hello = resp.AppendCommand(hello, []byte("HELLO"), []byte("3"))
		replies++
	}
	hello = resp.AppendCommand(hello, []byte("CLIENT"), []byte("SETNAME"), []byte(ForwardClientName))
	if _, err := c.Write(hello); err != nil {
		return false
	}
	br := bufio.NewReaderSize(c, 64<<10)
	if !f.helloReplies(br, replies) {
		return false
	}
	sent := make(chan sentForward, forwardBatch)
	quit := make(chan struct{})
	go f.write(ctx, c, sent, quit)
	for s := range sent {
		// A node that stopped answering (paused, cut off) must not hold
		// the client: past forwardTimeout its requests get -TIMEOUT.
		_ = c.SetReadDeadline(s.at.Add(forwardTimeout))
		reply, err := readForwardReply(br)
		if err != nil {
			close(quit)
			c.Close()
			lost := f.errReply("TIMEOUT", "connection lost: the forwarded request may or may not have run")
			f.record(s, nil, errPeerLost)
			f.done(s.Forward, lost)
			for s := range sent { // the writer closes sent once it sees quit
				f.record(s, nil, errPeerLost)
				f.done(s.Forward, lost)
			}
			return true
		}
		f.record(s, reply, nil)
		f.done(s.Forward, reply)
	}
	return true
}

// helloReplies reads the n replies to the connection's AUTH, HELLO and
// CLIENT SETNAME: false when the connection failed or the node refused,
// which is logged (a peer secret that differs, say).
func (f *forwarder) helloReplies(br *bufio.Reader, n int) bool {
	for range n {
		reply, err := readForwardReply(br)
		if err != nil {
			return false
		}
		if len(reply) > 0 && reply[0] == '-' {
			f.srv.cfg.Logger.Warn("server: a peer refused the forwarding connection (check --peer-secret-file and the default user's password)",
				"node", f.node, "reply", string(bytes.TrimSpace(reply)))
			return false
		}
	}
	return true
}

// write sends queued requests over c, each into sent before its bytes
// leave, until c fails, ctx ends or quit closes; it closes sent.
func (f *forwarder) write(ctx context.Context, c net.Conn, sent chan<- sentForward, quit <-chan struct{}) {
	defer close(sent)
	bw := bufio.NewWriterSize(c, 64<<10)
	for {
		var fw core.Forward
		select {
		case fw = <-f.reqc:
		case <-ctx.Done():
			return
		case <-quit:
			return
		}
		if !f.admit(fw) {
			continue
		}
		select {
		case sent <- sentForward{Forward: fw, at: time.Now()}:
		case <-quit:
			f.release(fw)
			f.refuse(fw, f.errReply("TRYAGAIN", "connection lost before the request was sent; retry"))
			return
		}
		if _, err := bw.Write(fw.Req); err != nil {
			return
		}
		if len(f.reqc) == 0 && bw.Flush() != nil {
			return
		}
	}
}

// Limits on a forwarded reply: the node is a peer, but a broken one must
// not make this one allocate without bound.
const (
	maxForwardBulk  = 512 << 20
	maxForwardArray = 1 << 24
)

// readForwardReply reads one RESP2 or RESP3 reply whole and returns its
// bytes.
func readForwardReply(br *bufio.Reader) ([]byte, error) { return appendReply(nil, br, 0) }

func appendReply(dst []byte, br *bufio.Reader, depth int) ([]byte, error) {
	if depth > 32 {
		return nil, errors.New("forwarded reply nested too deep")
	}
	line, err := br.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("bad forwarded reply line %q", line)
	}
	dst = append(dst, line...)
	kind := line[0] // line is br's buffer: gone after the next read
	switch kind {
	case '+', '-', ':', '_', '#', ',', '(': // RESP3's null, boolean, double, big number too
		return dst, nil
	case '$', '!', '=', '*', '~', '>', '%', '|':
	default:
		return nil, fmt.Errorf("unknown forwarded reply type %q", line[0])
	}
	n, err := strconv.ParseInt(string(line[1:len(line)-2]), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("bad forwarded reply length %q", line)
	}
	switch kind {
	case '$', '!', '=': // bulk string, blob error, verbatim string
		if n < 0 {
			return dst, nil
		}
		if n > maxForwardBulk {
			return nil, fmt.Errorf("forwarded bulk of %d bytes", n)
		}
		start := len(dst)
		dst = append(dst, make([]byte, n+2)...)
		if _, err := io.ReadFull(br, dst[start:]); err != nil {
			return nil, err
		}
		return dst, nil
	case '%', '|': // a map's or attribute's n pairs
		n *= 2
	}
	if n > maxForwardArray {
		return nil, fmt.Errorf("forwarded array of %d elements", n)
	}
	for range n {
		if dst, err = appendReply(dst, br, depth+1); err != nil {
			return nil, err
		}
	}
	if kind == '|' { // attributes precede the reply they describe
		return appendReply(dst, br, depth+1)
	}
	return dst, nil
}
