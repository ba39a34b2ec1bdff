package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
)

// Handler receives what peers send. Its methods are called concurrently, one
// goroutine per inbound stream, and should hand work off quickly: a slow
// HandleBatch delays that peer's next batch (gRPC flow control then holds the
// sender, whose queue drops once full).
type Handler interface {
	// HandleBatch gets one batch from node from, in the order sent within each
	// group (heartbeats, coalesced on the wire, come after the other messages).
	// msgs is reused after the call returns; the messages themselves are the
	// handler's to keep.
	HandleBatch(from uint64, msgs []GroupMessage)
	// HandleSnapshot gets a snapshot: chunks yields its data until io.EOF, or
	// an error if the stream broke or ended short of header.Size. Its error
	// (or nil) is what the sender's SendSnapshot returns.
	HandleSnapshot(from uint64, header SnapshotHeader, chunks io.Reader) error
}

// Defaults of the options.
const (
	DefaultQueueLen          = 4096
	DefaultMaxBatchBytes     = 4 << 20
	DefaultSnapshotChunkSize = 1 << 20
	DefaultDialTimeout       = time.Second
	DefaultBackoffBase       = 20 * time.Millisecond
	DefaultBackoffMax        = time.Second
)

type options struct {
	tlsFiles                *tlsFiles
	queueLen                int
	maxBatchBytes           int
	chunkSize               int
	dialTimeout             time.Duration
	backoffBase, backoffMax time.Duration
	flushInterval           time.Duration
	peerGone                func(node uint64)
}

// Option configures New.
type Option func(*options) error

// WithTLSFiles turns on mutual TLS: this node presents certFile/keyFile (PEM)
// as both server and client, and requires the other side's certificate to be
// signed by a CA in caFile. A server certificate must name the address peers
// dial (IP or DNS SAN).
func WithTLSFiles(certFile, keyFile, caFile string) Option {
	return func(o *options) error {
		if certFile == "" || keyFile == "" || caFile == "" {
			return errors.New("TLS needs a certificate, a key and a CA file")
		}
		o.tlsFiles = &tlsFiles{cert: certFile, key: keyFile, ca: caFile}
		return nil
	}
}

// WithQueueLen bounds the messages queued per peer between flushes; past it
// Send drops and counts.
func WithQueueLen(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("queue length %d: must be at least 1", n)
		}
		o.queueLen = n
		return nil
	}
}

// WithMaxBatchBytes bounds one batch frame; a flush with more is split. A
// single message is never split, and the receiver refuses frames over
// 2×max batch + 2×chunk size, so raft's MaxSizePerMsg must stay well below it.
func WithMaxBatchBytes(n int) Option {
	return func(o *options) error {
		if n < 1<<10 || n > 64<<20 {
			return fmt.Errorf("max batch bytes %d: must be within 1 KiB..64 MiB", n)
		}
		o.maxBatchBytes = n
		return nil
	}
}

// WithSnapshotChunkSize sets the data bytes per snapshot chunk.
func WithSnapshotChunkSize(n int) Option {
	return func(o *options) error {
		if n < 1 || n > 16<<20 {
			return fmt.Errorf("snapshot chunk size %d: must be within 1..16 MiB", n)
		}
		o.chunkSize = n
		return nil
	}
}

// WithBackoff sets the reconnect backoff (doubling from base up to max, with
// jitter) and how long one connection attempt may take.
func WithBackoff(base, max, dialTimeout time.Duration) Option {
	return func(o *options) error {
		if base <= 0 || max < base || dialTimeout <= 0 {
			return fmt.Errorf("backoff %v..%v, dial timeout %v: need 0 < base <= max and a positive timeout", base, max, dialTimeout)
		}
		o.backoffBase, o.backoffMax, o.dialTimeout = base, max, dialTimeout
		return nil
	}
}

// WithFlushInterval makes every peer flush on its own at least this often, a
// backstop for callers that do not call Flush. Zero (the default) flushes
// only on Flush or when a queue holds a full batch.
func WithFlushInterval(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("flush interval %v: must not be negative", d)
		}
		o.flushInterval = d
		return nil
	}
}

// WithPeerGone makes fn hear that a peer's process is gone: its raft stream
// ended and its address then refused a TCP connection (the host is up, no
// process listens: it was killed or exited). fn runs on a goroutine of its
// own and should not block. A stream that ends for another reason (a
// partition, a timeout, a refused frame) is not reported.
func WithPeerGone(fn func(node uint64)) Option {
	return func(o *options) error {
		o.peerGone = fn
		return nil
	}
}

// Transport is one node's end of the peer connections.
type Transport struct {
	id      uint64
	handler Handler
	opts    options
	lis     net.Listener
	srv     *grpc.Server
	// clientCreds is nil without TLS.
	clientCreds credentials.TransportCredentials

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc

	mu    sync.Mutex                       // serialises peer set changes
	peers atomic.Pointer[map[uint64]*peer] // copy on write: Send only loads

	unknownDrops   atomic.Uint64 // Sends to a node with no peer entry
	unknownRejects atomic.Uint64 // inbound streams from unknown or misaddressed nodes
	closeOnce      sync.Once
	serveDone      chan struct{}
}

