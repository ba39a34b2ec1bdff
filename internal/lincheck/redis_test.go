package lincheck

import (
	"context"
	"errors"
	"fmt"
	"github.com/dorivo/dorivo/internal/redistest"
	"io"
	"math/rand/v2"
	"net"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/redis/go-redis/v9"
)

// redisServer is a redis-server on a free loopback port, stopped at cleanup.
type redisServer struct {
	addr string
	cmd  *exec.Cmd
}

func startRedis(t testing.TB) *redisServer {
	t.Helper()
	s := redistest.Start(t)
	srv := &redisServer{addr: s.Addr, cmd: s.Cmd}
	if !srv.waitReady() {
		t.Fatal("redis-server does not answer PING")
	}
	return srv
}

func (s *redisServer) waitReady() bool {
	rdb := redis.NewClient(&redis.Options{Addr: s.addr, MaxRetries: -1, DisableIdentity: true})
	defer rdb.Close()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if rdb.Ping(context.Background()).Err() == nil {
			return true
		}
	}
	return false
}

// runClients runs n recorded clients against addr, each issuing at most
// maxOps commands until stop is closed (or the ops run out).
func runClients(t testing.TB, rec *Recorder, opts redis.Options, n, maxOps int, keys []string, stop <-chan struct{}) Stats {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total Stats
	)
	for i := range n {
		c := rec.NewClient(&opts)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			st := c.Run(ctx, rand.New(rand.NewPCG(uint64(i), 14)), keys, maxOps)
			mu.Lock()
			total = total.Add(st)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return total
}

func finalReads(t *testing.T, addr string, keys []string) []FinalRead {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DisableIdentity: true})
	defer rdb.Close()
	reads, err := ReadFinal(context.Background(), rdb, keys)
	if err != nil {
		t.Fatal(err)
	}
	return reads
}

var testKeys = []string{"k0", "k1", "k2"}

func TestRedisServerIsLinearizable(t *testing.T) {
	srv := startRedis(t)
	rec := NewRecorder()
	opts := redis.Options{Addr: srv.addr, DisableIdentity: true}
	st := runClients(t, rec, opts, 8, 1500, testKeys, nil)
	t.Logf("workload: %+v", st)
	if st.Ops != 8*1500 || st.Unknown+st.Failed+st.Dropped != 0 || st.NotInteger == 0 {
		t.Fatalf("stats %+v: want 12000 ops, no errors but some INCR refusals", st)
	}
	res := CheckFinal(t, rec.History(), finalReads(t, srv.addr, testKeys), time.Minute)
	if res.Verdict != porcupine.Ok || res.Ops != st.Ops+len(testKeys) {
		t.Fatalf("%v; want Ok over %d ops", res, st.Ops+len(testKeys))
	}
}

// TestRedisServerPausedIsLinearizable stops the server mid-run: commands time
// out on the client (unknown), and the server runs the ones it had buffered
// once it resumes, after the clients gave up on them.
func TestRedisServerPausedIsLinearizable(t *testing.T) {
	srv := startRedis(t)
	rec := NewRecorder()
	opts := redis.Options{Addr: srv.addr, DisableIdentity: true,
		DialTimeout: 50 * time.Millisecond, ReadTimeout: 50 * time.Millisecond, WriteTimeout: 50 * time.Millisecond}
	stop := make(chan struct{})
	go func() {
		time.Sleep(300 * time.Millisecond)
		start := rec.Now()
		srv.cmd.Process.Signal(syscall.SIGSTOP)
		time.Sleep(400 * time.Millisecond)
		srv.cmd.Process.Signal(syscall.SIGCONT)
		rec.Annotate("SIGSTOP redis-server", start, rec.Now())
		time.Sleep(300 * time.Millisecond)
		close(stop)
	}()
	st := runClients(t, rec, opts, 6, 1_000_000, testKeys, stop)
	t.Logf("workload: %+v", st)
	if st.Unknown == 0 || st.OK < 1000 {
		t.Fatalf("stats %+v: want unknown outcomes and >= 1000 ok", st)
	}
	res := CheckFinal(t, rec.History(), finalReads(t, srv.addr, testKeys), time.Minute, rec.Annotations()...)
	if res.Verdict != porcupine.Ok {
		t.Fatal(res)
	}
	t.Logf("unknown writes applied after their timeout: %d of %d", appliedUnknowns(rec.History()), res.Unknown)
}

