package udptest

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/dorivo/dorivo/datapath/wire"
)

// Server answers GET, SET and DEL datagrams on a loopback port.
type Server struct {
	Addr    string
	mu      sync.Mutex
	store   map[string]string
	ignored atomic.Int64
}

// Start starts a Server that ignores every dropEvery-th valid request
// (0: none); it stops when the test ends.
func Start(tb testing.TB, dropEvery int64) *Server {
	tb.Helper()
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{Addr: pc.LocalAddr().String(), store: map[string]string{}}
	done := make(chan struct{})
	tb.Cleanup(func() { pc.Close(); <-done })
	go func() {
		defer close(done)
		s.serve(pc, dropEvery)
	}()
	return s
}

func (s *Server) serve(pc *net.UDPConn, dropEvery int64) {
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
		perr := wire.ParseRequest(buf[:m], &req)
		if perr != nil && perr != wire.ErrValueTooLarge {
			continue // the kernel would have dropped it
		}
		if n++; dropEvery > 0 && n%dropEvery == 0 {
			s.ignored.Add(1)
			continue
		}
		rep := wire.Reply{ID: req.ID, Op: req.Op, Status: wire.StatusOK}
		s.mu.Lock()
		switch {
		case perr == wire.ErrValueTooLarge:
			rep.Status, rep.Body = wire.StatusError, []byte(wire.ValueTooLargeMessage)
		case !wire.TagMatchesKey(req.Tag, req.Key):
			rep.Status, rep.Body = wire.StatusError, []byte("tag does not match the key's hash tag")
		case req.Op == wire.OpGet:
			v, ok := s.store[string(req.Key)]
			if !ok {
				rep.Status = wire.StatusNotFound
			}
			rep.Body = []byte(v)
		case req.Op == wire.OpSet:
			s.store[string(req.Key)] = string(req.Value)
		case req.Op == wire.OpDel:
			if _, ok := s.store[string(req.Key)]; !ok {
				rep.Status = wire.StatusNotFound
			}
			delete(s.store, string(req.Key))
		}
		s.mu.Unlock()
		out, _ = wire.AppendReply(out[:0], &rep)
		_, _ = pc.WriteToUDP(out, from)
	}
}

// Ignored is the number of requests the server dropped on purpose.
func (s *Server) Ignored() int64 { return s.ignored.Load() }

// Set stores value under key behind the clients' backs.
func (s *Server) Set(key, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.store[key] = value
}

// Delete removes key behind the clients' backs.
func (s *Server) Delete(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.store, key)
}
