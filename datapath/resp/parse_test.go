package resp

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	big := strings.Repeat("a", 64<<10)
	for _, tc := range []struct {
		name string
		in   string
		args []string // nil with n == 0: incomplete
		n    int
		err  error
	}{
		{"empty", "", nil, 0, nil},
		{"multibulk", "*2\r\n$3\r\nGET\r\n$1\r\nk\r\nrest", []string{"GET", "k"}, 20, nil},
		{"empty bulk", "*1\r\n$0\r\n\r\n", []string{""}, 10, nil},
		{"binary bulk", "*1\r\n$3\r\na\r\x00\r\n", []string{"a\r\x00"}, 13, nil},
		{"terminator not checked", "*1\r\n$1\r\nxyz", []string{"x"}, 11, nil},
		{"zero count", "*0\r\nPING\r\n", []string{}, 4, nil},
		{"negative count", "*-1\r\n", []string{}, 5, nil},
		{"incomplete count", "*2", nil, 0, nil},
		{"incomplete count cr", "*2\r", nil, 0, nil},
		{"incomplete bulk header", "*2\r\n$3\r\nGET\r\n$1", nil, 0, nil},
		{"incomplete bulk body", "*1\r\n$3\r\nGE", nil, 0, nil},
		{"incomplete bulk terminator", "*1\r\n$3\r\nGET\r", nil, 0, nil},
		{"bad count", "*x\r\n", nil, 0, ErrInvalidMultibulkLen},
		{"empty count", "*\r\n", nil, 0, ErrInvalidMultibulkLen},
		{"plus count", "*+1\r\n", nil, 0, ErrInvalidMultibulkLen},
		{"leading zero count", "*01\r\n", nil, 0, ErrInvalidMultibulkLen},
		{"count over int max", "*2147483648\r\n", nil, 0, ErrInvalidMultibulkLen},
		{"count at int max", "*2147483647\r\n", nil, 0, nil},
		{"count with lf only", "*1\n$1\r\nx\r\n", nil, 0, ErrInvalidMultibulkLen},
		{"expected dollar", "*1\r\n:1\r\n", nil, 0, Error("ERR Protocol error: expected '$', got ':'")},
		{"bad bulk len", "*1\r\n$x\r\n", nil, 0, ErrInvalidBulkLen},
		{"negative bulk len", "*1\r\n$-1\r\n", nil, 0, ErrInvalidBulkLen},
		{"bulk over limit", "*1\r\n$536870913\r\n", nil, 0, ErrInvalidBulkLen},
		{"bulk at limit incomplete", "*1\r\n$536870912\r\n", nil, 0, nil},
		{"nul hides cr", "*1\x00\r\n", nil, 0, nil},
		{"too big count", "*1" + big, nil, 0, ErrTooBigMbulkCount},
		{"too big bulk count", "*1\r\n$1" + big, nil, 0, ErrTooBigBulkCount},
		{"inline", "SET k v\r\n", []string{"SET", "k", "v"}, 9, nil},
		{"inline lf", "GET  k\nx", []string{"GET", "k"}, 7, nil},
		{"inline incomplete", "GET k", nil, 0, nil},
		{"inline empty line", "\r\n", []string{}, 2, nil},
		{"inline blank line", " \t \n", []string{}, 4, nil},
		{"inline too big", big + "x", nil, 0, ErrTooBigInline},
		{"inline long line ok", big + "x\n", []string{big + "x"}, len(big) + 2, nil},
		{"inline quotes", `set "a b" 'c d'` + "\r\n", []string{"set", "a b", "c d"}, 17, nil},
		{"inline escapes", `"\x41\n\t\"\\\q" 'it\'s'` + "\n", []string{"A\n\t\"\\q", "it's"}, 25, nil},
		{"inline quote mid word", `ab"c d"` + "\n", []string{"abc d"}, 8, nil},
		{"inline bad hex", `"\xZZ"` + "\n", []string{"xZZ"}, 7, nil},
		{"inline unbalanced", `"abc` + "\n", nil, 0, ErrUnbalancedQuotes},
		{"inline unbalanced single", `'abc` + "\n", nil, 0, ErrUnbalancedQuotes},
		{"inline closing quote glued", `"a"b` + "\n", nil, 0, ErrUnbalancedQuotes},
		{"inline nul hides newline", "a b\x00c d\n", nil, 0, nil},
		{"inline vertical tab is not a separator", "a\vb\n", []string{"a\vb"}, 4, nil},
		{"inline leading vertical tab is blank", "\va\n", []string{"a"}, 3, nil},
		{"inline inner cr", "a\rb\r\n", []string{"a", "b"}, 5, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			buf := []byte(tc.in)
			args, n, err := Parse(buf, nil, DefaultLimits)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if n != tc.n {
				t.Fatalf("n = %d, want %d", n, tc.n)
			}
			if tc.args == nil {
				if len(args) != 0 {
					t.Fatalf("args = %q, want none", args)
				}
				return
			}
			got := make([]string, len(args))
			for i, a := range args {
				got[i] = string(a)
			}
			if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tc.args) {
				t.Fatalf("args = %q, want %q", got, tc.args)
			}
		})
	}
}

