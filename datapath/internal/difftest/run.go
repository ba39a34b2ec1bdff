package difftest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"github.com/dorivo/dorivo/internal/redistest"
	"io"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dorivo/dorivo/datapath/resp"
)

// Cmp says how a step's two replies are compared.
type Cmp int

const (
	// Exact requires identical bytes.
	Exact Cmp = iota
	// Unordered requires the same array elements in any order (KEYS).
	Unordered
	// ScanAll iterates SCAN to the end on both sides (the step's cursor
	// argument is ignored) and requires the same set of keys.
	ScanAll
	// Near requires integers within a tolerance: 1 for seconds (TTL,
	// EXPIRETIME), 1000 for milliseconds (PTTL, PEXPIRETIME).
	Near
	// Words requires arrays of bulk strings whose elements have the same
	// words in any order (ACL LIST: Redis orders command rules by its
	// command table's hash order, which varies between processes).
	Words
	// Ignore reads both replies without comparing them.
	Ignore
	// Fields requires bulk strings of "name=value" lines with the same
	// names in the same order, values aside (CLIENT LIST, CLIENT INFO).
	Fields
	// Closed requires identical bytes and the connection closed after them.
	Closed
	// Pairs requires the same name-value pairs in any order (CONFIG GET
	// with patterns: Redis lists its dictionary's order).
	Pairs
	// Shape requires the same reply types and lengths of aggregates, not
	// the same content (TIME).
	Shape
	// ACLLog requires identical bytes but for the values of age-seconds
	// and client-info, which describe the moment and the connection.
	ACLLog
	// Subset requires Dorivo's array elements to be among Redis's, in any
	// order, and an array exactly when Redis has one (ACL CAT of a
	// category lists only the commands Dorivo has).
	Subset
	// Described requires the same COMMAND INFO or COMMAND DOCS reply but
	// for the order of subcommands (and of COMMAND DOCS's commands), which
	// Redis takes from its dictionary (cmp_command.go).
	Described
	// DescribedSubset requires each command Dorivo describes to be among
	// Redis's, described the same (COMMAND, which lists all commands).
	DescribedSubset
)

// Step is one request of a case.
type Step struct {
	Args []string // the request, sent as a RESP multibulk
	Raw  string   // when set, sent as is instead of Args
	Cmp  Cmp
	// Replies is the number of replies the request produces, 1 if 0.
	Replies int
	// Reconnect replaces both connections by new ones; nothing is sent.
	Reconnect bool
}

// Case is a sequence of steps run on one fresh connection to each server.
type Case struct {
	Name  string
	Steps []Step
}

// Run runs every case against redis (a real redis-server) and dorivo, and
// fails t on the first differing reply of each case. Each case starts with
// FLUSHALL on a separate connection.
func Run(t *testing.T, redisAddr, dorivoAddr string, cases []Case) {
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			for _, addr := range []string{redisAddr, dorivoAddr} {
				ctl := dial(t, addr)
				ctl.do(t, Step{Args: []string{"FLUSHALL"}})
				ctl.close()
			}
			r, d := dial(t, redisAddr), dial(t, dorivoAddr)
			defer func() { r.close(); d.close() }()
			for i, st := range c.Steps {
				if st.Reconnect {
					r.close()
					d.close()
					r, d = dial(t, redisAddr), dial(t, dorivoAddr)
					continue
				}
				what := st.Raw
				if what == "" {
					what = fmt.Sprintf("%q", st.Args)
				}
				if st.Cmp == ScanAll {
					rk, dk := r.scanAll(t, st), d.scanAll(t, st)
					if fmt.Sprint(rk) != fmt.Sprint(dk) {
						t.Fatalf("step %d %s: SCAN keys differ\nredis:  %q\ndorivo: %q", i, what, rk, dk)
					}
					continue
				}
				rr, dr := r.do(t, st), d.do(t, st)
				if !same(st, rr, dr) {
					t.Fatalf("step %d %s: replies differ\nredis:  %q\ndorivo: %q", i, what, rr, dr)
				}
				if st.Cmp == Closed {
					for _, x := range []*conn{r, d} {
						if !x.closedByPeer() {
							t.Fatalf("step %d %s: %s left the connection open", i, what, x.addr)
						}
					}
				}
			}
		})
	}
}

