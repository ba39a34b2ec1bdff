package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dorivo/dorivo/internal/testenv"
)

// startIn starts a server inside ns and stops it when the test ends.
func startIn(t *testing.T, ns *testenv.Netns, cfg Config) *Server {
	t.Helper()
	return start(t, cfg, func(f func()) { ns.Do(t, f) })
}

// start runs New and Start through in (inside a namespace, or in the
// test's own) and stops the server when the test ends.
func start(t testing.TB, cfg Config, in func(func())) *Server {
	t.Helper()
	var s *Server
	var err error
	in(func() {
		s, err = New(cfg)
		if err == nil {
			err = s.Start()
		}
	})
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return s
}

// benchClient runs this test binary as a benchmark's client process (env
// picks its role), inside ns when it is not nil, and waits for its first
// line, hello. The client's own allocations stay out of the benchmark's.
func benchClient(b *testing.B, ns *testenv.Netns, env []string, hello string) (*exec.Cmd, io.WriteCloser, io.ReadCloser) {
	b.Helper()
	args := []string{os.Args[0], "-test.run=^$"}
	if ns != nil {
		args = append([]string{"ip", "netns", "exec", ns.Name}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	got := make([]byte, len(hello))
	if _, err := io.ReadFull(out, got); err != nil || string(got) != hello {
		b.Fatalf("client did not say %q: %q %v", hello, got, err)
	}
	return cmd, in, out
}

// dialIn opens a TCP connection from inside ns; sport 0 lets the kernel
// choose the source port.
func dialIn(t *testing.T, ns *testenv.Netns, addr string, sport int) *client {
	t.Helper()
	var c net.Conn
	var err error
	ns.Do(t, func() {
		d := net.Dialer{Timeout: 5 * time.Second}
		if sport != 0 {
			d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: sport}
		}
		c, err = d.Dial("tcp", addr)
	})
	if err != nil {
		t.Fatalf("dial %s from port %d: %v", addr, sport, err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c, r: bufio.NewReaderSize(c, 1<<16)}
}

// client is a minimal RESP client for tests: replies are returned in their
// RESP text form with CRLFs as "|" for compact comparisons.
type client struct {
	t testing.TB
	c net.Conn
	r *bufio.Reader
}

func cmd(args ...string) []byte {
	b := fmt.Appendf(nil, "*%d\r\n", len(args))
	for _, a := range args {
		b = fmt.Appendf(b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b
}

func (c *client) send(b []byte) {
	c.t.Helper()
	_ = c.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.c.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *client) do(args ...string) string {
	c.t.Helper()
	c.send(cmd(args...))
	return c.read()
}

// read returns one reply, e.g. "+OK", ":3", "$1|x", "*2|$1|a|$-1".
func (c *client) read() string {
	c.t.Helper()
	_ = c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	s, err := readReply(c.r)
	if err != nil {
		c.t.Fatalf("read reply: %v", err)
	}
	return s
}

func readReply(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("empty reply line")
	}
	switch line[0] {
	case '+', '-', ':', '_', ',', '#':
		return line, nil
	case '$', '=':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", err
		}
		if n < 0 {
			return line, nil
		}
		b := make([]byte, n+2)
		if _, err := ioReadFull(r, b); err != nil {
			return "", err
		}
		return line + "|" + string(b[:n]), nil
	case '*', '%', '~', '>':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", err
		}
		if line[0] == '%' {
			n *= 2 // a RESP3 map: n pairs
		}
		parts := []string{line}
		for range n {
			p, err := readReply(r)
			if err != nil {
				return "", err
			}
			parts = append(parts, p)
		}
		return strings.Join(parts, "|"), nil
	}
	return "", fmt.Errorf("bad reply line %q", line)
}

func ioReadFull(r *bufio.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// keyOwnedBy returns a key with the given prefix whose slot loop o owns.
func keyOwnedBy(s *Server, prefix string, o int, from int) (string, int) {
	for i := from; ; i++ {
		k := fmt.Sprintf("%s%d", prefix, i)
		if s.ownerOfKey(k) == o {
			return k, i
		}
	}
}

func envOr(k, def string) string {
	if v, ok := os.LookupEnv(k); ok {
		return v
	}
	return def
}

// cmdGen draws random commands over the keys k0 … k(nkeys-1), for the
// random differential tests against redis-server.
type cmdGen struct {
	rng   *rand.Rand
	nkeys int
}

func (g cmdGen) key() string { return "k" + strconv.Itoa(g.rng.IntN(g.nkeys)) }

func (g cmdGen) keys(n int) []string {
	ks := make([]string, n)
	for i := range ks {
		ks[i] = g.key()
	}
	return ks
}

// common returns command i of the reads and writes, single- and multi-key,
// that every random differential test sends (0 <= i < commonCmds), or nil.
func (g cmdGen) common(i int) []string {
	switch i {
	case 0:
		return []string{"SET", g.key(), strconv.Itoa(g.rng.IntN(100))}
	case 1:
		return []string{"GET", g.key()}
	case 2:
		return []string{"INCR", g.key()}
	case 3:
		return []string{"APPEND", g.key(), "x"}
	case 4:
		return append([]string{"MGET"}, g.keys(1+g.rng.IntN(6))...)
	case 5:
		a := []string{"MSET"}
		for _, k := range g.keys(1 + g.rng.IntN(4)) {
			a = append(a, k, strconv.Itoa(g.rng.IntN(100)))
		}
		return a
	case 6:
		return append([]string{"DEL"}, g.keys(1+g.rng.IntN(4))...)
	case 7:
		return append([]string{"EXISTS"}, g.keys(1+g.rng.IntN(5))...)
	}
	return nil
}

// commonCmds is how many commands common draws from.
const commonCmds = 8
