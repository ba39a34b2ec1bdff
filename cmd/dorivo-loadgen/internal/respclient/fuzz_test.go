package respclient

import (
	"bytes"
	"testing"

	"github.com/dorivo/dorivo/datapath/resp"
)

// FuzzReadReply: arbitrary bytes never panic the Reader, and every non-array
// reply it accepts, re-encoded, reads back identically.
func FuzzReadReply(f *testing.F) {
	for _, s := range []string{"+OK\r\n", "-ERR x\r\n", ":-12\r\n", "$3\r\nabc\r\n", "$-1\r\n", "*2\r\n$1\r\na\r\n:1\r\n", "*-1\r\n", "$2\r\nab\n\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReader(bytes.NewReader(b))
		var rep Reply
		for range 64 {
			if err := r.ReadReply(&rep); err != nil {
				return
			}
			var enc []byte
			switch {
			case rep.Kind == Array:
				continue
			case rep.Nil:
				enc = resp.AppendNull(nil)
			case rep.Kind == Simple:
				if bytes.ContainsAny(rep.Str, "\r\n") {
					continue // a bare CR inside a line is legal on input, not re-encodable
				}
				enc = resp.AppendSimple(nil, string(rep.Str))
			case rep.Kind == Error:
				if bytes.ContainsAny(rep.Str, "\r\n") {
					continue
				}
				enc = resp.AppendError(nil, string(rep.Str))
			case rep.Kind == Integer:
				enc = resp.AppendInt(nil, rep.Int)
			case rep.Kind == Bulk:
				enc = resp.AppendBulk(nil, rep.Str)
			}
			var again Reply
			if err := NewReader(bytes.NewReader(enc)).ReadReply(&again); err != nil {
				t.Fatalf("re-encoded %q does not read back: %v", enc, err)
			}
			if again.Kind != rep.Kind || !bytes.Equal(again.Str, rep.Str) || again.Int != rep.Int || again.Nil != rep.Nil {
				t.Fatalf("read %+v, re-read %+v", rep, again)
			}
		}
	})
}
