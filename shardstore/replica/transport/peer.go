package transport

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
)

// probeGone's tries: a few, a short gap apart, each bounded.
const (
	goneProbes       = 3
	goneProbeGap     = 2 * time.Millisecond
	goneProbeTimeout = 50 * time.Millisecond
)

// mdAccepted is set in the header the receiver sends once it accepted a
// raft stream, so the sender knows the stream is up before it counts it so.
const mdAccepted = "dorivo-accepted"

// peerCounters outlive a peer entry moved to a new address (SetPeer).
type peerCounters struct {
	msgsSent, batchesSent, bytesSent, dropped, hbCoalesced atomic.Uint64
	connects                                               atomic.Uint64
	msgsRecv, batchesRecv, bytesRecv, malformed            atomic.Uint64
	inbound                                                atomic.Int64
	gone                                                   atomic.Uint64 // probeGone reports
	snapsSent, snapsRecv, snapBytesSent, snapBytesRecv     atomic.Uint64

	mu        sync.Mutex // guards the fields below
	connected bool
	since     time.Time // when connected last changed (or the peer was added)
	lastErr   string
	lastErrAt time.Time
}

func (c *peerCounters) setErr(err error) {
	c.mu.Lock()
	c.lastErr, c.lastErrAt = err.Error(), time.Now()
	c.mu.Unlock()
}

func (c *peerCounters) setConnected(up bool) {
	c.mu.Lock()
	if c.connected != up {
		c.connected, c.since = up, time.Now()
	}
	c.mu.Unlock()
}

// peer is the sending side towards one node: a bounded queue that Send fills
// and one goroutine (run) that owns the raft stream and writes batches.
type peer struct {
	t        *Transport
	id       uint64
	addr     string
	conn     *grpc.ClientConn // raft stream
	snapConn *grpc.ClientConn // snapshots, so a big one never delays heartbeats
	ctr      *peerCounters

	mu    sync.Mutex // guards queue only; held for an append or a swap
	queue []GroupMessage
	spare []GroupMessage // the queue swapped out by the last flush, reused

	wake     chan struct{} // capacity 1: a pending flush request
	ctx      context.Context
	cancel   context.CancelFunc
	done     chan struct{} // closed when run returns
	stopOnce sync.Once
	// probing is set while a probeGone runs; goneSent once it reported the
	// peer gone, until a stream to or from it is up again (one report per
	// death, though both streams end).
	probing, goneSent atomic.Bool

	// Owned by run.
	scratch []byte
	hbs     []GroupMessage
}

func newPeer(t *Transport, id uint64, addr string) (*peer, error) {
	p := &peer{t: t, id: id, addr: addr, ctr: &peerCounters{since: time.Now()},
		queue: make([]GroupMessage, 0, 64), wake: make(chan struct{}, 1), done: make(chan struct{})}
	p.ctx, p.cancel = context.WithCancel(t.ctx)
	var err error
	if p.conn, err = t.dial(addr); err != nil {
		return nil, err
	}
	if p.snapConn, err = t.dial(addr); err != nil {
		p.conn.Close()
		return nil, err
	}
	return p, nil
}

// dial makes a lazy client connection; gRPC reconnects it with the backoff.
func (t *Transport) dial(addr string) (*grpc.ClientConn, error) {
	creds := grpc.WithTransportCredentials(insecure.NewCredentials())
	if t.clientCreds != nil {
		creds = grpc.WithTransportCredentials(t.clientCreds)
	}
	o := t.opts
	conn, err := grpc.NewClient("passthrough:///"+addr, creds,
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(rawCodec{}), grpc.MaxCallRecvMsgSize(1<<20)),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: o.backoffBase, Multiplier: 1.6, Jitter: 0.2, MaxDelay: o.backoffMax},
			MinConnectTimeout: o.dialTimeout,
		}),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 2 * time.Second, Timeout: 2 * time.Second, PermitWithoutStream: true}),
		grpc.WithInitialWindowSize(streamWindow), grpc.WithInitialConnWindowSize(connWindow),
	)
	if err != nil {
		return nil, fmt.Errorf("transport: client for %s: %w", addr, err)
	}
	return conn, nil
}

