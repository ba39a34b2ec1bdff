package transport

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/dorivo/dorivo/internal/testcerts"
)

// recorder is a Handler that hands every batch and snapshot to the test.
type recorder struct {
	batches chan []GroupMessage
	// onSnapshot, when set, handles snapshots; by default they are hashed.
	onSnapshot func(from uint64, h SnapshotHeader, r io.Reader) error
	snaps      chan snapResult
}

type snapResult struct {
	from   uint64
	header SnapshotHeader
	sum    [32]byte
	n      int64
	err    error
}

func newRecorder() *recorder {
	return &recorder{batches: make(chan []GroupMessage, 4096), snaps: make(chan snapResult, 16)}
}

func (r *recorder) HandleBatch(from uint64, msgs []GroupMessage) {
	r.batches <- append([]GroupMessage(nil), msgs...)
}

func (r *recorder) HandleSnapshot(from uint64, h SnapshotHeader, chunks io.Reader) error {
	if r.onSnapshot != nil {
		return r.onSnapshot(from, h, chunks)
	}
	sum := sha256.New()
	n, err := io.Copy(sum, chunks)
	res := snapResult{from: from, header: h, n: n, err: err}
	copy(res.sum[:], sum.Sum(nil))
	r.snaps <- res
	return err
}

// next waits for the next batch.
func (r *recorder) next(t *testing.T) []GroupMessage {
	t.Helper()
	select {
	case b := <-r.batches:
		return b
	case <-time.After(10 * time.Second):
		t.Fatal("no batch arrived within 10s")
		return nil
	}
}

// snapshot waits for the next snapshot the default handler took.
func (r *recorder) snapshot(t *testing.T) snapResult {
	t.Helper()
	select {
	case res := <-r.snaps:
		return res
	case <-time.After(10 * time.Second):
		t.Fatal("no snapshot arrived within 10s")
		return snapResult{}
	}
}

// noMore checks that no further batch is waiting.
func (r *recorder) noMore(t *testing.T) {
	t.Helper()
	select {
	case b := <-r.batches:
		t.Fatalf("unexpected extra batch of %d messages", len(b))
	case <-time.After(100 * time.Millisecond):
	}
}