func same(st Step, a, b []byte) bool {
	switch st.Cmp {
	case Ignore:
		return true
	case Fields:
		return bytes.Equal(fieldNames(a), fieldNames(b))
	case Unordered:
		if len(a) > 0 && a[0] == '%' {
			return bytes.Equal(sortedPairs(a), sortedPairs(b)) // a map in RESP3
		}
		return bytes.Equal(sortedArray(a), sortedArray(b))
	case Pairs:
		return bytes.Equal(sortedPairs(a), sortedPairs(b))
	case Shape:
		return shape(a) == shape(b)
	case Words:
		return bytes.Equal(sortedWords(a), sortedWords(b))
	case Subset:
		return subset(b, a)
	case Described, DescribedSubset:
		return sameDescribed(st, a, b, st.Cmp == DescribedSubset)
	case ACLLog:
		return bytes.Equal(aclLogMask.ReplaceAll(a, []byte("$1?")), aclLogMask.ReplaceAll(b, []byte("$1?")))
	case Near:
		if bytes.Equal(a, b) {
			return true
		}
		x, ok1 := intReply(a)
		y, ok2 := intReply(b)
		if !ok1 || !ok2 || (x < 0) != (y < 0) {
			return false
		}
		tol := int64(1)
		if len(st.Args) > 0 && (strings.EqualFold(st.Args[0], "PTTL") || strings.EqualFold(st.Args[0], "PEXPIRETIME")) {
			tol = 1000
		}
		return x-y <= tol && y-x <= tol
	}
	return bytes.Equal(a, b)
}

// sortedWords sorts the words inside each element of an array of bulk
// strings, keeping the elements' order.
func sortedWords(b []byte) []byte {
	rd := bufio.NewReader(bytes.NewReader(b))
	head, err := rd.ReadBytes('\n')
	if err != nil || head[0] != '*' {
		return b
	}
	n, _ := strconv.Atoi(string(head[1 : len(head)-2]))
	out := append([]byte(nil), head...)
	for range n {
		e, err := readReply(rd)
		if err != nil || e[0] != '$' {
			return b
		}
		words := strings.Fields(string(bulkBody(e)))
		sort.Strings(words)
		out = append(out, strings.Join(words, " ")...)
		out = append(out, '\n')
	}
	return out
}

func intReply(b []byte) (int64, bool) {
	if len(b) < 3 || b[0] != ':' {
		return 0, false
	}
	n, err := strconv.ParseInt(string(b[1:len(b)-2]), 10, 64)
	return n, err == nil
}

// aclLogMask matches the age-seconds and client-info fields of ACL LOG
// entries with their values (RESP2 bulk strings, RESP3 doubles).
var aclLogMask = regexp.MustCompile(`(\$11\r\n(?:age-seconds|client-info)\r\n)(?:\$\d+\r\n[^\r]*|,[^\r]*)\r\n`)

// subset reports whether flat array reply sub's elements are all in
// array reply of, or the two replies are equal.
func subset(sub, of []byte) bool {
	if bytes.Equal(sub, of) {
		return true
	}
	elems := func(b []byte) (map[string]bool, bool) {
		rd := bufio.NewReader(bytes.NewReader(b))
		head, err := rd.ReadBytes('\n')
		if err != nil || head[0] != '*' {
			return nil, false
		}
		n, _ := strconv.Atoi(string(head[1 : len(head)-2]))
		m := map[string]bool{}
		for range n {
			e, err := readReply(rd)
			if err != nil {
				return nil, false
			}
			m[string(e)] = true
		}
		return m, true
	}
	s, ok1 := elems(sub)
	o, ok2 := elems(of)
	if !ok1 || !ok2 || len(s) == 0 {
		return false
	}
	for e := range s {
		if !o[e] {
			return false
		}
	}
	return true
}

// sortedArray returns a flat array reply with its elements sorted.
func sortedArray(b []byte) []byte {
	rd := bufio.NewReader(bytes.NewReader(b))
	head, err := rd.ReadBytes('\n')
	if err != nil || head[0] != '*' && head[0] != '~' {
		return b
	}
	n, _ := strconv.Atoi(string(head[1 : len(head)-2]))
	var elems []string
	for range n {
		e, err := readReply(rd)
		if err != nil {
			return b
		}
		elems = append(elems, string(e))
	}
	sort.Strings(elems)
	out := append([]byte(nil), head...)
	for _, e := range elems {
		out = append(out, e...)
	}
	return out
}

type conn struct {
	addr string
	c    net.Conn
	rd   *bufio.Reader
}

func dial(t *testing.T, addr string) *conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return &conn{addr: addr, c: c, rd: bufio.NewReader(c)}
}

func (c *conn) close() { c.c.Close() }

func (c *conn) do(t *testing.T, st Step) []byte {
	t.Helper()
	req := []byte(st.Raw)
	if st.Raw == "" {
		args := make([][]byte, len(st.Args))
		for i, a := range st.Args {
			args[i] = []byte(a)
		}
		req = resp.AppendCommand(nil, args...)
	}
	c.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.c.Write(req); err != nil {
		t.Fatalf("%s: write: %v", c.addr, err)
	}
	var rep []byte
	for range max(st.Replies, 1) {
		r, err := readReply(c.rd)
		if err != nil {
			t.Fatalf("%s: reading the reply to %q: %v", c.addr, req, err)
		}
		rep = append(rep, r...)
	}
	return rep
}