// appliedUnknowns counts unknown SETs whose value was read later: writes the
// client gave up on that did take effect.
func appliedUnknowns(h []porcupine.Operation) int {
	read := map[string]bool{}
	for _, op := range h {
		if o := op.Output.(Output); o.Status == StatusOK && !o.Nil {
			read[op.Input.(Input).Key+"="+o.Value] = true
		}
	}
	n := 0
	for _, op := range h {
		in := op.Input.(Input)
		if op.Output.(Output).Status == StatusUnknown && in.Kind == KindSet && read[in.Key+"="+in.Value] {
			n++
		}
	}
	return n
}

func TestClassify(t *testing.T) {
	dialErr := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	readErr := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	cases := []struct {
		err  error
		want Status
	}{
		{nil, StatusOK},
		{redis.Nil, StatusOK},
		{errors.New("TIMEOUT may or may not have been applied"), StatusUnknown}, // not a reply
		{context.DeadlineExceeded, StatusUnknown},
		{io.EOF, StatusUnknown},
		{io.ErrUnexpectedEOF, StatusUnknown},
		{readErr, StatusUnknown},
		{fmt.Errorf("wrapped: %w", readErr), StatusUnknown},
		{dialErr, StatusFailed},
		{redis.ErrClosed, StatusFailed},
		{redis.ErrPoolTimeout, StatusFailed},
	}
	for _, c := range cases {
		if got := classify(c.err).Status; got != c.want {
			t.Errorf("classify(%v) = %s, want %s", c.err, got, c.want)
		}
	}
}

// TestClassifyServerReplies sends real error replies through go-redis's
// parser (from the fault proxy) and checks how the recorder classifies them.
func TestClassifyServerReplies(t *testing.T) {
	srv := startRedis(t)
	for _, c := range []struct {
		reply string
		want  Status
	}{
		{"-TIMEOUT the write may or may not have been applied\r\n", StatusUnknown},
		{"-TRYAGAIN no quorum\r\n", StatusFailed},
		{"-CLUSTERDOWN the cluster is down\r\n", StatusFailed},
		{"-ERR anything else\r\n", StatusFailed},
	} {
		p := startProxy(t, srv.addr, 1, replyOnly(c.reply))
		rec := NewRecorder()
		cl := rec.NewClient(&redis.Options{Addr: p.addr, DisableIdentity: true})
		if got := cl.Set(context.Background(), "x", "1").Status; got != c.want {
			t.Errorf("SET answered %q: %s, want %s", c.reply, got, c.want)
		}
		cl.Close()
	}
	rec := NewRecorder()
	cl := rec.NewClient(&redis.Options{Addr: srv.addr, DisableIdentity: true})
	defer cl.Close()
	ctx := context.Background()
	if cl.Set(ctx, "s", "abc").Status != StatusOK || cl.Incr(ctx, "s").Status != StatusNotInteger {
		t.Fatal("INCR of a non-integer was not classified as StatusNotInteger")
	}
	if h := rec.History(); len(h) != 2 || h[1].Output.(Output).Err == "" {
		t.Fatalf("history %+v: want SET and the refused INCR with its error", h)
	}
}

// BenchmarkCheckRecordedHistory times porcupine on a history recorded from
// redis-server: 8 clients × 1500 operations on 3 keys, plus final reads.
func BenchmarkCheckRecordedHistory(b *testing.B) {
	srv := startRedis(b)
	rec := NewRecorder()
	st := runClients(b, rec, redis.Options{Addr: srv.addr, DisableIdentity: true}, 8, 1500, testKeys, nil)
	h := rec.History()
	for b.Loop() {
		if res := CheckHistory(h, time.Minute); res.Verdict != porcupine.Ok {
			b.Fatal(res)
		}
	}
	b.ReportMetric(float64(st.Ops), "ops/history")
}