// New starts a transport for node id serving on listenAddr (host:port; port 0
// picks one, see Addr). Peers are added with SetPeer.
func New(id uint64, listenAddr string, h Handler, opts ...Option) (*Transport, error) {
	if id == 0 {
		return nil, errors.New("transport: node ID 0 is reserved (raft's None)")
	}
	if h == nil {
		return nil, errors.New("transport: nil handler")
	}
	o := options{
		queueLen: DefaultQueueLen, maxBatchBytes: DefaultMaxBatchBytes, chunkSize: DefaultSnapshotChunkSize,
		dialTimeout: DefaultDialTimeout, backoffBase: DefaultBackoffBase, backoffMax: DefaultBackoffMax,
	}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("transport: %w", err)
		}
	}
	t := &Transport{id: id, handler: h, opts: o, serveDone: make(chan struct{})}
	serverOpts := []grpc.ServerOption{
		grpc.ForceServerCodecV2(rawCodec{}),
		grpc.MaxRecvMsgSize(2*o.maxBatchBytes + 2*o.chunkSize),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 500 * time.Millisecond, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 2 * time.Second, Timeout: 2 * time.Second}),
		grpc.InitialWindowSize(streamWindow), grpc.InitialConnWindowSize(connWindow),
	}
	if o.tlsFiles != nil {
		serverTLS, clientTLS, err := o.tlsFiles.load()
		if err != nil {
			return nil, fmt.Errorf("transport: %w", err)
		}
		serverOpts = append(serverOpts, grpc.Creds(credentials.NewTLS(serverTLS)))
		t.clientCreds = credentials.NewTLS(clientTLS)
	}
	lis, err := net.Listen("tcp", listenAddr)
	if err != nil {
		return nil, fmt.Errorf("transport: listen on %s: %w", listenAddr, err)
	}
	t.lis = lis
	t.ctx, t.cancel = context.WithCancel(context.Background())
	empty := map[uint64]*peer{}
	t.peers.Store(&empty)
	t.srv = grpc.NewServer(serverOpts...)
	t.srv.RegisterService(&serviceDesc, (*server)(t))
	go func() {
		defer close(t.serveDone)
		_ = t.srv.Serve(lis) // returns when Close stops the server
	}()
	return t, nil
}

// ID is this node's ID.
func (t *Transport) ID() uint64 { return t.id }

// Addr is the address the transport listens on.
func (t *Transport) Addr() net.Addr { return t.lis.Addr() }

// SetPeer adds node id at addr, or moves it to a new address (its stream is
// then re-dialled; queued messages go to the new address).
func (t *Transport) SetPeer(id uint64, addr string) error {
	if id == 0 || id == t.id {
		return fmt.Errorf("transport: peer ID %d: must be non-zero and not this node's", id)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("transport: peer %d address %q: %w", id, addr, err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ctx.Err() != nil {
		return errors.New("transport: closed")
	}
	old := *t.peers.Load()
	if p := old[id]; p != nil && p.addr == addr {
		return nil
	}
	p, err := newPeer(t, id, addr)
	if err != nil {
		return err
	}
	next := make(map[uint64]*peer, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	if prev := old[id]; prev != nil {
		p.inherit(prev)
		prev.stop()
	}
	next[id] = p
	t.peers.Store(&next)
	go p.run()
	return nil
}

// RemovePeer forgets node id: its stream closes and Sends to it are dropped.
func (t *Transport) RemovePeer(id uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.peers.Load()
	p := old[id]
	if p == nil {
		return
	}
	next := make(map[uint64]*peer, len(old))
	for k, v := range old {
		if k != id {
			next[k] = v
		}
	}
	t.peers.Store(&next)
	p.stop()
}

func (t *Transport) peer(id uint64) *peer { return (*t.peers.Load())[id] }

// Send queues msg of group for node to. It never blocks: with the peer's
// queue full, or no such peer, the message is dropped and counted. The
// transport owns msg afterwards (the caller must not modify it). Messages go
// out on the next Flush.
func (t *Transport) Send(to, group uint64, msg *raftpb.Message) {
	p := t.peer(to)
	if p == nil {
		t.unknownDrops.Add(1)
		return
	}
	p.enqueue(group, msg)
}

// Flush wakes the sender of every peer with queued messages; each writes its
// queue as one batch (more only past the max batch size). It does not wait.
func (t *Transport) Flush() {
	for _, p := range *t.peers.Load() {
		p.flush()
	}
}

// streamWindow and connWindow are gRPC's HTTP/2 flow-control windows. Set,
// they turn off gRPC's bandwidth estimator, whose ping frames came with an
// idle cluster's heartbeats. The cost: one stream moves at most 4 MiB per
// round trip (80 MB/s at 50 ms), ample for raft batches and snapshots here.
const (
	streamWindow = 4 << 20
	connWindow   = 16 << 20
)

// Close stops the server and every peer stream. Queued messages are dropped.
func (t *Transport) Close() error {
	t.closeOnce.Do(func() {
		t.mu.Lock()
		t.cancel()
		for _, p := range *t.peers.Load() {
			p.stop()
		}
		t.mu.Unlock()
		t.srv.Stop()
		<-t.serveDone
		for _, p := range *t.peers.Load() {
			<-p.done
		}
	})
	return nil
}

// Stats is a snapshot of the transport's state for operators.
type Stats struct {
	Node  uint64
	Addr  string
	Peers []PeerStats // by node ID
	// UnknownPeerDrops counts Sends to nodes with no peer entry;
	// UnknownPeerRejects inbound streams from unknown nodes or meant for
	// another node ID.
	UnknownPeerDrops, UnknownPeerRejects uint64
}

// Stats returns the current state of every peer.
func (t *Transport) Stats() Stats {
	s := Stats{Node: t.id, Addr: t.Addr().String(),
		UnknownPeerDrops: t.unknownDrops.Load(), UnknownPeerRejects: t.unknownRejects.Load()}
	for _, p := range *t.peers.Load() {
		s.Peers = append(s.Peers, p.stats())
	}
	sort.Slice(s.Peers, func(i, j int) bool { return s.Peers[i].Node < s.Peers[j].Node })
	return s
}