// inherit takes over the counters of the entry it replaces.
func (p *peer) inherit(prev *peer) { p.ctr = prev.ctr }

func (p *peer) stop() {
	p.stopOnce.Do(func() { p.cancel() })
}

func (p *peer) enqueue(group uint64, m *raftpb.Message) {
	p.mu.Lock()
	if len(p.queue) >= p.t.opts.queueLen {
		p.mu.Unlock()
		p.ctr.dropped.Add(1)
		return
	}
	p.queue = append(p.queue, GroupMessage{Group: group, Msg: m})
	full := len(p.queue) >= p.t.opts.queueLen
	p.mu.Unlock()
	if full { // flush a full queue without waiting for Flush
		p.flush()
	}
}

func (p *peer) flush() {
	select {
	case p.wake <- struct{}{}:
	default: // a flush is already pending
	}
}

// takeQueue swaps the queue out; the caller gives it back with putSpare.
func (p *peer) takeQueue() []GroupMessage {
	p.mu.Lock()
	q := p.queue
	p.queue = p.spare[:0]
	p.spare = nil
	p.mu.Unlock()
	return q
}

func (p *peer) putSpare(q []GroupMessage) {
	clear(q) // drop the message pointers
	p.mu.Lock()
	if p.spare == nil {
		p.spare = q[:0]
	}
	p.mu.Unlock()
}

// raftStream is one established outbound stream; done closes when it ends.
type raftStream struct {
	cs     grpc.ClientStream
	cancel context.CancelFunc
	done   chan struct{}
	err    error // set before done closes
}

func (s *raftStream) close() {
	s.cancel()
	<-s.done
}

// run owns the outbound stream: it dials (with backoff), writes a batch per
// wake-up, and re-dials when the stream ends.
func (p *peer) run() {
	defer close(p.done)
	defer p.snapConn.Close()
	defer p.conn.Close()
	var (
		st       *raftStream
		delay    = p.t.opts.backoffBase
		nextDial time.Time
		retry    *time.Timer
		tick     <-chan time.Time
	)
	if d := p.t.opts.flushInterval; d > 0 {
		tk := time.NewTicker(d)
		defer tk.Stop()
		tick = tk.C
	}
	fail := func(err error) {
		if p.ctx.Err() != nil {
			return // stopped (Close, RemovePeer, or SetPeer's replacement took over)
		}
		p.ctr.setErr(err)
		p.ctr.setConnected(false)
		// Full jitter over [delay/2, delay), then double up to the max.
		wait := delay/2 + time.Duration(rand.Int64N(int64(delay/2)+1))
		nextDial = time.Now().Add(wait)
		delay = min(2*delay, p.t.opts.backoffMax)
		if retry != nil {
			retry.Stop()
		}
		retry = time.NewTimer(wait) // reconnect without waiting for traffic
	}
	defer func() {
		if st != nil {
			st.close()
		}
		if cur := p.t.peer(p.id); cur == nil || cur == p { // not if SetPeer replaced us
			p.ctr.setConnected(false)
		}
	}()
	for {
		var ended <-chan struct{}
		if st != nil {
			ended = st.done
		}
		var retryC <-chan time.Time
		if retry != nil {
			retryC = retry.C
		}
		select {
		case <-p.ctx.Done():
			return
		case <-p.wake:
		case <-tick:
		case <-retryC:
			retry = nil
		case <-ended:
			fail(fmt.Errorf("stream to node %d ended: %w", p.id, st.err))
			p.streamEnded()
			st.close()
			st = nil
			continue
		}
		if st == nil && !time.Now().Before(nextDial) {
			s, err := p.openStream()
			if err != nil {
				fail(err)
			} else {
				st, delay = s, p.t.opts.backoffBase
				p.goneSent.Store(false)
				p.ctr.connects.Add(1) // every one after the first is a reconnect
				p.ctr.setConnected(true)
			}
		}
		q := p.takeQueue()
		if st == nil {
			p.ctr.dropped.Add(uint64(len(q))) // raft resends what matters
		} else if err := p.writeBatch(st, q); err != nil {
			fail(err)
			st.close()
			st = nil
		}
		p.putSpare(q)
	}
}