func start(t *testing.T, id uint64, addr string, h Handler, opts ...Option) *Transport {
	t.Helper()
	tr, err := New(id, addr, h, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// pair starts nodes 1 and 2 on loopback, each the other's peer.
func pair(t *testing.T, opts ...Option) (a, b *Transport, ra, rb *recorder) {
	t.Helper()
	ra, rb = newRecorder(), newRecorder()
	a = start(t, 1, "127.0.0.1:0", ra, opts...)
	b = start(t, 2, "127.0.0.1:0", rb, opts...)
	if err := a.SetPeer(2, b.Addr().String()); err != nil {
		t.Fatal(err)
	}
	if err := b.SetPeer(1, a.Addr().String()); err != nil {
		t.Fatal(err)
	}
	return a, b, ra, rb
}

func app(to, from, term, index uint64, data string) *raftpb.Message {
	return &raftpb.Message{
		Type: raftpb.MsgApp.Enum(), To: new(to), From: new(from), Term: new(term),
		LogTerm: new(term), Index: new(index), Commit: new(index),
		Entries: []*raftpb.Entry{{Term: new(term), Index: new(index + 1), Data: []byte(data)}},
	}
}

func heartbeat(typ raftpb.MessageType, to, from, term uint64) *raftpb.Message {
	return &raftpb.Message{Type: typ.Enum(), To: new(to), From: new(from), Term: new(term)}
}

// warm sends one message and waits for it, so the stream is up.
func warm(t *testing.T, from *Transport, to uint64, r *recorder) {
	t.Helper()
	from.Send(to, 999, app(2, 1, 1, 1, "warm"))
	from.Flush()
	if b := r.next(t); len(b) != 1 || b[0].Group != 999 {
		t.Fatalf("warm-up batch: %v", b)
	}
}

func TestBatchKeepsOrderPerGroup(t *testing.T) {
	a, _, _, rb := pair(t)
	warm(t, a, 2, rb)
	before := a.Stats().Peers[0].BatchesSent
	var sent []GroupMessage
	for i := range 300 {
		g := uint64(i%3 + 1)
		m := app(2, 1, 5, uint64(i), fmt.Sprintf("entry %d of group %d", i, g))
		sent = append(sent, GroupMessage{Group: g, Msg: m})
		a.Send(2, g, m)
	}
	a.Flush()
	got := rb.next(t)
	rb.noMore(t)
	if len(got) != len(sent) {
		t.Fatalf("one flush of %d messages arrived as a batch of %d", len(sent), len(got))
	}
	// Plain messages keep the order they were sent in (so, per group too).
	for i := range sent {
		if got[i].Group != sent[i].Group || !proto.Equal(got[i].Msg, sent[i].Msg) {
			t.Fatalf("message %d: got group %d %v, sent group %d %v", i, got[i].Group, got[i].Msg, sent[i].Group, sent[i].Msg)
		}
	}
	s := a.Stats().Peers[0]
	if s.BatchesSent-before != 1 || s.MsgsSent != 301 || !s.Connected || s.MsgsDropped != 0 {
		t.Fatalf("sender stats after one flush: %+v", s)
	}
}

func TestHeartbeatsCoalesceAndFanOutExactly(t *testing.T) {
	a, _, _, rb := pair(t)
	warm(t, a, 2, rb)
	const groups = 200
	want := map[[2]uint64]*raftpb.Message{} // (group, type) -> message
	for g := uint64(1); g <= groups; g++ {
		hb := heartbeat(raftpb.MsgHeartbeat, 2, 1, 7)
		hb.Commit = new(g * 10)
		switch g % 4 {
		case 1:
			hb.Context = []byte(fmt.Sprintf("read-index %d", g))
		case 2:
			hb.Context = []byte{} // present but empty: must stay so
		}
		resp := heartbeat(raftpb.MsgHeartbeatResp, 2, 1, 7)
		if g%5 == 0 {
			resp.Term = nil // absent fields stay absent
		}
		want[[2]uint64{g, uint64(raftpb.MsgHeartbeat)}] = hb
		want[[2]uint64{g, uint64(raftpb.MsgHeartbeatResp)}] = resp
		a.Send(2, g, hb)
		a.Send(2, g, resp)
	}
	// A heartbeat with a field a coalesced entry does not carry goes as is.
	odd := heartbeat(raftpb.MsgHeartbeat, 2, 1, 7)
	odd.Index = new(uint64(3))
	a.Send(2, groups+1, odd)
	a.Flush()

	got := rb.next(t)
	rb.noMore(t)
	if len(got) != 2*groups+1 {
		t.Fatalf("got %d messages, want %d", len(got), 2*groups+1)
	}
	if got[0].Group != groups+1 || !proto.Equal(got[0].Msg, odd) {
		t.Fatalf("first message should be the uncoalescable heartbeat, got %v", got[0])
	}
	for _, gm := range got[1:] {
		key := [2]uint64{gm.Group, uint64(gm.Msg.GetType())}
		w := want[key]
		if w == nil {
			t.Fatalf("unexpected or duplicate heartbeat %v of group %d", gm.Msg, gm.Group)
		}
		if !proto.Equal(gm.Msg, w) || (w.Context == nil) != (gm.Msg.Context == nil) {
			t.Fatalf("group %d: fanned out %v, sent %v", gm.Group, gm.Msg, w)
		}
		delete(want, key)
	}
	s := a.Stats().Peers[0]
	if s.HeartbeatsCoalesced != 2*groups {
		t.Fatalf("HeartbeatsCoalesced = %d, want %d", s.HeartbeatsCoalesced, 2*groups)
	}
}

func TestReconnectsAfterPeerRestart(t *testing.T) {
	a, b, _, rb := pair(t, WithBackoff(5*time.Millisecond, 50*time.Millisecond, time.Second))
	warm(t, a, 2, rb)
	up := a.Stats().Peers[0]
	addr := b.Addr().String()
	b.Close()
	// The stream's end alone shows: disconnected, since a later time.
	down := waitPeer(t, a, func(s PeerStats) bool { return !s.Connected })
	if !down.StateSince.After(up.StateSince) {
		t.Fatalf("disconnected since %v, not after connected since %v", down.StateSince, up.StateSince)
	}

	rb2 := newRecorder()
	b2 := start(t, 2, addr, rb2)
	if err := b2.SetPeer(1, a.Addr().String()); err != nil {
		t.Fatal(err)
	}
	// Send until the restarted node hears us; messages sent while the stream
	// was down are dropped and counted, as raft expects.
	deadline := time.Now().Add(10 * time.Second)
	for i := uint64(1); ; i++ {
		a.Send(2, 1, app(2, 1, 1, i, "after restart"))
		a.Flush()
		select {
		case <-rb2.batches:
		case <-time.After(20 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatalf("no batch reached the restarted node: %+v", a.Stats().Peers[0])
			}
			continue
		}
		break
	}
	s := a.Stats().Peers[0]
	if s.Reconnects < 1 || !s.Connected || s.LastError == "" || !s.StateSince.After(down.StateSince) {
		t.Fatalf("after the peer's restart (down since %v): %+v", down.StateSince, s)
	}
}

// waitPeer polls a's first peer until ok holds, for up to 10s.
func waitPeer(t *testing.T, a *Transport, ok func(PeerStats) bool) PeerStats {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := a.Stats().Peers[0]
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("peer state not reached in 10s: %+v", s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A peer that accepts TCP but never answers (blackholed): the sender is stuck
// dialing, its queue fills, and Send drops and counts without blocking.
func TestFullQueueDropsWithoutBlocking(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never read
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	const queue = 8
	a := start(t, 1, "127.0.0.1:0", newRecorder(), WithQueueLen(queue), WithBackoff(time.Second, time.Second, 30*time.Second))
	if err := a.SetPeer(2, lis.Addr().String()); err != nil {
		t.Fatal(err)
	}
	const sends = 100000
	for i := range sends {
		a.Send(2, 1, app(2, 1, 1, uint64(i), "x"))
	}
	s := a.Stats().Peers[0]
	if s.MsgsDropped != sends-queue || s.QueueLen != queue || s.Connected || s.MsgsSent != 0 {
		t.Fatalf("after %d Sends into a queue of %d: %+v", sends, queue, s)
	}
	a.Send(9, 1, app(9, 1, 1, 1, "nobody"))
	if got := a.Stats().UnknownPeerDrops; got != 1 {
		t.Fatalf("UnknownPeerDrops = %d, want 1", got)
	}
}

func TestSnapshotArrivesIntact(t *testing.T) {
	a, _, _, rb := pair(t)
	data := make([]byte, 5<<20+12345)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	msg := &raftpb.Message{Type: raftpb.MsgSnap.Enum(), To: new(uint64(2)), From: new(uint64(1)), Term: new(uint64(4)),
		Snapshot: &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{Index: new(uint64(1000)), Term: new(uint64(4))}}}
	h := SnapshotHeader{Group: 42, Msg: msg, Size: int64(len(data))}
	if err := a.SendSnapshot(context.Background(), 2, h, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	res := rb.snapshot(t)
	if res.err != nil || res.n != int64(len(data)) || res.sum != sha256.Sum256(data) {
		t.Fatalf("received %d bytes (err %v), sha256 match %v; sent %d", res.n, res.err, res.sum == sha256.Sum256(data), len(data))
	}
	if res.from != 1 || res.header.Group != 42 || res.header.Size != h.Size || !proto.Equal(res.header.Msg, msg) {
		t.Fatalf("header: from %d %+v", res.from, res.header)
	}
	s := a.Stats().Peers[0]
	if s.SnapshotsSent != 1 || s.SnapshotBytesSent != uint64(len(data)) {
		t.Fatalf("sender stats: %+v", s)
	}

	// An unknown size (-1) streams until EOF.
	if err := a.SendSnapshot(context.Background(), 2, SnapshotHeader{Group: 43, Size: -1}, bytes.NewReader(data[:3000])); err != nil {
		t.Fatal(err)
	}
	if res := rb.snapshot(t); res.n != 3000 || res.header.Size != -1 || res.header.Msg != nil {
		t.Fatalf("unknown-size snapshot: %+v", res)
	}

	// Data shorter than the header says: the sender fails and the receiver
	// sees an unexpected EOF, never a short snapshot taken as whole.
	err := a.SendSnapshot(context.Background(), 2, SnapshotHeader{Group: 44, Size: 5000}, bytes.NewReader(data[:4000]))
	if err == nil {
		t.Fatal("a snapshot shorter than its header was accepted")
	}
	// The handler sees an error, or is not called at all when the stream is
	// reset before the receiver read the header.
	select {
	case res := <-rb.snaps:
		if res.err == nil {
			t.Fatalf("receiver took a short snapshot as complete: %+v", res)
		}
	case <-time.After(2 * time.Second):
	}
}

func TestSnapshotHandlerErrorReachesSender(t *testing.T) {
	a, _, _, rb := pair(t)
	rb.onSnapshot = func(from uint64, h SnapshotHeader, r io.Reader) error {
		return errors.New("disk full")
	}
	err := a.SendSnapshot(context.Background(), 2, SnapshotHeader{Group: 7, Size: -1}, bytes.NewReader(make([]byte, 3<<20)))
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("SendSnapshot = %v, want the receiver's error", err)
	}
}

// A snapshot stalled in the receiver does not hold up raft batches.
func TestSnapshotDoesNotDelayBatches(t *testing.T) {
	a, _, _, rb := pair(t)
	warm(t, a, 2, rb)
	release := make(chan struct{})
	started := make(chan struct{})
	rb.onSnapshot = func(from uint64, h SnapshotHeader, r io.Reader) error {
		close(started)
		<-release // reads nothing: gRPC flow control stalls the sender
		_, err := io.Copy(io.Discard, r)
		return err
	}
	done := make(chan error, 1)
	go func() {
		done <- a.SendSnapshot(context.Background(), 2, SnapshotHeader{Group: 1, Size: -1}, bytes.NewReader(make([]byte, 32<<20)))
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the snapshot did not reach the handler")
	}
	for i := range 5 {
		a.Send(2, 1, heartbeat(raftpb.MsgHeartbeat, 2, 1, uint64(i)))
		a.Flush()
		if b := rb.next(t); len(b) != 1 || b[0].Msg.GetTerm() != uint64(i) {
			t.Fatalf("heartbeat %d during a stalled snapshot: %v", i, b)
		}
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// rawStream opens a raft stream to tr by hand, as a misbehaving peer would.
func rawStream(t *testing.T, tr *Transport, from, to string) (grpc.ClientStream, context.CancelFunc) {
	t.Helper()
	conn, err := grpc.NewClient("passthrough:///"+tr.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(rawCodec{})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	ctx = metadata.NewOutgoingContext(ctx, metadata.Pairs(mdFrom, from, mdTo, to))
	cs, err := conn.NewStream(ctx, &raftStreamDesc, raftMethod)
	if err != nil {
		t.Fatal(err)
	}
	return cs, cancel
}

func TestMalformedFrameDisconnectsAndCounts(t *testing.T) {
	a, b, _, rb := pair(t)
	for i, garbage := range [][]byte{
		{0xff, 0xff, 0xff},                   // truncated tag varint
		{0x0a, 0x05, 0x08},                   // group message longer than the frame
		{0x0a, 0x02, 0x08, 0x01},             // group message without a raft message
		{0x0a, 0x04, 0x08, 0x01, 0x12, 0x7f}, // raft message past the end
		{0x12, 0x04, 0x0a, 0x02, 0x10, 0x03}, // heartbeat block with a non-heartbeat type
	} {
		cs, cancel := rawStream(t, b, "1", "2")
		if err := cs.SendMsg(newOutFrame(garbage)); err != nil {
			t.Fatal(err)
		}
		err := cs.RecvMsg(&inFrame{})
		cancel()
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("frame %d %x: stream ended with %v, want InvalidArgument", i, garbage, err)
		}
		if got := b.Stats().Peers[0].Malformed; got != uint64(i+1) {
			t.Fatalf("Malformed = %d after %d bad frames", got, i+1)
		}
	}
	// Misaddressed and unknown senders are refused.
	for _, md := range [][2]string{{"1", "3"}, {"5", "2"}, {"x", "2"}} {
		cs, cancel := rawStream(t, b, md[0], md[1])
		err := cs.RecvMsg(&inFrame{})
		cancel()
		if err == nil || status.Code(err) == codes.OK {
			t.Fatalf("stream from %s to %s accepted", md[0], md[1])
		}
	}
	if got := b.Stats().UnknownPeerRejects; got != 3 {
		t.Fatalf("UnknownPeerRejects = %d, want 3", got)
	}
	// The node still serves its real peer.
	warm(t, a, 2, rb)
}

func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	lo := net.ParseIP("127.0.0.1")
	ca := testcerts.NewCA(t, dir, "cluster")
	other := testcerts.NewCA(t, dir, "other")
	c1, k1 := ca.Issue(t, "n1", lo)
	c2, k2 := ca.Issue(t, "n2", lo)
	c3, k3 := other.Issue(t, "n3", lo)

	ra, rb := newRecorder(), newRecorder()
	a := start(t, 1, "127.0.0.1:0", ra, WithTLSFiles(c1, k1, ca.File))
	b := start(t, 2, "127.0.0.1:0", rb, WithTLSFiles(c2, k2, ca.File))
	must(t, a.SetPeer(2, b.Addr().String()))
	must(t, b.SetPeer(1, a.Addr().String()))
	warm(t, a, 2, rb)
	warm(t, b, 1, ra)

	// Node 3's certificate comes from another CA. It trusts the cluster CA, so
	// only b's check of the client certificate can refuse it.
	r3 := newRecorder()
	n3 := start(t, 3, "127.0.0.1:0", r3, WithTLSFiles(c3, k3, ca.File), WithBackoff(10*time.Millisecond, 50*time.Millisecond, time.Second))
	must(t, n3.SetPeer(2, b.Addr().String()))
	must(t, b.SetPeer(3, n3.Addr().String()))
	expectRefused(t, n3, rb)

	// A client that trusts only the other CA refuses b's server certificate.
	n4 := start(t, 4, "127.0.0.1:0", newRecorder(), WithTLSFiles(c1, k1, other.File), WithBackoff(10*time.Millisecond, 50*time.Millisecond, time.Second))
	must(t, n4.SetPeer(2, b.Addr().String()))
	must(t, b.SetPeer(4, n4.Addr().String()))
	expectRefused(t, n4, rb)

	// A plaintext client gets nowhere either.
	n5 := start(t, 5, "127.0.0.1:0", newRecorder(), WithBackoff(10*time.Millisecond, 50*time.Millisecond, time.Second))
	must(t, n5.SetPeer(2, b.Addr().String()))
	must(t, b.SetPeer(5, n5.Addr().String()))
	expectRefused(t, n5, rb)

	if _, err := New(6, "127.0.0.1:0", newRecorder(), WithTLSFiles(c1, k1, filepath.Join(dir, "missing.pem"))); err == nil {
		t.Fatal("a missing CA file was accepted")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// expectRefused sends from n to node 2 for a while and checks that nothing
// arrives and that n records the failure.
func expectRefused(t *testing.T, n *Transport, rb *recorder) {
	t.Helper()
	for i := range 20 {
		n.Send(2, 1, app(2, n.ID(), 1, uint64(i), "refused"))
		n.Flush()
		time.Sleep(10 * time.Millisecond)
	}
	rb.noMore(t)
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := n.Stats().Peers[0]
		if !s.Connected && s.LastError != "" && s.MsgsSent == 0 {
			t.Logf("node %d refused: %s", n.ID(), s.LastError)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %d: %+v", n.ID(), s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestOptionsAndPeersRejectBadInput(t *testing.T) {
	r := newRecorder()
	for _, c := range []struct {
		id   uint64
		addr string
		h    Handler
		opt  Option
	}{
		{0, "127.0.0.1:0", r, nil},
		{1, "127.0.0.1:0", nil, nil},
		{1, "not an address", r, nil},
		{1, "127.0.0.1:0", r, WithQueueLen(0)},
		{1, "127.0.0.1:0", r, WithMaxBatchBytes(10)},
		{1, "127.0.0.1:0", r, WithSnapshotChunkSize(0)},
		{1, "127.0.0.1:0", r, WithBackoff(time.Second, time.Millisecond, time.Second)},
		{1, "127.0.0.1:0", r, WithTLSFiles("", "k", "c")},
	} {
		var opts []Option
		if c.opt != nil {
			opts = append(opts, c.opt)
		}
		if tr, err := New(c.id, c.addr, c.h, opts...); err == nil {
			tr.Close()
			t.Errorf("New(%d, %q, ...) accepted bad input", c.id, c.addr)
		}
	}
	a := start(t, 1, "127.0.0.1:0", r)
	for _, c := range []struct {
		id   uint64
		addr string
	}{{0, "127.0.0.1:1"}, {1, "127.0.0.1:1"}, {2, "nohostport"}} {
		if err := a.SetPeer(c.id, c.addr); err == nil {
			t.Errorf("SetPeer(%d, %q) accepted", c.id, c.addr)
		}
	}
	if err := a.SendSnapshot(context.Background(), 7, SnapshotHeader{Size: -1}, bytes.NewReader(nil)); err == nil {
		t.Error("snapshot to an unknown node accepted")
	}
}

func TestSetPeerMovesAndRemovePeerForgets(t *testing.T) {
	a, b, _, rb := pair(t)
	warm(t, a, 2, rb)
	b.Close()
	rb2 := newRecorder()
	b2 := start(t, 2, "127.0.0.1:0", rb2) // same node, new address
	must(t, b2.SetPeer(1, a.Addr().String()))
	must(t, a.SetPeer(2, b2.Addr().String()))
	warm(t, a, 2, rb2)
	s := a.Stats().Peers[0]
	if s.Addr != b2.Addr().String() || s.MsgsSent != 2 || !s.Connected {
		t.Fatalf("after the move: %+v", s)
	}
	a.RemovePeer(2)
	a.Send(2, 1, app(2, 1, 1, 1, "gone"))
	if st := a.Stats(); len(st.Peers) != 0 || st.UnknownPeerDrops != 1 {
		t.Fatalf("after RemovePeer: %+v", st)
	}
}
