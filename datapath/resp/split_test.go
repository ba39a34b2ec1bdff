package resp

import (
	"bytes"
	"fmt"
	"testing"
)

// splitRef is a line-by-line transliteration of Redis 7.0's sdssplitargs
// (sds.c), allocating and unoptimised, as the reference for SplitArgs.
func splitRef(line []byte) ([][]byte, bool) {
	at := func(i int) byte { // *p on the NUL-terminated copy Redis splits
		if i < len(line) {
			return line[i]
		}
		return 0
	}
	var vector [][]byte
	p := 0
	for {
		for at(p) != 0 && isSpace(at(p)) {
			p++
		}
		if at(p) == 0 {
			return vector, true
		}
		inq, insq, done := false, false, false
		current := []byte{}
		for !done {
			if inq {
				if at(p) == '\\' && at(p+1) == 'x' && isHex(at(p+2)) && isHex(at(p+3)) {
					current = append(current, unhex(at(p+2))*16+unhex(at(p+3)))
					p += 3
				} else if at(p) == '\\' && at(p+1) != 0 {
					p++
					c := at(p)
					switch c {
					case 'n':
						c = '\n'
					case 'r':
						c = '\r'
					case 't':
						c = '\t'
					case 'b':
						c = '\b'
					case 'a':
						c = '\a'
					}
					current = append(current, c)
				} else if at(p) == '"' {
					if at(p+1) != 0 && !isSpace(at(p+1)) {
						return nil, false
					}
					done = true
				} else if at(p) == 0 {
					return nil, false
				} else {
					current = append(current, at(p))
				}
			} else if insq {
				if at(p) == '\\' && at(p+1) == '\'' {
					p++
					current = append(current, '\'')
				} else if at(p) == '\'' {
					if at(p+1) != 0 && !isSpace(at(p+1)) {
						return nil, false
					}
					done = true
				} else if at(p) == 0 {
					return nil, false
				} else {
					current = append(current, at(p))
				}
			} else {
				switch at(p) {
				case ' ', '\n', '\r', '\t', 0:
					done = true
				case '"':
					inq = true
				case '\'':
					insq = true
				default:
					current = append(current, at(p))
				}
			}
			if at(p) != 0 {
				p++
			}
		}
		vector = append(vector, current)
	}
}

// FuzzSplitArgs checks the in-place, fast-pathed SplitArgs against the
// reference transliteration of sdssplitargs.
func FuzzSplitArgs(f *testing.F) {
	for _, s := range []string{
		`a b c`, `"a b" 'c d'`, `"\x41\x4g\n\t\\\"" 'it\'s'`, `ab"cd"ef`, `"unterminated`, `'a'b`, "a\x00b c",
		"\va\fb\v", `"a"` + "\t" + `'b'`, `\`, `"\`, `"\x4"`, `'\`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		// Redis splits a C string: it ends at the first NUL.
		if i := bytes.IndexByte(in, 0); i >= 0 {
			in = in[:i]
		}
		want, wantOK := splitRef(bytes.Clone(in))
		got, ok := SplitArgs(bytes.Clone(in), nil)
		if ok != wantOK || ok && fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
			t.Fatalf("SplitArgs(%q) = %q, %v; sdssplitargs gives %q, %v", in, got, ok, want, wantOK)
		}
	})
}
