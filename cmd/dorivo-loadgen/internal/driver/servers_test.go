package driver

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dorivo/dorivo/datapath/resp"
	"github.com/dorivo/dorivo/datapath/wire"
)

// stallServer is a minimal RESP server for SET and GET that, once, sleeps
// stall before answering its stallAt-th command: a server hiccup such as a
// GC pause or an fsync.
func stallServer(t testing.TB, stallAt int64, stall time.Duration) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	var served atomic.Int64
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				buf := make([]byte, 0, 64<<10)
				var args [][]byte
				var out []byte
				for {
					n, err := c.Read(buf[len(buf):cap(buf)])
					if err != nil {
						return
					}
					buf = buf[:len(buf)+n]
					out = out[:0]
					for {
						var used int
						args, used, err = resp.Parse(buf, args, resp.DefaultLimits)
						if err != nil {
							return
						}
						if used == 0 {
							break
						}
						buf = buf[:copy(buf, buf[used:])]
						if len(args) == 0 {
							continue
						}
						if served.Add(1) == stallAt {
							if len(out) > 0 {
								_, _ = c.Write(out)
								out = out[:0]
							}
							time.Sleep(stall)
						}
						if string(args[0]) == "GET" {
							out = resp.AppendNull(out)
						} else {
							out = resp.AppendOK(out)
						}
					}
					if _, err := c.Write(out); err != nil {
						return
					}
				}
			})
		}
	})
	return l.Addr().String()
}

// udpServer is a datagram responder backed by a map, built on
// datapath/wire, standing in for the Dorivo agent's UDP side. It ignores
// every dropEvery-th request (0: none), as a lossy network would.
type udpServer struct {
	addr    string
	mu      sync.Mutex
	store   map[string]string
	ignored atomic.Int64
}

func startUDPServer(t testing.TB, dropEvery int64) *udpServer {
	t.Helper()
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	s := &udpServer{addr: pc.LocalAddr().String(), store: map[string]string{}}
	done := make(chan struct{})
	t.Cleanup(func() { pc.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, wire.MaxDatagram)
		var req wire.Request
		var out []byte
		var n int64
		for {
			m, from, err := pc.ReadFromUDP(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			if err := wire.ParseRequest(buf[:m], &req); err != nil && err != wire.ErrValueTooLarge {
				continue
			}
			if n++; dropEvery > 0 && n%dropEvery == 0 {
				s.ignored.Add(1)
				continue
			}
			rep := wire.Reply{ID: req.ID, Op: req.Op, Status: wire.StatusOK}
			s.mu.Lock()
			switch {
			case !wire.TagMatchesKey(req.Tag, req.Key):
				rep.Status, rep.Body = wire.StatusError, []byte("tag does not match key")
			case req.Op == wire.OpGet:
				v, ok := s.store[string(req.Key)]
				if !ok {
					rep.Status = wire.StatusNotFound
				}
				rep.Body = []byte(v)
			case req.Op == wire.OpSet:
				s.store[string(req.Key)] = string(req.Value)
			case req.Op == wire.OpDel:
				delete(s.store, string(req.Key))
			}
			s.mu.Unlock()
			out, _ = wire.AppendReply(out[:0], &rep)
			_, _ = pc.WriteToUDP(out, from)
		}
	}()
	return s
}
