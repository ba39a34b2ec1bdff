package respclient

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/dorivo/dorivo/datapath/resp"
	"github.com/dorivo/dorivo/internal/redistest"
)

func TestReadReplyKinds(t *testing.T) {
	in := "+OK\r\n-ERR wrong\r\n:42\r\n:-7\r\n:9223372036854775807\r\n:-9223372036854775808\r\n$5\r\nhello\r\n$0\r\n\r\n$-1\r\n*2\r\n$1\r\na\r\n*1\r\n:1\r\n*-1\r\n+\r\n"
	r := NewReader(strings.NewReader(in))
	want := []struct {
		kind Kind
		str  string
		n    int64
		nil_ bool
	}{
		{Simple, "OK", 0, false},
		{Error, "ERR wrong", 0, false},
		{Integer, "", 42, false},
		{Integer, "", -7, false},
		{Integer, "", 9223372036854775807, false}, // INCR's largest reply
		{Integer, "", -9223372036854775808, false},
		{Bulk, "hello", 0, false},
		{Bulk, "", 0, false},
		{Bulk, "", 0, true},
		{Array, "", 2, false},
		{Array, "", 0, true},
		{Simple, "", 0, false},
	}
	var rep Reply
	for i, w := range want {
		if err := r.ReadReply(&rep); err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		if rep.Kind != w.kind || string(rep.Str) != w.str || rep.Int != w.n || rep.Nil != w.nil_ {
			t.Fatalf("reply %d = %+v (%q), want %+v", i, rep, rep.Str, w)
		}
	}
	if err := r.ReadReply(&rep); err != io.ErrUnexpectedEOF {
		t.Fatalf("at end: %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestReadReplyRejectsMalformed(t *testing.T) {
	for _, in := range []string{
		"?x\r\n",
		"+OK\n",
		"\r\n",
		":12a\r\n",
		":\r\n",
		"$-2\r\n",
		"$3\r\nabcd\r\n",
		"$536870913\r\n",
		"*-5\r\n",
		"*1048577\r\n",
		strings.Repeat("*1\r\n", MaxDepth+1) + ":1\r\n",
		"+" + strings.Repeat("x", 70000) + "\r\n",
	} {
		var rep Reply
		err := NewReader(strings.NewReader(in)).ReadReply(&rep)
		if !errors.Is(err, ErrProtocol) {
			t.Errorf("ReadReply(%.30q) = %v, want ErrProtocol", in, err)
		}
	}
}

func TestReadDoesNotAllocate(t *testing.T) {
	stream := bytes.Repeat([]byte("+OK\r\n$5\r\nhello\r\n$-1\r\n:99\r\n"), 1000)
	r := NewReader(bytes.NewReader(stream))
	var rep Reply
	_ = r.ReadReply(&rep)
	n := testing.AllocsPerRun(200, func() {
		for range 4 {
			if err := r.ReadReply(&rep); err != nil {
				t.Fatal(err)
			}
		}
	})
	if n != 0 {
		t.Fatalf("%v allocations per 4 replies, want 0", n)
	}
}

// TestAgainstRedisServer sends the commands the load generator uses to a
// real redis-server and reads its replies.
func TestAgainstRedisServer(t *testing.T) {
	addr := redistest.Start(t).Addr
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var b []byte
	b = AppendSet(b, []byte("{t1}:k"), []byte("v1"))
	b = AppendGet(b, []byte("{t1}:k"))
	b = AppendMSetHeader(b, 2)
	b = resp.AppendBulkString(b, "{t1}:a")
	b = resp.AppendBulkString(b, "A")
	b = resp.AppendBulkString(b, "{t1}:b")
	b = resp.AppendBulkString(b, "")
	b = AppendGet(b, []byte("{t1}:b"))
	b = AppendGet(b, []byte("{t1}:missing"))
	b = resp.AppendCommand(b, []byte("INCR"), []byte("{t1}:k"))
	b = resp.AppendCommand(b, []byte("MGET"), []byte("{t1}:a"), []byte("{t1}:k"))
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	r := NewReader(c)
	var rep Reply
	for i, want := range []string{"+OK", "$v1", "+OK", "$", "$nil", "-ERR value is not an integer or out of range", "*2"} {
		if err := r.ReadReply(&rep); err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		got := string(rep.Kind) + string(rep.Str)
		switch {
		case rep.Nil:
			got = string(rep.Kind) + "nil"
		case rep.Kind == Array:
			got = "*" + strconv.FormatInt(rep.Int, 10)
		}
		if got != want {
			t.Errorf("reply %d = %q, want %q", i, got, want)
		}
	}
}
