package lincheck

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/redis/go-redis/v9"
)

// fault is what the proxy does to a chosen SET: forward it or not, then
// answer with reply instead of the server's reply.
type fault struct {
	forward bool
	reply   string
}

func replyOnly(reply string) fault { return fault{reply: reply} }

var (
	lie             = fault{reply: "+OK\r\n"} // acknowledge, never apply
	timeoutApplied  = fault{forward: true, reply: "-TIMEOUT may or may not have been applied\r\n"}
	timeoutDropped  = fault{reply: "-TIMEOUT may or may not have been applied\r\n"}
	tryAgainDropped = fault{reply: "-TRYAGAIN no quorum\r\n"}
	tryAgainApplied = fault{forward: true, reply: "-TRYAGAIN no quorum\r\n"} // a lie too
)

// faultProxy is a RESP proxy in front of a server that applies its fault to
// every Nth plain SET (SET k v) and relays everything else, in order.
type faultProxy struct {
	addr     string
	upstream string
	every    int64
	fault    fault
	sets     atomic.Int64 // plain SETs seen
	faults   atomic.Int64 // SETs given the fault
}

func startProxy(t testing.TB, upstream string, every int64, f fault) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{addr: ln.Addr().String(), upstream: upstream, every: every, fault: f}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.DialTimeout("tcp", upstream, time.Second)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, up)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				defer up.Close()
				p.serve(c, up)
			}()
		}
	}()
	return p
}

// serve relays one command at a time: go-redis without pipelining waits for
// each reply, so replies stay in order.
func (p *faultProxy) serve(client, up net.Conn) {
	cr, ur := bufio.NewReader(client), bufio.NewReader(up)
	for {
		cmd, args, err := readValue(cr, 0)
		if err != nil {
			return
		}
		f, faulty := p.choose(args)
		var reply []byte
		if !faulty || f.forward {
			if _, err := up.Write(cmd); err != nil {
				return
			}
			if reply, _, err = readValue(ur, 0); err != nil {
				return
			}
		}
		if faulty {
			reply = []byte(f.reply)
		}
		if _, err := client.Write(reply); err != nil {
			return
		}
	}
}

func (p *faultProxy) choose(args []string) (fault, bool) {
	if len(args) != 3 || !strings.EqualFold(args[0], "SET") {
		return fault{}, false
	}
	if p.sets.Add(1)%p.every != 0 {
		return fault{}, false
	}
	p.faults.Add(1)
	return p.fault, true
}

const (
	maxBulk  = 1 << 20 // larger than any value the tests write
	maxDepth = 8
	maxElems = 1 << 16
)

var errProtocol = errors.New("RESP protocol error")

// readValue reads one complete RESP2/RESP3 value and returns its bytes. For
// an array of bulk strings (a command), args holds the strings.
func readValue(r *bufio.Reader, depth int) (raw []byte, args []string, err error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return nil, nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, nil, fmt.Errorf("%w: bad line %q", errProtocol, line)
	}
	raw = append([]byte(nil), line...)
	body := string(line[1 : len(line)-2])
	switch line[0] {
	case '+', '-', ':', '_', ',', '#', '(':
		return raw, nil, nil
	case '$', '!', '=':
		n, err := strconv.Atoi(body)
		if err != nil || n < -1 || n > maxBulk {
			return nil, nil, fmt.Errorf("%w: bad bulk length %q", errProtocol, body)
		}
		if n == -1 {
			return raw, nil, nil
		}
		data := make([]byte, n+2)
		if _, err := io.ReadFull(r, data); err != nil {
			return nil, nil, err
		}
		if data[n] != '\r' || data[n+1] != '\n' {
			return nil, nil, fmt.Errorf("%w: bulk not terminated", errProtocol)
		}
		return append(raw, data...), []string{string(data[:n])}, nil
	case '*', '~', '>', '%', '|':
		return readAggregate(r, raw, line[0], body, depth)
	}
	return nil, nil, fmt.Errorf("%w: unknown type %q", errProtocol, line[0])
}

