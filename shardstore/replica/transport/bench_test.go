package transport

import (
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// counter is a Handler that counts messages.
type counter struct{ n atomic.Int64 }

func (c *counter) HandleBatch(from uint64, msgs []GroupMessage)           { c.n.Add(int64(len(msgs))) }
func (c *counter) HandleSnapshot(uint64, SnapshotHeader, io.Reader) error { return nil }

// benchSend measures messages/s from one transport to another on loopback,
// mk building message i. Sends are flushed every perFlush messages, and at
// most window messages are in flight, so the bounded queue never drops.
func benchSend(b *testing.B, perFlush int, mk func(i int) (uint64, *raftpb.Message)) {
	c := &counter{}
	a, err := New(1, "127.0.0.1:0", &counter{})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	r, err := New(2, "127.0.0.1:0", c)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	if err := a.SetPeer(2, r.Addr().String()); err != nil {
		b.Fatal(err)
	}
	if err := r.SetPeer(1, a.Addr().String()); err != nil {
		b.Fatal(err)
	}
	// Warm up the stream.
	a.Send(2, 1, heartbeat(raftpb.MsgHeartbeat, 2, 1, 1))
	a.Flush()
	for c.n.Load() < 1 {
		time.Sleep(time.Millisecond)
	}
	msgs := make([]*raftpb.Message, b.N)
	groups := make([]uint64, b.N)
	for i := range msgs {
		groups[i], msgs[i] = mk(i)
	}
	const window = DefaultQueueLen / 2
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		for int64(i)-(c.n.Load()-1) >= window {
			time.Sleep(20 * time.Microsecond)
		}
		a.Send(2, groups[i], msgs[i])
		if (i+1)%perFlush == 0 {
			a.Flush()
		}
	}
	a.Flush()
	for c.n.Load()-1 < int64(b.N) {
		time.Sleep(50 * time.Microsecond)
	}
	b.StopTimer()
	if s := a.Stats().Peers[0]; s.MsgsDropped != 0 {
		b.Fatalf("%d messages dropped", s.MsgsDropped)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

// MsgApp with one 100-byte entry, 64 per flush.
func BenchmarkSendApp(b *testing.B) {
	data := string(make([]byte, 100))
	benchSend(b, 64, func(i int) (uint64, *raftpb.Message) {
		return uint64(i%128 + 1), app(2, 1, 3, uint64(i), data)
	})
}

// Heartbeats of 1000 groups per flush, coalesced.
func BenchmarkSendHeartbeats(b *testing.B) {
	benchSend(b, 1000, func(i int) (uint64, *raftpb.Message) {
		hb := heartbeat(raftpb.MsgHeartbeat, 2, 1, 3)
		hb.Commit = new(uint64(i))
		return uint64(i%1000 + 1), hb
	})
}

// echo is a Handler that answers every message with a MsgAppResp to its
// sender, through its own transport, as a raft follower's driver would.
type echo struct{ t atomic.Pointer[Transport] }

func (e *echo) HandleBatch(from uint64, msgs []GroupMessage) {
	t := e.t.Load()
	for _, m := range msgs {
		t.Send(from, m.Group, &raftpb.Message{Type: raftpb.MsgAppResp.Enum(), To: new(from), From: new(uint64(2)), Term: m.Msg.Term, Index: m.Msg.Index})
	}
	t.Flush()
}
func (e *echo) HandleSnapshot(uint64, SnapshotHeader, io.Reader) error { return nil }

// signal is a Handler that reports each batch on a channel.
type signal chan struct{}

func (s signal) HandleBatch(uint64, []GroupMessage)                     { s <- struct{}{} }
func (s signal) HandleSnapshot(uint64, SnapshotHeader, io.Reader) error { return nil }

// BenchmarkRoundTrip measures one raft round trip over loopback with one
// message in flight: a MsgApp with a 100-byte entry out, a MsgAppResp back.
// The raw-tcp case, a 200-byte ping-pong over a plain TCP connection, is
// the peer measured in the same run: the difference is the transport's own
// cost (gRPC framing, its sender and reader goroutines, the encoding).
func BenchmarkRoundTrip(b *testing.B) {
	b.Run("transport", func(b *testing.B) {
		got := make(signal, 1)
		a, err := New(1, "127.0.0.1:0", got)
		if err != nil {
			b.Fatal(err)
		}
		defer a.Close()
		e := &echo{}
		r, err := New(2, "127.0.0.1:0", e)
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		e.t.Store(r)
		if err := a.SetPeer(2, r.Addr().String()); err != nil {
			b.Fatal(err)
		}
		if err := r.SetPeer(1, a.Addr().String()); err != nil {
			b.Fatal(err)
		}
		data := string(make([]byte, 100))
		timeout := time.NewTimer(time.Hour)
		defer timeout.Stop()
		trip := func(i int) {
			a.Send(2, 1, app(2, 1, 3, uint64(i), data))
			a.Flush()
			timeout.Reset(5 * time.Second)
			select {
			case <-got:
			case <-timeout.C:
				b.Fatalf("round trip %d: no answer in 5 s", i)
			}
		}
		trip(0) // the streams' first use dials
		b.ResetTimer()
		for i := range b.N {
			trip(i + 1)
		}
	})
	b.Run("raw-tcp", func(b *testing.B) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
			buf := make([]byte, 200)
			for {
				if _, err := io.ReadFull(c, buf); err != nil {
					return
				}
				if _, err := c.Write(buf); err != nil {
					return
				}
			}
		}()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		buf := make([]byte, 200)
		b.ResetTimer()
		for range b.N {
			if _, err := c.Write(buf); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(c, buf); err != nil {
				b.Fatal(err)
			}
		}
	})
}
