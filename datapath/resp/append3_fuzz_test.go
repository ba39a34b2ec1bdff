package resp

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
)

// node is a reply as a client sees it: its RESP type and its content.
type node struct {
	kind byte // the type byte: + - : $ _ , # = * % ~ >
	s    string
	kids []node
}

func (n node) String() string {
	if len(n.kids) == 0 {
		return fmt.Sprintf("%c%q", n.kind, n.s)
	}
	parts := make([]string, len(n.kids))
	for i, k := range n.kids {
		parts[i] = k.String()
	}
	return fmt.Sprintf("%c[%s]", n.kind, strings.Join(parts, " "))
}

// genReply draws a reply from data and writes it with the writers in the
// protocol resp3 says, returning what a client must read back. Aggregates
// nest at most depth levels.
func genReply(data *[]byte, dst []byte, depth int, resp3 bool) ([]byte, node) {
	next := func() byte {
		if len(*data) == 0 {
			return 0
		}
		b := (*data)[0]
		*data = (*data)[1:]
		return b
	}
	str := func() string {
		n := int(next() % 12)
		n = min(n, len(*data))
		s := string((*data)[:n])
		*data = (*data)[n:]
		return s
	}
	kind := next() % 13
	if depth == 0 && kind >= 9 {
		kind %= 9
	}
	switch kind {
	case 0:
		s := strings.Map(func(r rune) rune {
			if r == '\r' || r == '\n' {
				return -1
			}
			return r
		}, str())
		return AppendSimple(dst, s), node{kind: '+', s: s}
	case 1:
		s := str()
		want := strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
		return AppendError(dst, s), node{kind: '-', s: want}
	case 2:
		n := int64(next())<<56 | int64(next())<<8 | int64(next())
		return AppendInt(dst, n), node{kind: ':', s: strconv.FormatInt(n, 10)}
	case 3:
		s := str()
		return AppendBulkString(dst, s), node{kind: '$', s: s}
	case 4:
		if next()%2 == 0 {
			return AppendNil(dst, resp3), null(resp3, '$')
		}
		return AppendNilArray(dst, resp3), null(resp3, '*')
	case 5:
		f := math.Float64frombits(uint64(next())<<56 | uint64(next())<<48 | uint64(next()))
		s := strconv.FormatFloat(f, 'g', 17, 64)
		switch { // as Redis writes them
		case math.IsInf(f, 1):
			s = "inf"
		case math.IsInf(f, -1):
			s = "-inf"
		case math.IsNaN(f):
			s = "nan"
		}
		if resp3 {
			return AppendDouble(dst, s, true), node{kind: ',', s: s}
		}
		return AppendDouble(dst, s, false), node{kind: '$', s: s}
	case 6:
		v := next()%2 == 1
		switch {
		case resp3 && v:
			return AppendBool(dst, v, true), node{kind: '#', s: "t"}
		case resp3:
			return AppendBool(dst, v, true), node{kind: '#', s: "f"}
		case v:
			return AppendBool(dst, v, false), node{kind: ':', s: "1"}
		}
		return AppendBool(dst, v, false), node{kind: ':', s: "0"}
	case 7, 8:
		s := str()
		if resp3 {
			return AppendVerbatim(dst, s, true), node{kind: '=', s: "txt:" + s}
		}
		return AppendVerbatim(dst, s, false), node{kind: '$', s: s}
	}
	n := int(next() % 4)
	var want node
	switch kind {
	case 9, 10:
		dst, want = AppendArray(dst, n), node{kind: '*'}
	case 11:
		dst, want = AppendMap(dst, n, resp3), node{kind: '%'}
		n *= 2
	default:
		if next()%2 == 0 {
			dst, want = AppendSet(dst, n, resp3), node{kind: '~'}
		} else {
			dst, want = AppendPush(dst, n, resp3), node{kind: '>'}
		}
	}
	if !resp3 {
		want.kind = '*' // RESP2 has arrays only
	}
	want.kids = []node{}
	for range n {
		var k node
		dst, k = genReply(data, dst, depth-1, resp3)
		want.kids = append(want.kids, k)
	}
	return dst, want
}

