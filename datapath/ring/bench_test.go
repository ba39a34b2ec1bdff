package ring_test

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/dorivo/dorivo/datapath/ring"
	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// loopHandle starts one single-loop gnet engine on loopback and returns a
// handle to its event loop, obtained from the first accepted connection
// (gnet exposes loops only through Conn.EventLoop).
type loopHandle struct {
	gnet.BuiltinEventEngine
	port int
	el   chan gnet.EventLoop
}

func (h *loopHandle) OnBoot(e gnet.Engine) gnet.Action {
	fd, err := e.Dup()
	if err == nil {
		if sa, err := unix.Getsockname(fd); err == nil {
			h.port = sa.(*unix.SockaddrInet4).Port
		}
		unix.Close(fd)
	}
	return gnet.None
}

func (h *loopHandle) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	h.el <- c.EventLoop()
	return nil, gnet.None
}

var (
	benchLoopOnce sync.Once
	benchLoop     gnet.EventLoop
)

func eventLoop(b *testing.B) gnet.EventLoop {
	benchLoopOnce.Do(func() {
		h := &loopHandle{el: make(chan gnet.EventLoop, 1)}
		booted := make(chan struct{})
		go func() {
			_ = gnet.Run(&bootSignal{h, booted}, "tcp://127.0.0.1:0", gnet.WithNumEventLoop(1),
				gnet.WithLockOSThread(true), gnet.WithLogLevel(4))
		}()
		<-booted
		c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", itoa(h.port)))
		if err != nil {
			panic(err)
		}
		benchLoop = <-h.el
		_ = c // kept open: the engine runs for the whole test binary
	})
	return benchLoop
}

type bootSignal struct {
	*loopHandle
	booted chan struct{}
}

func (s *bootSignal) OnBoot(e gnet.Engine) gnet.Action {
	a := s.loopHandle.OnBoot(e)
	close(s.booted)
	return a
}

func itoa(n int) string {
	var b [8]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

type msg struct {
	conn, seq uint64
	off, n    uint32
}

// BenchmarkHandoff measures handing one small message to a gnet event loop
// and having the loop consume it, end to end (the benchmark waits until the
// loop has seen all b.N). execute: one EventLoop.Execute per message, the
// baseline. ring: an SPSC ring per message, doorbell = one Execute per
// batch the loop has not yet picked up. ring-batch32: the producer flushes
// every 32 messages, as a loop does at the end of a read burst.
func BenchmarkHandoff(b *testing.B) {
	el := eventLoop(b)
	ctx := context.Background()

	b.Run("execute", func(b *testing.B) {
		var done atomic.Int64
		var sum uint64
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			m := msg{seq: uint64(i)}
			_ = el.Execute(ctx, gnet.RunnableFunc(func(context.Context) error {
				sum += m.seq
				done.Add(1)
				return nil
			}))
		}
		for done.Load() < int64(b.N) {
		}
	})

	for _, batch := range []int{1, 32} {
		name := "ring"
		if batch > 1 {
			name = "ring-batch32"
		}
		b.Run(name, func(b *testing.B) {
			var done atomic.Int64
			var sum uint64
			spaceC := make(chan struct{}, 1)
			var r *ring.Ring[msg]
			var bell *ring.Doorbell
			drain := gnet.RunnableFunc(func(context.Context) error {
				bell.Ack()
				n := r.Len()
				for i := range n {
					sum += r.Peek(i).seq
				}
				r.Release(n)
				done.Add(int64(n))
				return nil
			})
			bell = ring.NewDoorbell(func() { _ = el.Execute(ctx, drain) })
			space := ring.NewDoorbell(func() { spaceC <- struct{}{} })
			r, _ = ring.New[msg](1024, bell, space)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				m := msg{seq: uint64(i)}
				for !r.Stage(&m) {
					r.Flush()
					space.Ack()
					if r.Park() {
						<-spaceC
					}
				}
				if (i+1)%batch == 0 {
					r.Flush()
				}
			}
			r.Flush()
			for done.Load() < int64(b.N) {
			}
		})
	}
}
