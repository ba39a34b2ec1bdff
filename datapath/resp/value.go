package resp

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
)

// Value is a parsed reply: static replies kept as data (COMMAND INFO and
// COMMAND DOCS, generated from redis-server's own), and tests comparing
// replies whose order a server does not fix.
type Value struct {
	// Type is the RESP3 type byte: '+', '-', ':', '$', '*', '~', '%', '_',
	// ',', '#' or '=' (whose Str keeps its "txt:"). A map's Elems are its keys and values in turn.
	Type  byte
	Str   string // the text of a simple, error, integer, bulk, double or bool
	Elems []Value
}

// ParseValue parses one complete RESP2 or RESP3 reply at the start of b
// and returns it with the bytes that follow it.
func ParseValue(b []byte) (Value, []byte, error) {
	cr := bytes.IndexByte(b, '\r')
	if cr < 1 || cr+1 >= len(b) || b[cr+1] != '\n' {
		return Value{}, nil, fmt.Errorf("reply %.20q: no complete line", b)
	}
	t, line, rest := b[0], string(b[1:cr]), b[cr+2:]
	switch t {
	case '+', '-', ':', '_', ',', '#':
		return Value{Type: t, Str: line}, rest, nil
	case '$', '=', '*', '~', '%':
	default:
		return Value{}, nil, fmt.Errorf("reply type %q not supported", t)
	}
	n, err := strconv.Atoi(line)
	if err != nil {
		return Value{}, nil, fmt.Errorf("reply length %q: %w", line, err)
	}
	if n < 0 {
		return Value{Type: '_'}, rest, nil // $-1 and *-1
	}
	if t == '$' || t == '=' {
		if len(rest) < n+2 {
			return Value{}, nil, fmt.Errorf("bulk of %d bytes: truncated", n)
		}
		return Value{Type: t, Str: string(rest[:n])}, rest[n+2:], nil
	}
	if t == '%' {
		n *= 2
	}
	v := Value{Type: t, Elems: make([]Value, n)}
	for i := range n {
		if v.Elems[i], rest, err = ParseValue(rest); err != nil {
			return Value{}, nil, err
		}
	}
	return v, rest, nil
}

// AppendValue appends v in RESP3, or in RESP2 when resp3 is false (maps as
// flat arrays, sets as arrays, doubles as bulk strings, bools as 1 and 0,
// null as $-1), as Redis writes the same reply to a RESP2 client.
func AppendValue(dst []byte, v Value, resp3 bool) []byte {
	switch v.Type {
	case '+':
		return AppendSimple(dst, v.Str)
	case '-':
		return AppendError(dst, v.Str)
	case ':':
		dst = append(dst, ':')
		return append(append(dst, v.Str...), '\r', '\n')
	case '$':
		return AppendBulkString(dst, v.Str)
	case '=':
		return AppendVerbatim(dst, v.Str[min(4, len(v.Str)):], resp3)
	case ',':
		return AppendDouble(dst, v.Str, resp3)
	case '#':
		return AppendBool(dst, v.Str == "t", resp3)
	case '_':
		return AppendNil(dst, resp3)
	case '~':
		dst = AppendSet(dst, len(v.Elems), resp3)
	case '%':
		dst = AppendMap(dst, len(v.Elems)/2, resp3)
	default:
		dst = AppendArray(dst, len(v.Elems))
	}
	for _, e := range v.Elems {
		dst = AppendValue(dst, e, resp3)
	}
	return dst
}

// SortPairs sorts the key-value pairs of a map (or of a flat array of
// pairs) by their keys' text.
func (v *Value) SortPairs() {
	n := len(v.Elems) / 2
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return v.Elems[2*idx[a]].Str < v.Elems[2*idx[b]].Str })
	out := make([]Value, 0, len(v.Elems))
	for _, i := range idx {
		out = append(out, v.Elems[2*i], v.Elems[2*i+1])
	}
	v.Elems = out
}

// Lookup returns the value of key in a map (or a flat array of pairs).
func (v Value) Lookup(key string) (Value, bool) {
	for i := 0; i+1 < len(v.Elems); i += 2 {
		if v.Elems[i].Str == key {
			return v.Elems[i+1], true
		}
	}
	return Value{}, false
}