func readAggregate(r *bufio.Reader, raw []byte, typ byte, body string, depth int) ([]byte, []string, error) {
	n, err := strconv.Atoi(body)
	if err != nil || n < -1 || n > maxElems {
		return nil, nil, fmt.Errorf("%w: bad aggregate length %q", errProtocol, body)
	}
	if depth >= maxDepth {
		return nil, nil, fmt.Errorf("%w: nested too deep", errProtocol)
	}
	if typ == '%' || typ == '|' {
		n *= 2 // maps and attributes hold key-value pairs
	}
	var args []string
	for i := 0; i < n; i++ {
		elem, sub, err := readValue(r, depth+1)
		if err != nil {
			return nil, nil, err
		}
		raw = append(raw, elem...)
		if typ == '*' && depth == 0 && elem[0] == '$' && len(sub) == 1 {
			args = append(args, sub[0])
		}
	}
	if typ == '|' { // an attribute precedes the value it annotates
		elem, sub, err := readValue(r, depth+1)
		return append(raw, elem...), sub, err
	}
	if len(args) != n {
		args = nil // not a command
	}
	return raw, args, nil
}

func TestFaultProxy(t *testing.T) {
	cases := []struct {
		name  string
		fault fault
		want  porcupine.CheckResult
	}{
		{"timeout, applied", timeoutApplied, porcupine.Ok},
		{"timeout, dropped", timeoutDropped, porcupine.Ok},
		{"tryagain, dropped", tryAgainDropped, porcupine.Ok},
		{"tryagain, but applied", tryAgainApplied, porcupine.Illegal},
		{"acknowledged, never applied", lie, porcupine.Illegal},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := startRedis(t)
			p := startProxy(t, srv.addr, 7, c.fault)
			rec := NewRecorder()
			st := runClients(t, rec, redis.Options{Addr: p.addr, DisableIdentity: true}, 4, 600, testKeys, nil)
			rt := &recordingTB{TB: t}
			res := CheckFinal(rt, rec.History(), finalReads(t, srv.addr, testKeys), time.Minute)
			t.Logf("workload %+v, %d of %d SETs faulted: %v", st, p.faults.Load(), p.sets.Load(), res)
			if p.faults.Load() == 0 {
				t.Fatal("the proxy injected no faults")
			}
			if res.Verdict != c.want {
				t.Fatalf("verdict %s, want %s (failures %q)", res.Verdict, c.want, rt.errs)
			}
			if c.want == porcupine.Illegal && (res.VisualPath == "" || len(rt.errs) != 1) {
				t.Fatalf("Illegal without a visualization or a failure: %q", rt.errs)
			}
			if c.want == porcupine.Ok && len(rt.errs) != 0 {
				t.Fatalf("Ok but Check failed: %q", rt.errs)
			}
		})
	}
}

func FuzzReadValue(f *testing.F) {
	for _, s := range []string{
		"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n",
		"+OK\r\n", "-TIMEOUT x\r\n", ":42\r\n", "$-1\r\n", "_\r\n",
		"%1\r\n+server\r\n+redis\r\n", "|1\r\n+a\r\n+b\r\n:1\r\n", "*2\r\n*1\r\n:1\r\n$0\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		raw, args, err := readValue(bufio.NewReader(strings.NewReader(string(in))), 0)
		if err != nil {
			return
		}
		// A value read is a prefix of the input, and re-reads the same.
		if !strings.HasPrefix(string(in), string(raw)) {
			t.Fatalf("raw %q is not a prefix of %q", raw, in)
		}
		raw2, args2, err := readValue(bufio.NewReader(strings.NewReader(string(raw))), 0)
		if err != nil || string(raw2) != string(raw) || fmt.Sprint(args2) != fmt.Sprint(args) {
			t.Fatalf("re-reading %q: %q %q %v, want %q %q", raw, raw2, args2, err, raw, args)
		}
	})
}
