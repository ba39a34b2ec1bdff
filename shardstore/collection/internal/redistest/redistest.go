// Package redistest starts a real redis-server for the collection tests
// and speaks just enough RESP2 to compare replies with it.
package redistest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// Client is a RESP2 connection to a redis-server.
type Client struct {
	c net.Conn
	r *bufio.Reader
}

// Start runs redis-server on a free loopback port, stopped when tb ends,
// and returns a client. Without redis-server it skips, or fails when
// CI=true.
func Start(tb testing.TB) *Client {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatal("redis-server is not installed")
		}
		tb.Skip("redis-server is not installed")
	}
	for range 5 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", tb.TempDir())
		if err := cmd.Start(); err != nil {
			tb.Fatalf("start redis-server: %v", err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		tb.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
			select {
			case <-exited:
				deadline = time.Time{}
				continue
			default:
			}
			if c, err := net.Dial("tcp", addr); err == nil {
				tb.Cleanup(func() { c.Close() })
				return &Client{c: c, r: bufio.NewReader(c)}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	tb.Fatal("redis-server did not start")
	return nil
}

// Error is an error reply.
type Error string

func (e Error) Error() string { return string(e) }

// Do sends one command and returns its reply: string (simple or bulk),
// int64, nil, Error, or []any.
func (c *Client) Do(tb testing.TB, args ...string) any {
	tb.Helper()
	b := []byte("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b = append(b, "$"+strconv.Itoa(len(a))+"\r\n"...)
		b = append(b, a...)
		b = append(b, "\r\n"...)
	}
	if _, err := c.c.Write(b); err != nil {
		tb.Fatalf("write: %v", err)
	}
	v, err := c.read()
	if err != nil {
		tb.Fatalf("read reply to %q: %v", args, err)
	}
	return v
}

// Strings runs a command whose reply is an array of strings.
func (c *Client) Strings(tb testing.TB, args ...string) []string {
	tb.Helper()
	v := c.Do(tb, args...)
	arr, ok := v.([]any)
	if !ok {
		tb.Fatalf("%q replied %#v, not an array", args, v)
	}
	out := make([]string, len(arr))
	for i, e := range arr {
		out[i], _ = e.(string)
	}
	return out
}

func (c *Client) read() (any, error) {
	line, err := c.r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 {
		return nil, fmt.Errorf("short line %q", line)
	}
	body := line[1 : len(line)-2]
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return Error(body), nil
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		buf := make([]byte, n+2)
		if _, err := ioReadFull(c.r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		arr := make([]any, n)
		for i := range arr {
			if arr[i], err = c.read(); err != nil {
				return nil, err
			}
		}
		return arr, nil
	}
	return nil, fmt.Errorf("unknown reply %q", line)
}

func ioReadFull(r *bufio.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