// closedByPeer reports whether the peer closed the connection.
func (c *conn) closedByPeer() bool {
	c.c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err := c.rd.ReadByte()
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// scanAll runs SCAN from cursor 0 to the end with the step's options and
// returns the sorted keys seen.
func (c *conn) scanAll(t *testing.T, st Step) []string {
	seen := map[string]bool{}
	cursor := "0"
	for range 100000 {
		args := append([]string{st.Args[0], cursor}, st.Args[2:]...)
		rep := c.do(t, Step{Args: args})
		rd := bufio.NewReader(bytes.NewReader(rep))
		var parts [][]byte
		if head, _ := rd.ReadBytes('\n'); string(head) != "*2\r\n" {
			t.Fatalf("%s: SCAN replied %q", c.addr, rep)
		}
		cur, err := readReply(rd)
		if err != nil {
			t.Fatal(err)
		}
		keys := sortedArray(rep[4+len(cur):])
		krd := bufio.NewReader(bytes.NewReader(keys))
		head, _ := krd.ReadBytes('\n')
		n, _ := strconv.Atoi(string(head[1 : len(head)-2]))
		for range n {
			e, _ := readReply(krd)
			parts = append(parts, e)
		}
		for _, p := range parts {
			seen[string(p)] = true
		}
		cursor = string(bulkBody(cur))
		if cursor == "0" {
			out := make([]string, 0, len(seen))
			for k := range seen {
				out = append(out, k)
			}
			sort.Strings(out)
			return out
		}
	}
	t.Fatalf("%s: SCAN did not terminate", c.addr)
	return nil
}

func bulkBody(b []byte) []byte {
	i := bytes.IndexByte(b, '\n')
	return b[i+1 : len(b)-2]
}

// readReply reads one complete RESP2 or RESP3 reply and returns its raw
// bytes.
func readReply(rd *bufio.Reader) ([]byte, error) {
	line, err := rd.ReadBytes('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("bad reply line %q", line)
	}
	switch line[0] {
	case '+', '-', ':', '_', ',', '#', '(':
		return line, nil
	case '$', '=', '!':
		n, err := strconv.Atoi(string(line[1 : len(line)-2]))
		if err != nil {
			return nil, fmt.Errorf("bad bulk length %q", line)
		}
		if n < 0 {
			return line, nil
		}
		body := make([]byte, n+2)
		if _, err := io.ReadFull(rd, body); err != nil {
			return nil, err
		}
		return append(line, body...), nil
	case '*', '~', '>', '%':
		n, err := strconv.Atoi(string(line[1 : len(line)-2]))
		if err != nil {
			return nil, fmt.Errorf("bad aggregate length %q", line)
		}
		if line[0] == '%' {
			n *= 2
		}
		out := line
		for range n {
			e, err := readReply(rd)
			if err != nil {
				return nil, err
			}
			out = append(out, e...)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown reply type %q", line)
}

// shape is a reply's types with aggregate headers, e.g. "*2 $ $".
func shape(b []byte) string {
	var out []string
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			break
		}
		line := b[:i+1]
		b = b[i+1:]
		switch line[0] {
		case '*', '%', '~', '>':
			out = append(out, string(line[:len(line)-2]))
		case '$', '=', '!':
			n, _ := strconv.Atoi(string(line[1 : len(line)-2]))
			out = append(out, string(line[:1]))
			if n > 0 {
				b = b[min(n+2, len(b)):]
			}
		default:
			out = append(out, string(line[:1]))
		}
	}
	return strings.Join(out, " ")
}

// WithRESP3 returns cases followed by each of them again on connections
// switched to RESP3 with HELLO 3 (after every reconnection too).
func WithRESP3(cases []Case) []Case {
	hello := Step{Args: []string{"HELLO", "3"}, Cmp: Ignore}
	out := append([]Case(nil), cases...)
	for _, c := range cases {
		steps := []Step{hello}
		for _, st := range c.Steps {
			steps = append(steps, st)
			if st.Reconnect {
				steps = append(steps, hello)
			}
		}
		out = append(out, Case{Name: c.Name + " resp3", Steps: steps})
	}
	return out
}

// sortedPairs returns a map reply (or an array of name-value pairs, as
// RESP2 sends CONFIG GET) with its pairs sorted.
func sortedPairs(b []byte) []byte {
	rd := bufio.NewReader(bytes.NewReader(b))
	head, err := rd.ReadBytes('\n')
	if err != nil || head[0] != '*' && head[0] != '%' {
		return b
	}
	n, _ := strconv.Atoi(string(head[1 : len(head)-2]))
	if head[0] == '*' {
		n /= 2
	}
	var pairs []string
	for range n {
		k, err1 := readReply(rd)
		v, err2 := readReply(rd)
		if err1 != nil || err2 != nil {
			return b
		}
		pairs = append(pairs, string(k)+string(v))
	}
	sort.Strings(pairs)
	return append(head, strings.Join(pairs, "")...)
}

// Compare starts a private redis-server and runs Cases against it and the
// Dorivo server at dorivoAddr: the one call a server's test needs.
func Compare(t *testing.T, dorivoAddr string) {
	t.Helper()
	Run(t, redistest.Start(t).Addr, dorivoAddr, WithRESP3(Cases))
}
