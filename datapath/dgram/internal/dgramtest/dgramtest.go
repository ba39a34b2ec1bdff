// Package dgramtest is a datagram responder for the client's tests: it
// does what the node's event loop does with a datagram (parse, check with
// auth.Table, execute on a map, answer signed with the key that verified),
// so the client is tested against the protocol, and it can misbehave on
// purpose (forge replies, answer other requests).
package dgramtest

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/dorivo/dorivo/datapath/wire"
	"github.com/dorivo/dorivo/datapath/wire/auth"
)

// Server answers datagrams on a loopback UDP port until the test ends.
type Server struct {
	Addr string

	mu    sync.Mutex
	table *auth.Table
	data  map[string][]byte
	// Misbehaviour, set by tests.
	forgeKey   wire.Key // non-zero: sign replies with this key instead
	staleFirst bool     // answer with a wrong request ID before the real reply
	overQuota  bool
	retryAfter time.Duration // > 0: answer UNAVAILABLE with this retry-after
	dropN      int           // drop this many requests before answering
	Refused    int           // datagrams refused by auth.Check (no reply sent)
}

// Start serves tbl on 127.0.0.1.
func Start(tb testing.TB, tbl *auth.Table) *Server {
	tb.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{Addr: pc.LocalAddr().String(), table: tbl, data: map[string][]byte{}}
	done := make(chan struct{})
	tb.Cleanup(func() { pc.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, wire.MaxDatagram)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			for _, out := range s.serve(buf[:n]) {
				_, _ = pc.WriteTo(out, from)
			}
		}
	}()
	return s
}

// Misbehave sets what the server does wrong.
func (s *Server) Misbehave(forgeKey wire.Key, staleFirst, overQuota bool, dropN int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forgeKey, s.staleFirst, s.overQuota, s.dropN = forgeKey, staleFirst, overQuota, dropN
}

// Unavailable makes the server answer UNAVAILABLE with retry-after d, as
// XDP does for a shed slot; 0 serves again.
func (s *Server) Unavailable(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retryAfter = d
}

// RefusedCount is how many datagrams auth.Check refused.
func (s *Server) RefusedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Refused
}

func (s *Server) serve(b []byte) [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	var req wire.Request
	if err := wire.ParseRequest(b, &req); err != nil {
		return nil
	}
	key, err := s.table.Check(b, &req, time.Now())
	if err != nil {
		s.Refused++
		return nil // no reflection: nothing for what does not verify
	}
	if s.dropN > 0 {
		s.dropN--
		return nil
	}
	rep := wire.Reply{ID: req.ID, Op: req.Op, Status: wire.StatusOK}
	switch {
	case s.overQuota:
		rep.Status = wire.StatusOverQuota
	case s.retryAfter > 0:
		rep.Status, rep.Body = wire.StatusUnavailable, wire.AppendRetryAfter(nil, s.retryAfter)
	case !wire.TagMatchesKey(req.Tag, req.Key):
		rep.Status, rep.Body = wire.StatusError, []byte("tag is not the key's hash tag")
	case req.Op == wire.OpGet:
		v, ok := s.data[string(req.Key)]
		if !ok {
			rep.Status = wire.StatusNotFound
		}
		rep.Body = v
	case req.Op == wire.OpSet:
		s.data[string(req.Key)] = append([]byte(nil), req.Value...)
	case req.Op == wire.OpDel:
		if _, ok := s.data[string(req.Key)]; !ok {
			rep.Status = wire.StatusNotFound
		}
		delete(s.data, string(req.Key))
	}
	var outs [][]byte
	sign := func(r wire.Reply) []byte {
		if !req.Signed {
			out, _ := wire.AppendReply(nil, &r)
			return out
		}
		k := key
		if !s.forgeKey.IsZero() {
			k = s.forgeKey
		}
		out, _ := wire.AppendSignedReply(nil, &r, k, req.MAC)
		return out
	}
	if s.staleFirst {
		stale := rep
		stale.ID++
		outs = append(outs, sign(stale))
	}
	return append(outs, sign(rep))
}
