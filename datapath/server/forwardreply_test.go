package server

import (
	"bufio"
	"bytes"
	"testing"
)

// The forwarders read peers' replies with readForwardReply: whole replies
// of RESP2 and RESP3, exactly their bytes, and an error, never a panic or
// an unbounded allocation, for anything else.
func TestForwardReply(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"+OK\r\n", "+OK\r\n"},
		{"$3\r\nabc\r\n:1\r\n", "$3\r\nabc\r\n"},
		{"*2\r\n$1\r\na\r\n$-1\r\n", "*2\r\n$1\r\na\r\n$-1\r\n"},
		{"%2\r\n+a\r\n:1\r\n+b\r\n_\r\n", "%2\r\n+a\r\n:1\r\n+b\r\n_\r\n"},
		{"~1\r\n,1.5\r\n", "~1\r\n,1.5\r\n"},
		{"=7\r\ntxt:abc\r\n", "=7\r\ntxt:abc\r\n"},
		{"|1\r\n+k\r\n+v\r\n#t\r\n", "|1\r\n+k\r\n+v\r\n#t\r\n"},
		{">2\r\n+pubsub\r\n(123\r\n", ">2\r\n+pubsub\r\n(123\r\n"},
	} {
		got, err := readForwardReply(bufio.NewReader(bytes.NewBufferString(c.in)))
		if err != nil || string(got) != c.want {
			t.Errorf("%q: %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"?\r\n", "$x\r\n", "*1\r\n", "$5\r\nab\r\n", "%1\r\n+a\r\n", "+OK\n", "$999999999999\r\n"} {
		if got, err := readForwardReply(bufio.NewReader(bytes.NewBufferString(bad))); err == nil {
			t.Errorf("%q: %q, want an error", bad, got)
		}
	}
}

func FuzzForwardReply(f *testing.F) {
	for _, s := range []string{"+OK\r\n", "*2\r\n$1\r\na\r\n:1\r\n", "%1\r\n+a\r\n_\r\n", "|1\r\n+k\r\n+v\r\n#f\r\n", "=5\r\ntxt:a\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := readForwardReply(bufio.NewReader(bytes.NewReader(in)))
		if err == nil && !bytes.HasPrefix(in, got) {
			t.Fatalf("reply %q is not a prefix of the input %q", got, in)
		}
	})
}
