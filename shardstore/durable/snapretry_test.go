package durable

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// memNet connects stores in-process: Send steps the message on its
// destination, SendSnapshot hands the stream to its ReceiveSnapshot.
type memNet struct {
	mu     sync.Mutex
	stores map[uint64]*Store
	// failSnaps: this many snapshot streams break at their first read.
	failSnaps atomic.Int32
}

func (n *memNet) store(id uint64) *Store {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stores[id]
}

func (n *memNet) set(id uint64, s *Store) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.stores[id] = s
}

type memTransport struct{ net *memNet }

func (t memTransport) Send(shard uint32, msgs []*pb.Message) {
	for _, m := range msgs {
		if st := t.net.store(m.GetTo()); st != nil {
			st.Step(shard, proto.Clone(m).(*pb.Message))
		}
	}
}

func (memTransport) Flush() {}

type brokenReader struct{}

func (brokenReader) Read([]byte) (int, error) { return 0, errors.New("stream broke") }

func (t memTransport) SendSnapshot(_ context.Context, shard uint32, m *pb.Message, data io.Reader) error {
	st := t.net.store(m.GetTo())
	if st == nil {
		return fmt.Errorf("node %d down", m.GetTo())
	}
	if t.net.failSnaps.Add(-1) >= 0 {
		return st.ReceiveSnapshot(shard, proto.Clone(m).(*pb.Message), brokenReader{})
	}
	return st.ReceiveSnapshot(shard, proto.Clone(m).(*pb.Message), data)
}

// A snapshot the receiver refuses is retried by the sender's raft until
// one is applied: the follower is never wedged, and no memory stays
// reserved.
func TestRefusedSnapshotIsRetried(t *testing.T) {
	net := &memNet{stores: map[uint64]*Store{}}
	dir := t.TempDir()
	open := func(id uint64) *Store {
		s := openStore(t, filepath.Join(dir, strconv.FormatUint(id, 10)), Options{
			NodeID: id, Peers: []uint64{1, 2, 3}, Transport: memTransport{net},
			TickInterval: 5 * time.Millisecond, ElectionTicks: 20, HeartbeatTicks: 2, LogKeepEntries: 20,
		})
		net.set(id, s)
		return s
	}
	for id := uint64(1); id <= 3; id++ {
		defer func() {
			if s := net.store(id); s != nil {
				s.Close()
			}
		}()
		open(id)
	}
	leader := func() *Store {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			for id := uint64(1); id <= 3; id++ {
				if s := net.store(id); s != nil && s.IsLeader(0) {
					return s
				}
			}
		}
		t.Fatal("no leader in 30s")
		return nil
	}
	var follower uint64 = 3
	if leader().NodeID() == 3 {
		follower = 2
	}
	net.store(follower).Close()
	net.set(follower, nil)
	var last uint64
	for i := 0; i < 200; {
		k := fmt.Sprintf("k%d", i)
		r := wait(t, proposeAsync(leader(), []byte(k), AppendSet(nil, []byte(k), []byte("v"), 0)))
		if errors.Is(r.err, ErrNotLeader) {
			continue
		}
		if r.err != nil {
			t.Fatalf("SET %s: %v", k, r.err)
		}
		last, i = r.index, i+1
	}
	net.failSnaps.Store(2)
	f := open(follower)
	for deadline := time.Now().Add(30 * time.Second); f.AppliedIndex(0) < last; time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("follower applied %d, want %d; refused %d snapshots, applied %d",
				f.AppliedIndex(0), last, f.Stats().SnapshotsRefused, f.Stats().SnapshotsApplied)
		}
	}
	if v, ok := mustGet(t, f, "k199"); !ok || v != "v" {
		t.Fatalf("follower k199 = %q, %v", v, ok)
	}
	st := f.Stats()
	if st.SnapshotsRefused < 2 || st.SnapshotsApplied == 0 {
		t.Fatalf("follower refused %d snapshots and applied %d, want at least 2 and 1", st.SnapshotsRefused, st.SnapshotsApplied)
	}
	f.snapIn.mu.Lock()
	used := f.snapIn.used
	f.snapIn.mu.Unlock()
	if used != 0 {
		t.Fatalf("%d bytes still reserved after the follower caught up", used)
	}
}
