package replica

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"slices"
	"sync/atomic"

	"github.com/dorivo/dorivo/shardstore/durable"
	"github.com/dorivo/dorivo/shardstore/replica/transport"
	pb "go.etcd.io/raft/v3/raftpb"
)

// Config describes this node's place in the cluster.
type Config struct {
	// NodeID is this node's raft ID (non-zero, unique for all time).
	NodeID uint64
	// ListenAddr is where the peer transport listens (host:port).
	ListenAddr string
	// Peers maps every node's raft ID, this one's included, to the address
	// its peer transport listens on.
	Peers map[uint64]string
	// Dir is the store's data directory.
	Dir string
	// Store configures the store; NodeID, Peers and Transport are set
	// from the fields above.
	Store durable.Options
	// Transport options (TLS, queue length, ...).
	Transport []transport.Option
	Logger    *slog.Logger
}

// Node is a running replica: the store and its peer transport.
type Node struct {
	Store     *durable.Store
	Transport *transport.Transport
	h         *handler
}

// Start listens for peers, opens the store as a replica of every shard and
// connects to the other nodes.
func Start(cfg Config) (*Node, error) {
	if _, ok := cfg.Peers[cfg.NodeID]; !ok || len(cfg.Peers) < 1 {
		return nil, fmt.Errorf("replica: node %d is not in the peer list %v", cfg.NodeID, cfg.Peers)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	h := &handler{log: cfg.Logger}
	topts := append(slices.Clip(cfg.Transport), transport.WithPeerGone(h.peerGone))
	t, err := transport.New(cfg.NodeID, cfg.ListenAddr, h, topts...)
	if err != nil {
		return nil, fmt.Errorf("replica: node %d: %w", cfg.NodeID, err)
	}
	ids := make([]uint64, 0, len(cfg.Peers))
	for id, addr := range cfg.Peers {
		ids = append(ids, id)
		if id == cfg.NodeID {
			continue
		}
		if err := t.SetPeer(id, addr); err != nil {
			t.Close()
			return nil, fmt.Errorf("replica: peer %d: %w", id, err)
		}
	}
	slices.Sort(ids)
	opts := cfg.Store
	opts.NodeID, opts.Peers, opts.Transport = cfg.NodeID, ids, storeTransport{t}
	if opts.Logger == nil {
		opts.Logger = cfg.Logger
	}
	st, err := durable.Open(cfg.Dir, opts)
	if err != nil {
		t.Close()
		return nil, err
	}
	h.store.Store(st)
	return &Node{Store: st, Transport: t, h: h}, nil
}

// Close stops the transport, then the store.
func (n *Node) Close() error {
	n.h.store.Store(nil)
	terr := n.Transport.Close()
	serr := n.Store.Close()
	return errors.Join(serr, terr)
}

// handler hands what peers send to the store (nil until it is open:
// messages before that are dropped, and raft resends them).
type handler struct {
	store   atomic.Pointer[durable.Store]
	log     *slog.Logger
	refused atomic.Uint64
}

func (h *handler) HandleBatch(from uint64, msgs []transport.GroupMessage) {
	st := h.store.Load()
	if st == nil {
		return
	}
	for _, gm := range msgs {
		if gm.Group > math.MaxUint32 {
			h.refused.Add(1)
			continue
		}
		if err := st.Step(uint32(gm.Group), gm.Msg); err != nil {
			if h.refused.Add(1)%1000 == 1 {
				h.log.Warn("replica: refused a raft message from a peer", "from", from, "err", err)
			}
		}
	}
}

// peerGone tells the store that a peer's process is gone (fast failover).
func (h *handler) peerGone(node uint64) {
	h.log.Info("replica: a peer's process is gone: its stream ended and its address refuses connections", "peer", node)
	if st := h.store.Load(); st != nil {
		st.PeerGone(node)
	}
}

func (h *handler) HandleSnapshot(from uint64, hdr transport.SnapshotHeader, chunks io.Reader) error {
	st := h.store.Load()
	if st == nil {
		return errors.New("replica: store not open yet")
	}
	if hdr.Group > math.MaxUint32 {
		return fmt.Errorf("replica: snapshot for group %d", hdr.Group)
	}
	return st.ReceiveSnapshot(uint32(hdr.Group), hdr.Msg, chunks)
}

// storeTransport is the store's view of the transport.
type storeTransport struct{ t *transport.Transport }

func (a storeTransport) Send(shard uint32, msgs []*pb.Message) {
	for _, m := range msgs {
		a.t.Send(m.GetTo(), uint64(shard), m)
	}
}

func (a storeTransport) Flush() { a.t.Flush() }

func (a storeTransport) SendSnapshot(ctx context.Context, shard uint32, m *pb.Message, data io.Reader) error {
	return a.t.SendSnapshot(ctx, m.GetTo(), transport.SnapshotHeader{Group: uint64(shard), Msg: m, Size: -1}, data)
}