// streamEnded probes whether the peer is gone, after a raft stream to or
// from it ended.
func (p *peer) streamEnded() {
	if fn := p.t.opts.peerGone; fn != nil && p.ctx.Err() == nil && !p.goneSent.Load() && p.probing.CompareAndSwap(false, true) {
		go func() {
			defer p.probing.Store(false)
			p.probeGone(fn)
		}()
	}
}

// probeGone reports the peer gone if its address refuses a TCP connection
// within a few tries: a killed process's listener may close a moment after
// its connections.
func (p *peer) probeGone(fn func(node uint64)) {
	for try := range goneProbes {
		if try > 0 {
			select {
			case <-p.ctx.Done():
				return
			case <-time.After(goneProbeGap):
			}
		}
		c, err := net.DialTimeout("tcp", p.addr, goneProbeTimeout)
		if err == nil {
			c.Close()
			continue // something listens: alive, or its listener not closed yet
		}
		if errors.Is(err, syscall.ECONNREFUSED) && p.goneSent.CompareAndSwap(false, true) {
			p.ctr.gone.Add(1)
			fn(p.id)
		}
		return // refused, or unreachable (a partition is not "gone")
	}
}

// openStream opens the raft stream and waits until the receiver accepts it,
// all within the dial timeout.
func (p *peer) openStream() (*raftStream, error) {
	ctx, cancel := context.WithCancel(p.ctx)
	ctx = metadata.NewOutgoingContext(ctx, metadata.Pairs(
		mdFrom, strconv.FormatUint(p.t.id, 10), mdTo, strconv.FormatUint(p.id, 10)))
	var timedOut atomic.Bool
	timer := time.AfterFunc(p.t.opts.dialTimeout, func() { timedOut.Store(true); cancel() })
	defer timer.Stop()
	cs, err := p.conn.NewStream(ctx, &raftStreamDesc, raftMethod)
	if err == nil {
		var md metadata.MD
		if md, err = cs.Header(); err == nil && len(md.Get(mdAccepted)) == 0 {
			// Refused: the stream ended without the accept header; its status says why.
			if err = cs.RecvMsg(&inFrame{}); err == nil {
				err = errors.New("no accept header")
			}
		}
	}
	if err != nil {
		cancel()
		if timedOut.Load() {
			err = fmt.Errorf("no answer within %v: %w", p.t.opts.dialTimeout, err)
		}
		return nil, fmt.Errorf("open stream to node %d at %s: %w", p.id, p.addr, err)
	}
	st := &raftStream{cs: cs, cancel: cancel, done: make(chan struct{})}
	go func() {
		// The server never sends a message: RecvMsg returns when the stream ends.
		st.err = cs.RecvMsg(&inFrame{})
		close(st.done)
	}()
	return st, nil
}

