package difftest

import (
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/dorivo/dorivo/datapath/command"
	"github.com/dorivo/dorivo/datapath/resp"
	"github.com/dorivo/dorivo/shardstore/keyspace"
)

// Serve starts a minimal Dorivo server on a free loopback port for the
// test's lifetime and returns its address.
//
// It is test scaffolding, not the datapath: one goroutine per connection
// and a single keyspace shared under a mutex, where the real server runs
// one lock-free keyspace per event loop. It exists so that the codec and
// executor can be compared with Redis before, and independently of, the
// event-loop server. Every mutation is also replayed with command.Apply
// (command.Replay) onto a shadow keyspace, and WithKeyspace shows it, so tests can check that
// the mutation records reproduce the state.
func Serve(tb testing.TB) *Server {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{Addr: l.Addr().String(), node: command.NewNode(), ks: keyspace.New(), shadow: command.NewReplay(keyspace.New()), l: l}
	s.node.StartMs = time.Now().UnixMilli()
	go s.accept()
	tb.Cleanup(func() {
		l.Close()
		s.wg.Wait()
	})
	return s
}

// Server is the stand-in server started by Serve.
type Server struct {
	Addr   string
	node   *command.Node
	l      net.Listener
	wg     sync.WaitGroup
	mu     sync.Mutex // guards ks, shadow and conns
	ks     *keyspace.Keyspace
	shadow *command.Replay
	conns  map[net.Conn]bool
	// ReplayErr collects the records that did not load back (under mu).
	ReplayErr error
}

// WithKeyspace runs fn with the live and the replayed keyspace, under the
// server's lock.
func (s *Server) WithKeyspace(fn func(live, replayed *keyspace.Keyspace)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s.ks, s.shadow.KS)
}

func (s *Server) accept() {
	for {
		c, err := s.l.Accept()
		if err != nil {
			s.mu.Lock()
			for c := range s.conns {
				c.Close()
			}
			s.mu.Unlock()
			return
		}
		s.mu.Lock()
		if s.conns == nil {
			s.conns = map[net.Conn]bool{}
		}
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serve(c)
	}
}

func (s *Server) serve(conn net.Conn) {
	defer s.wg.Done()
	sess := command.NewSession(s.node)
	sess.Addr = conn.RemoteAddr().String()
	defer func() {
		s.mu.Lock()
		sess.Close()
		delete(s.conns, conn)
		s.mu.Unlock()
		conn.Close()
	}()
	var (
		buf  []byte
		args [][]byte
		out  []byte
		muts []command.Mutation
		rd   = make([]byte, 64<<10)
	)
	for {
		n, err := conn.Read(rd)
		if n == 0 && err != nil {
			return
		}
		buf = append(buf, rd[:n]...)
		out = out[:0]
		closing := false
		for len(buf) > 0 && !closing {
			lim := resp.DefaultLimits
			lim.MaxBulkLen = s.node.Config().ProtoMaxBulkLen
			lim.Unauthenticated = !sess.Authenticated()
			var used int
			args, used, err = resp.Parse(buf, args, lim)
			if err != nil {
				var perr resp.Error
				if errors.As(err, &perr) {
					out = resp.AppendError(out, string(perr))
				}
				closing = true
				break
			}
			if used == 0 {
				break
			}
			if len(args) > 0 {
				s.mu.Lock()
				now := time.Now().UnixMilli()
				muts = muts[:0]
				out, muts = command.Exec(sess, s.ks, args, now, out, muts)
				if blk, ok := sess.TakeBlock(); ok {
					out = append(out, blk.TimeoutReply...) // no parking here: a timeout at once
				}
				for _, m := range muts {
					if err := s.shadow.Apply(m); err != nil {
						s.ReplayErr = errors.Join(s.ReplayErr, err)
					}
				}
				s.mu.Unlock()
				closing = sess.Closing
			}
			buf = buf[used:]
		}
		buf = append(buf[:0:0], buf...) // detach from the consumed prefix
		if len(out) > 0 {
			if _, err := conn.Write(out); err != nil {
				return
			}
		}
		if closing {
			return
		}
	}
}