func null(resp3 bool, kind byte) node {
	if resp3 {
		return node{kind: '_'}
	}
	return node{kind: kind, s: "-1"}
}

// readNode parses one reply strictly, as a RESP3 client does, returning
// it and the bytes after it.
func readNode(b []byte) (node, []byte, error) {
	i := bytes.Index(b, []byte("\r\n"))
	if i < 1 {
		return node{}, nil, fmt.Errorf("no reply line in %q", b)
	}
	kind, line, rest := b[0], string(b[1:i]), b[i+2:]
	switch kind {
	case '+', '-':
		return node{kind: kind, s: line}, rest, nil
	case ':':
		if _, err := strconv.ParseInt(line, 10, 64); err != nil {
			return node{}, nil, fmt.Errorf("integer %q: %w", line, err)
		}
		return node{kind: kind, s: line}, rest, nil
	case '_':
		if line != "" {
			return node{}, nil, fmt.Errorf("null with content %q", line)
		}
		return node{kind: kind}, rest, nil
	case ',':
		if _, err := strconv.ParseFloat(line, 64); err != nil {
			return node{}, nil, fmt.Errorf("double %q: %w", line, err)
		}
		return node{kind: kind, s: line}, rest, nil
	case '#':
		if line != "t" && line != "f" {
			return node{}, nil, fmt.Errorf("boolean %q", line)
		}
		return node{kind: kind, s: line}, rest, nil
	case '$', '=':
		n, err := strconv.Atoi(line)
		if err != nil || n < -1 || kind == '=' && n < 4 {
			return node{}, nil, fmt.Errorf("bulk length %q", line)
		}
		if n == -1 {
			return node{kind: kind, s: "-1"}, rest, nil
		}
		if len(rest) < n+2 || string(rest[n:n+2]) != "\r\n" {
			return node{}, nil, fmt.Errorf("bulk of %d bytes not ended by CRLF in %q", n, rest)
		}
		return node{kind: kind, s: string(rest[:n])}, rest[n+2:], nil
	case '*', '%', '~', '>':
		n, err := strconv.Atoi(line)
		if err != nil || n < -1 || n == -1 && kind != '*' {
			return node{}, nil, fmt.Errorf("aggregate length %q", line)
		}
		if n == -1 {
			return node{kind: kind, s: "-1"}, rest, nil
		}
		if kind == '%' {
			n *= 2
		}
		out := node{kind: kind, kids: []node{}}
		for range n {
			var k node
			if k, rest, err = readNode(rest); err != nil {
				return node{}, nil, err
			}
			out.kids = append(out.kids, k)
		}
		return out, rest, nil
	}
	return node{}, nil, fmt.Errorf("unknown type %q", kind)
}

// FuzzRESP3Writers writes random reply trees with the RESP3 writers, in
// RESP3 and in their RESP2 fallback, and parses them back: every reply
// must be well formed, read back as exactly what was written, and end
// where the next begins.
func FuzzRESP3Writers(f *testing.F) {
	for _, seed := range []string{"", "\x0b\x02\x03\x01ab\x00", "\x09\x03\x05\x01\x02\x03\x06\x01\x07\x02hi",
		"\x0c\x00\x02\x04\x00\x04\x01", "\x01\x05a\r\nb\n", "\x05\x7f\xf0\x00"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, resp3 := range []bool{false, true} {
			d := data
			var out []byte
			var want []node
			for len(d) > 0 && len(want) < 16 {
				var n node
				out, n = genReply(&d, out, 3, resp3)
				want = append(want, n)
			}
			rest := out
			for i, w := range want {
				got, r, err := readNode(rest)
				if err != nil {
					t.Fatalf("resp3=%v reply %d: %v\nall: %q", resp3, i, err, out)
				}
				if got.String() != w.String() {
					t.Fatalf("resp3=%v reply %d: read %s, wrote %s\nall: %q", resp3, i, got, w, out)
				}
				rest = r
			}
			if len(rest) != 0 {
				t.Fatalf("resp3=%v: %q left after the replies", resp3, rest)
			}
		}
	})
}