// writeBatch encodes q as one batch frame (several past maxBatchBytes) and
// sends it. Heartbeats go into one coalesced block in the last frame.
func (p *peer) writeBatch(st *raftStream, q []GroupMessage) error {
	if len(q) == 0 {
		return nil
	}
	b := p.scratch[:0]
	hbs := p.hbs[:0]
	defer func() {
		clear(hbs)
		p.hbs = hbs[:0]
	}()
	sent := 0 // messages in frames already written
	pending := 0
	for _, gm := range q {
		if coalescable(gm.Msg) {
			hbs = append(hbs, gm)
			continue
		}
		var err error
		if b, err = appendGroupMsg(b, gm.Group, gm.Msg); err != nil {
			p.ctr.dropped.Add(1)
			p.ctr.setErr(err)
			continue
		}
		pending++
		if len(b) >= p.t.opts.maxBatchBytes {
			if err := p.sendFrame(st, b, pending); err != nil {
				p.ctr.dropped.Add(uint64(len(q) - sent))
				return err
			}
			sent += pending
			b, pending = b[:0], 0
		}
	}
	b = appendHeartbeats(b, hbs)
	pending += len(hbs)
	p.ctr.hbCoalesced.Add(uint64(len(hbs)))
	if len(b) > 0 {
		if err := p.sendFrame(st, b, pending); err != nil {
			p.ctr.dropped.Add(uint64(len(q) - sent))
			return err
		}
	}
	if cap(b) <= 4*p.t.opts.maxBatchBytes { // keep a normal scratch, drop a huge one
		p.scratch = b[:0]
	}
	return nil
}

func (p *peer) sendFrame(st *raftStream, b []byte, msgs int) error {
	if err := st.cs.SendMsg(newOutFrame(b)); err != nil {
		return fmt.Errorf("send batch to node %d: %w", p.id, err)
	}
	p.ctr.batchesSent.Add(1)
	p.ctr.msgsSent.Add(uint64(msgs))
	p.ctr.bytesSent.Add(uint64(len(b)))
	return nil
}

// PeerStats is one peer's state. Sent, dropped and reconnects describe this
// node's stream to the peer; received and malformed the peer's streams here.
type PeerStats struct {
	Node           uint64
	Addr           string
	Connected      bool      // the outbound raft stream is up
	StateSince     time.Time // when Connected last changed (or the peer was added)
	InboundStreams int       // raft streams from the peer open now
	LastError      string
	LastErrorAt    time.Time
	QueueLen       int // messages waiting for the next flush

	MsgsSent, MsgsReceived, MsgsDropped uint64
	BatchesSent, BatchesReceived        uint64
	BytesSent, BytesReceived            uint64 // frame bytes, before gRPC's framing
	HeartbeatsCoalesced                 uint64 // sent in coalesced blocks
	Reconnects                          uint64 // streams opened after the first
	Malformed                           uint64 // inbound streams closed for a bad frame
	Gone                                uint64 // times the peer's process was found gone (WithPeerGone)

	SnapshotsSent, SnapshotsReceived         uint64
	SnapshotBytesSent, SnapshotBytesReceived uint64
}

func (p *peer) stats() PeerStats {
	c := p.ctr
	p.mu.Lock()
	qlen := len(p.queue)
	p.mu.Unlock()
	c.mu.Lock()
	s := PeerStats{Node: p.id, Addr: p.addr, Connected: c.connected, StateSince: c.since, LastError: c.lastErr, LastErrorAt: c.lastErrAt}
	c.mu.Unlock()
	s.QueueLen = qlen
	s.InboundStreams = int(c.inbound.Load())
	s.MsgsSent, s.MsgsReceived, s.MsgsDropped = c.msgsSent.Load(), c.msgsRecv.Load(), c.dropped.Load()
	s.BatchesSent, s.BatchesReceived = c.batchesSent.Load(), c.batchesRecv.Load()
	s.BytesSent, s.BytesReceived = c.bytesSent.Load(), c.bytesRecv.Load()
	s.HeartbeatsCoalesced = c.hbCoalesced.Load()
	if n := c.connects.Load(); n > 1 {
		s.Reconnects = n - 1
	}
	s.Malformed = c.malformed.Load()
	s.Gone = c.gone.Load()
	s.SnapshotsSent, s.SnapshotsReceived = c.snapsSent.Load(), c.snapsRecv.Load()
	s.SnapshotBytesSent, s.SnapshotBytesReceived = c.snapBytesSent.Load(), c.snapBytesRecv.Load()
	return s
}
