package command

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dorivo/dorivo/datapath/resp"
	"github.com/dorivo/dorivo/internal/redistest"
	"github.com/dorivo/dorivo/shardstore/keyspace"
)

// The collection commands against redis-server 7.0.15, in RESP2 and in
// RESP3 (a session with resp3 set, as HELLO 3 leaves it, against a redis
// connection after HELLO 3): every reply byte for byte, except where Redis
// itself is unordered or random. Every write is also replayed from its
// records (Replay) and the replayed keyspace must equal the live one.

type cmpMode int

const (
	cmpExact  cmpMode = iota
	cmpSorted         // an array or set reply, elements in any order
	cmpLen            // same type and element count (random picks)
	cmpIgnore
)

type cstep struct {
	mode cmpMode
	args []string
}

func ex(a ...string) cstep { return cstep{cmpExact, a} }
func so(a ...string) cstep { return cstep{cmpSorted, a} }
func ln(a ...string) cstep { return cstep{cmpLen, a} }

type ccase struct {
	name  string
	steps []cstep
}

// rconn is a raw connection to redis-server.
type rconn struct {
	c  net.Conn
	rd *bufio.Reader
}

func (r *rconn) do(t *testing.T, args []string) []byte {
	t.Helper()
	var b []byte
	b = resp.AppendArray(b, len(args))
	for _, a := range args {
		b = resp.AppendBulkString(b, a)
	}
	r.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := r.c.Write(b); err != nil {
		t.Fatal(err)
	}
	rep, err := readReply3(r.rd)
	if err != nil {
		t.Fatalf("%q: read redis reply: %v", args, err)
	}
	return rep
}

// readReply3 reads one RESP2 or RESP3 reply and returns its bytes.
func readReply3(rd *bufio.Reader) ([]byte, error) {
	line, err := rd.ReadBytes('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 {
		return nil, fmt.Errorf("bad line %q", line)
	}
	n, _ := strconv.Atoi(string(line[1 : len(line)-2]))
	switch line[0] {
	case '+', '-', ':', ',', '_', '#', '(':
		return line, nil
	case '$', '=', '!':
		if n < 0 {
			return line, nil
		}
		body := make([]byte, n+2)
		if _, err := io.ReadFull(rd, body); err != nil {
			return nil, err
		}
		return append(line, body...), nil
	case '*', '~', '>', '%':
		if line[0] == '%' {
			n *= 2
		}
		out := line
		for range max(n, 0) {
			e, err := readReply3(rd)
			if err != nil {
				return nil, err
			}
			out = append(out, e...)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown reply %q", line)
}

// elems splits an aggregate reply into its header and elements.
func elems(b []byte) (string, []string) {
	rd := bufio.NewReader(bytes.NewReader(b))
	head, _ := rd.ReadBytes('\n')
	if len(head) == 0 || !strings.ContainsRune("*~%", rune(head[0])) {
		return string(b), nil
	}
	var out []string
	for {
		e, err := readReply3(rd)
		if err != nil {
			break
		}
		out = append(out, string(e))
	}
	return string(head), out
}

func sameReply(mode cmpMode, a, b []byte) bool {
	switch mode {
	case cmpIgnore:
		return true
	case cmpSorted, cmpLen:
		ha, ea := elems(a)
		hb, eb := elems(b)
		if mode == cmpLen {
			if ea == nil && eb == nil { // a single random pick: its type
				return len(a) > 0 && len(b) > 0 && a[0] == b[0]
			}
			return ha == hb && len(ea) == len(eb)
		}
		slices.Sort(ea)
		slices.Sort(eb)
		return ha == hb && slices.Equal(ea, eb)
	}
	return bytes.Equal(a, b)
}

func runCollCases(t *testing.T, cases []ccase) {
	addr := redistest.Start(t).Addr
	for _, proto := range []int{2, 3} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		r := &rconn{c: c, rd: bufio.NewReader(c)}
		r.do(t, []string{"HELLO", strconv.Itoa(proto)})
		for _, cs := range cases {
			t.Run(fmt.Sprintf("resp%d/%s", proto, cs.name), func(t *testing.T) {
				r.do(t, []string{"FLUSHALL"})
				s := NewSession(NewNode())
				s.resp3 = proto == 3
				live := keyspace.New()
				rp := NewReplay(keyspace.New())
				var muts []Mutation
				for i, st := range cs.steps {
					want := r.do(t, st.args)
					args := make([][]byte, len(st.args))
					for j, a := range st.args {
						args[j] = []byte(a)
					}
					var got []byte
					now := time.Now().UnixMilli()
					got, muts = Exec(s, live, args, now, nil, muts[:0])
					if blk, ok := s.TakeBlock(); ok {
						got = append(got, blk.TimeoutReply...)
					}
					if !sameReply(st.mode, want, got) {
						t.Fatalf("step %d %q:\nredis:  %q\ndorivo: %q", i, st.args, want, got)
					}
					for _, m := range muts {
						if err := rp.Apply(m); err != nil {
							t.Fatalf("step %d %q: replay: %v", i, st.args, err)
						}
					}
					if a, b := dumpAll(live, now), dumpAll(rp.KS, now); a != b {
						t.Fatalf("step %d %q: replayed keyspace differs\nlive:   %s\nreplay: %s", i, st.args, a, b)
					}
				}
			})
		}
		c.Close()
	}
}

// dumpAll describes every live key of ks, collections by their contents
// in a canonical order.
func dumpAll(ks *keyspace.Keyspace, now int64) string {
	var out []string
	ks.Each(func(k, v []byte, exp int64) {
		if exp != 0 && exp <= now {
			return
		}
		desc := fmt.Sprintf("%q", v)
		if co := ks.CollAny(k); co != nil {
			desc = describeColl(co)
		}
		out = append(out, fmt.Sprintf("%q=%s@%d", k, desc, exp))
	})
	slices.Sort(out)
	return strings.Join(out, " ")
}