func TestParseAliasesInput(t *testing.T) {
	buf := []byte("*1\r\n$3\r\nabc\r\n")
	args, _, err := Parse(buf, make([][]byte, 0, 4), DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	buf[8] = 'X'
	if string(args[0]) != "Xbc" {
		t.Fatalf("argument does not alias the buffer: %q", args[0])
	}
	if cap(args[0]) != 3 {
		t.Fatalf("argument cap %d lets appends overwrite the buffer", cap(args[0]))
	}
}

func TestParseUnauthenticatedLimits(t *testing.T) {
	lim := DefaultLimits
	lim.Unauthenticated = true
	for _, tc := range []struct {
		in  string
		err error
	}{
		{"*10\r\n", nil},
		{"*11\r\n", ErrUnauthMultibulkLen},
		{"*1\r\n$16384\r\n", nil},
		{"*1\r\n$16385\r\n", ErrUnauthBulkLen},
	} {
		if _, _, err := Parse([]byte(tc.in), nil, lim); err != tc.err {
			t.Errorf("Parse(%q) err = %v, want %v", tc.in, err, tc.err)
		}
	}
}

func TestParseQueryBufferLimit(t *testing.T) {
	lim := DefaultLimits
	lim.MaxQueryBuffer = 32
	in := []byte("*1\r\n$100\r\n" + strings.Repeat("x", 30))
	if _, _, err := Parse(in, nil, lim); err != ErrQueryBufferLimit {
		t.Fatalf("err = %v, want ErrQueryBufferLimit", err)
	}
	in = []byte("*1\r\n$10\r\n" + strings.Repeat("x", 30)) // complete: no limit applies
	if _, n, err := Parse(in, nil, lim); err != nil || n != 21 {
		t.Fatalf("n, err = %d, %v", n, err)
	}
}

func TestParseInt(t *testing.T) {
	for _, tc := range []struct {
		in string
		v  int64
		ok bool
	}{
		{"0", 0, true}, {"1", 1, true}, {"-1", -1, true},
		{"9223372036854775807", 9223372036854775807, true},
		{"-9223372036854775808", -9223372036854775808, true},
		{"9223372036854775808", 0, false}, {"-9223372036854775809", 0, false},
		{"18446744073709551616", 0, false}, {"99999999999999999999", 0, false},
		{"", 0, false}, {"-", 0, false}, {"-0", 0, false}, {"00", 0, false},
		{"+1", 0, false}, {" 1", 0, false}, {"1 ", 0, false}, {"1a", 0, false},
		{"012", 0, false}, {"123456789012345678901", 0, false},
	} {
		v, ok := ParseInt([]byte(tc.in))
		if v != tc.v || ok != tc.ok {
			t.Errorf("ParseInt(%q) = %d, %v; want %d, %v", tc.in, v, ok, tc.v, tc.ok)
		}
	}
}

func TestAppend(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{string(AppendSimple(nil, "OK")), "+OK\r\n"},
		{string(AppendOK(nil)), "+OK\r\n"},
		{string(AppendError(nil, "ERR bad\r\nthing")), "-ERR bad  thing\r\n"},
		{string(AppendInt(nil, -42)), ":-42\r\n"},
		{string(AppendBulk(nil, []byte("ab"))), "$2\r\nab\r\n"},
		{string(AppendBulk(nil, nil)), "$0\r\n\r\n"},
		{string(AppendBulkString(nil, "ab")), "$2\r\nab\r\n"},
		{string(AppendBulkInt(nil, 123)), "$3\r\n123\r\n"},
		{string(AppendNull(nil)), "$-1\r\n"},
		{string(AppendNullArray(nil)), "*-1\r\n"},
		{string(AppendArray(nil, 3)), "*3\r\n"},
		{string(AppendCommand(nil, []byte("GET"), []byte("k"))), "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// FuzzParse checks that Parse never panics, never consumes more than it was
// given, and that re-encoding a parsed command as a multibulk parses back to
// the same arguments, with nothing consumed by a prefix of the request.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", "*0\r\n", "*-1\r\n", "*1\r\n$-1\r\n",
		"SET k v\r\n", `set "a\x41\n" 'b\'c'` + "\n", "\r\n", "*1\r\n$3\r\nab", "*x\r\n",
		"*1\r\n:1\r\n", `"abc` + "\n", "a\x00b\n", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n",
	} {
		f.Add([]byte(s))
	}
	lim := DefaultLimits
	lim.MaxInline = 256
	lim.MaxBulkLen = 1 << 16
	f.Fuzz(func(t *testing.T, in []byte) {
		orig := bytes.Clone(in)
		args, n, err := Parse(in, nil, lim)
		if n < 0 || n > len(in) {
			t.Fatalf("n = %d outside [0, %d]", n, len(in))
		}
		if err != nil {
			if n != 0 || len(args) != 0 {
				t.Fatalf("error %v with n = %d, %d args", err, n, len(args))
			}
			if _, isProto := err.(Error); !isProto && err != ErrQueryBufferLimit {
				t.Fatalf("unexpected error type %T", err)
			}
			return
		}
		if n == 0 {
			if len(args) != 0 {
				t.Fatalf("incomplete request returned %d args", len(args))
			}
			return
		}
		// A strict prefix of a request is incomplete, or already an error
		// (the inline limit), but never a different complete request.
		if orig[0] == '*' {
			if _, pn, _ := Parse(bytes.Clone(orig[:n-1]), nil, lim); pn != 0 {
				t.Fatalf("prefix of %d bytes parsed as a complete request of %d", n-1, pn)
			}
		}
		enc := AppendCommand(nil, args...)
		if len(args) == 0 {
			return
		}
		again, n2, err := Parse(enc, nil, lim)
		if err != nil || n2 != len(enc) || len(again) != len(args) {
			t.Fatalf("re-encoded %q: n = %d of %d, err = %v, %d args, want %d", enc, n2, len(enc), err, len(again), len(args))
		}
		for i := range args {
			if !bytes.Equal(args[i], again[i]) {
				t.Fatalf("arg %d = %q after re-encoding, want %q", i, again[i], args[i])
			}
		}
	})
}

func BenchmarkParse(b *testing.B) {
	for _, bc := range []struct{ name, in string }{
		{"get", "*2\r\n$3\r\nGET\r\n$16\r\nkey:000000000001\r\n"},
		{"set", "*3\r\n$3\r\nSET\r\n$16\r\nkey:000000000001\r\n$32\r\n" + strings.Repeat("v", 32) + "\r\n"},
		{"inline", "SET key:000000000001 vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv\r\n"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			buf := []byte(bc.in)
			args := make([][]byte, 0, 8)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				var err error
				args, _, err = Parse(buf, args, DefaultLimits)
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestParseMultibulkLimit(t *testing.T) {
	lim := DefaultLimits
	for _, tc := range []struct {
		max int64
		in  string
		err error
	}{
		{0, "*2147483647\r\n", nil}, // Redis's INT_MAX
		{0, "*2147483648\r\n", ErrInvalidMultibulkLen},
		{3, "*3\r\n", nil},
		{3, "*4\r\n", ErrInvalidMultibulkLen},
	} {
		lim.MaxMultibulk = tc.max
		if _, _, err := Parse([]byte(tc.in), nil, lim); err != tc.err {
			t.Errorf("MaxMultibulk %d: Parse(%q) err = %v, want %v", tc.max, tc.in, err, tc.err)
		}
	}
}

// A server that cannot serve a request yet leaves its bytes in the buffer
// and parses them again later: parsing must not change them.
func TestParseLeavesInputUnchanged(t *testing.T) {
	in := "MGET \"k\\x30\" 'k1' \"a b\"\r\n"
	buf := []byte(in)
	for range 2 {
		args, n, err := Parse(buf, nil, DefaultLimits)
		if err != nil || n != len(in) {
			t.Fatalf("Parse = %q, %d, %v", args, n, err)
		}
		if got := fmt.Sprintf("%q", args); got != `["MGET" "k0" "k1" "a b"]` {
			t.Fatalf("args = %s", got)
		}
		if string(buf) != in {
			t.Fatalf("Parse modified its input: %q", buf)
		}
	}
}
