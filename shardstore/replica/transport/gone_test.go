package transport

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// A peer whose stream ends and whose address then refuses connections is
// reported gone; one whose address still accepts them is not.
func TestPeerGoneOnlyWhenNothingListens(t *testing.T) {
	gone := make(chan uint64, 4)
	ra, rb, rc := newRecorder(), newRecorder(), newRecorder()
	a := start(t, 1, "127.0.0.1:0", ra, WithPeerGone(func(n uint64) { gone <- n }),
		WithBackoff(5*time.Millisecond, 50*time.Millisecond, time.Second))
	b := start(t, 2, "127.0.0.1:0", rb)
	c := start(t, 3, "127.0.0.1:0", rc)
	px := newCutProxy(t, c.Addr().String()) // node 3 is reached through it
	must(t, a.SetPeer(2, b.Addr().String()))
	must(t, a.SetPeer(3, px.addr()))
	must(t, b.SetPeer(1, a.Addr().String()))
	must(t, c.SetPeer(1, a.Addr().String()))
	warm(t, a, 2, rb)
	a.Send(3, 1, app(3, 1, 1, 1, "warm"))
	a.Flush()
	rc.next(t)

	// Node 3's connection is cut, but its address still accepts: a reset
	// connection, not a gone process.
	px.cut()
	waitPeerID(t, a, 3, func(s PeerStats) bool { return s.Reconnects >= 1 }) // it ended (and came back)

	b.Close() // nothing listens on node 2's port any more
	select {
	case n := <-gone:
		if n != 2 {
			t.Fatalf("reported node %d gone, want 2", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("node 2 stopped, and was not reported gone in 10s")
	}
	select {
	case n := <-gone:
		t.Fatalf("node %d reported gone as well", n)
	case <-time.After(200 * time.Millisecond):
	}
	if s := peerStats(a, 2); s.Gone != 1 {
		t.Fatalf("node 2's Gone = %d, want 1", s.Gone)
	}
	if s := peerStats(a, 3); s.Gone != 0 {
		t.Fatalf("node 3's Gone = %d, want 0: its address still accepted", s.Gone)
	}
}

// cutProxy forwards TCP connections to target; cut closes the ones open
// while its listener keeps accepting.
type cutProxy struct {
	l     net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{l: l}
	t.Cleanup(func() { l.Close(); p.cut() })
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, in, out)
			p.mu.Unlock()
			go func() { io.Copy(out, in); out.Close() }()
			go func() { io.Copy(in, out); in.Close() }()
		}
	}()
	return p
}

func (p *cutProxy) addr() string { return p.l.Addr().String() }

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func peerStats(a *Transport, id uint64) PeerStats {
	for _, s := range a.Stats().Peers {
		if s.Node == id {
			return s
		}
	}
	return PeerStats{}
}

// waitPeerID polls a's peer id until ok holds, for up to 10s.
func waitPeerID(t *testing.T, a *Transport, id uint64, ok func(PeerStats) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok(peerStats(a, id)) {
		if time.Now().After(deadline) {
			t.Fatalf("peer %d state not reached in 10s: %+v", id, peerStats(a, id))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A peer that only ever sent to this node (its stream to us is up, ours
// to it was never opened) is reported gone when its process goes: the end
// of its inbound stream is probed too. Both streams ending report it once.
func TestPeerGoneFromInboundStream(t *testing.T) {
	gone := make(chan uint64, 4)
	ra, rb := newRecorder(), newRecorder()
	a := start(t, 1, "127.0.0.1:0", ra, WithPeerGone(func(n uint64) { gone <- n }))
	b := start(t, 2, "127.0.0.1:0", rb)
	must(t, a.SetPeer(2, b.Addr().String()))
	must(t, b.SetPeer(1, a.Addr().String()))
	b.Send(1, 7, app(1, 2, 1, 1, "only b sends"))
	b.Flush()
	ra.next(t)
	if s := peerStats(a, 2); s.Connected || s.InboundStreams != 1 {
		t.Fatalf("node 1's view of node 2 before it stops: %+v, want only an inbound stream", s)
	}
	b.Close()
	select {
	case n := <-gone:
		if n != 2 {
			t.Fatalf("reported node %d gone, want 2", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("node 2, which only sent, stopped and was not reported gone in 10s")
	}

	// Both directions up, then node 3 stops: one report.
	rc := newRecorder()
	c := start(t, 3, "127.0.0.1:0", rc)
	must(t, a.SetPeer(3, c.Addr().String()))
	must(t, c.SetPeer(1, a.Addr().String()))
	a.Send(3, 7, app(3, 1, 1, 1, "a to c"))
	a.Flush()
	rc.next(t)
	c.Send(1, 7, app(1, 3, 1, 1, "c to a"))
	c.Flush()
	ra.next(t)
	c.Close()
	if n := <-gone; n != 3 {
		t.Fatalf("reported node %d gone, want 3", n)
	}
	select {
	case n := <-gone:
		t.Fatalf("node %d reported gone again", n)
	case <-time.After(300 * time.Millisecond):
	}
}
