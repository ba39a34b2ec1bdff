// Package redisclient speaks just enough RESP2 to compare the collection
// tests' results with a real redis-server.
package redisclient

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"testing"

	"github.com/dorivo/dorivo/internal/redistest"
)

// Client is a RESP2 connection to a redis-server.
type Client struct {
	c net.Conn
	r *bufio.Reader
}

// Start runs redis-server (internal/redistest) and returns a client.
func Start(tb testing.TB) *Client {
	tb.Helper()
	c, err := net.Dial("tcp", redistest.Start(tb).Addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return &Client{c: c, r: bufio.NewReader(c)}
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
