package resp

import (
	"bytes"
	"math"
)

// Error is a protocol error. Its text is the Redis error reply without the
// leading '-' (e.g. "ERR Protocol error: invalid bulk length"); after
// replying it the server must close the connection, as Redis does.
type Error string

func (e Error) Error() string { return string(e) }

// Protocol errors, with Redis 7.0's exact texts.
const (
	ErrInvalidMultibulkLen  Error = "ERR Protocol error: invalid multibulk length"
	ErrInvalidBulkLen       Error = "ERR Protocol error: invalid bulk length"
	ErrTooBigInline         Error = "ERR Protocol error: too big inline request"
	ErrTooBigMbulkCount     Error = "ERR Protocol error: too big mbulk count string"
	ErrTooBigBulkCount      Error = "ERR Protocol error: too big bulk count string"
	ErrUnbalancedQuotes     Error = "ERR Protocol error: unbalanced quotes in request"
	ErrUnauthMultibulkLen   Error = "ERR Protocol error: unauthenticated multibulk length"
	ErrUnauthBulkLen        Error = "ERR Protocol error: unauthenticated bulk length"
	errExpectedDollarPrefix       = "ERR Protocol error: expected '$', got '"
)

// ErrQueryBufferLimit means the pending, still incomplete request exceeds
// Limits.MaxQueryBuffer. Redis closes such a client without a reply.
var ErrQueryBufferLimit error = queryBufferLimit{}

type queryBufferLimit struct{}

func (queryBufferLimit) Error() string { return "client query buffer limit exceeded" }

// expectedDollar returns the error for a bulk header that starts with c.
// The 256 possible errors are built once so that the parser never allocates.
func expectedDollar(c byte) Error { return expectedDollarErrs[c] }

var expectedDollarErrs = func() (e [256]Error) {
	for i := range e {
		e[i] = Error(errExpectedDollarPrefix + string([]byte{byte(i)}) + "'")
	}
	return e
}()

// Limits bound what a client may send.
type Limits struct {
	// MaxBulkLen is proto-max-bulk-len: the largest bulk argument.
	MaxBulkLen int64
	// MaxInline is PROTO_INLINE_MAX_SIZE: the longest inline request or
	// multibulk header line without its terminator.
	MaxInline int
	// MaxQueryBuffer is client-query-buffer-limit: the most bytes an
	// incomplete request may hold. 0 means no limit.
	MaxQueryBuffer int
	// MaxMultibulk is the most elements a multibulk request may announce.
	// 0 means Redis's own limit, INT_MAX; a count past it is
	// ErrInvalidMultibulkLen, as in Redis.
	MaxMultibulk int64
	// Unauthenticated applies Redis's stricter limits for clients that
	// still have to AUTH: at most 10 arguments of at most 16384 bytes.
	Unauthenticated bool
}

// DefaultLimits are Redis 7.0's defaults.
var DefaultLimits = Limits{
	MaxBulkLen:     512 << 20,
	MaxInline:      64 << 10,
	MaxQueryBuffer: 1 << 30,
}

// Parse parses one request from the start of buf and appends its arguments
// to args[:0]. The arguments alias buf, except quoted inline arguments,
// which are unescaped into new slices: buf is never modified, so parsing the
// same bytes again (a stalled request) gives the same arguments.
//
// It returns the arguments and the number of bytes consumed. n == 0 with a
// nil error means buf holds no complete request yet. n > 0 with no
// arguments is an empty request (an empty inline line, *0 or *-1) that Redis
// skips silently. A non-nil error is an Error to reply before closing the
// connection, or ErrQueryBufferLimit.
func Parse(buf []byte, args [][]byte, lim Limits) (out [][]byte, n int, err error) {
	out = args[:0]
	if len(buf) == 0 {
		return out, 0, nil
	}
	if buf[0] == '*' {
		out, n, _, err = parseMultibulk(buf, out, lim)
		if n == 0 {
			out = out[:0] // the elements before the incomplete one
		}
	} else {
		out, n, _, err = parseInline(buf, 0, out, lim)
	}
	if n == 0 && err == nil && lim.MaxQueryBuffer > 0 && len(buf) > lim.MaxQueryBuffer {
		return out[:0], 0, ErrQueryBufferLimit
	}
	return out, n, err
}

// findCR returns the index of the first '\r' in b, or -1. Like strchr on the
// NUL-terminated query buffer it stops at a NUL byte.
func findCR(b []byte) int {
	for i, c := range b {
		switch c {
		case '\r':
			return i
		case 0:
			return -1
		}
	}
	return -1
}

// header finds the header line starting at buf[pos] (its type byte
// included). It returns the index of its '\r', or -1 when incomplete; tooBig
// reports an incomplete header longer than the inline limit.
func header(buf []byte, pos int, lim Limits) (cr int, tooBig bool) {
	i := findCR(buf[pos:])
	if i < 0 {
		return -1, len(buf)-pos > lim.MaxInline
	}
	cr = pos + i
	// Redis also needs the '\n' (or whatever byte follows) to be present.
	if cr-pos > len(buf)-pos-2 {
		return -1, false
	}
	return cr, false
}

// stop says where an incomplete multibulk ran out of input.
type stop struct {
	pos  int   // start of the incomplete element's header
	left int64 // elements still to come, the incomplete one included; 0: the count header itself is incomplete
	body int   // start of the incomplete element's payload; -1 while its header is incomplete
	blen int64 // the payload's declared length, when body >= 0
}

// parseMultibulk parses the multibulk request at the start of buf. n > 0 is
// a complete request; n == 0 with a nil error is an incomplete one, and st
// says where it stopped (out then holds the elements before st.pos).
func parseMultibulk(buf []byte, out [][]byte, lim Limits) (_ [][]byte, n int, st stop, err error) {
	cr, tooBig := header(buf, 0, lim)
	if cr < 0 {
		if tooBig {
			return out, 0, st, ErrTooBigMbulkCount
		}
		return out, 0, st, nil
	}
	count, ok := ParseInt(buf[1:cr])
	if !ok || count > math.MaxInt32 || (lim.MaxMultibulk > 0 && count > lim.MaxMultibulk) {
		return out, 0, st, ErrInvalidMultibulkLen
	}
	if count > 10 && lim.Unauthenticated {
		return out, 0, st, ErrUnauthMultibulkLen
	}
	if count <= 0 {
		return out, cr + 2, st, nil
	}
	out, st, err = elems(buf, cr+2, count, out, lim)
	if err != nil {
		return out[:0], 0, st, err
	}
	if st.left > 0 {
		return out, 0, st, nil
	}
	return out, st.pos, st, nil
}

// elems parses the bulk elements of a multibulk from buf[pos:], appending
// them to out, until left of them are done (st.left == 0, st.pos just past
// the last) or the input runs out (st says where). Each header is scanned
// once, from its own start: the cost is linear in the bytes parsed.
func elems(buf []byte, pos int, left int64, out [][]byte, lim Limits) ([][]byte, stop, error) {
	for ; left > 0; left-- {
		st := stop{pos: pos, left: left, body: -1}
		cr, tooBig := header(buf, pos, lim)
		if cr < 0 {
			if tooBig {
				return out, st, ErrTooBigBulkCount
			}
			return out, st, nil
		}
		if buf[pos] != '$' {
			return out, st, expectedDollar(buf[pos])
		}
		l, ok := ParseInt(buf[pos+1 : cr])
		if !ok || l < 0 || l > lim.MaxBulkLen {
			return out, st, ErrInvalidBulkLen
		}
		if l > 16384 && lim.Unauthenticated {
			return out, st, ErrUnauthBulkLen
		}
		body := cr + 2
		if int64(len(buf)-body) < l+2 {
			st.body, st.blen = body, l
			return out, st, nil
		}
		end := body + int(l)
		out = append(out, buf[body:end:end])
		pos = end + 2 // Redis skips the terminator without checking it.
	}
	return out, stop{pos: pos, body: -1}, nil
}

// inlineEnd returns the index of the '\n' ending the inline line at the
// start of buf, or -1, searching from from (buf[:from] is known to hold
// neither a '\n' nor a NUL). Like strchr on the NUL-terminated query buffer,
// the search stops at a NUL byte, which nul reports: such a line never
// completes. Only the line itself is scanned, so a buffer of many requests
// is parsed in linear time.
func inlineEnd(buf []byte, from int) (nl int, nul bool) {
	nl = bytes.IndexByte(buf[from:], '\n')
	seg := buf[from:]
	if nl >= 0 {
		seg = seg[:nl]
		nl += from
	}
	if bytes.IndexByte(seg, 0) >= 0 {
		return -1, true
	}
	return nl, false
}

// parseInline parses the inline request at the start of buf, whose first
// from bytes are known to hold neither a '\n' nor a NUL. nul reports an
// incomplete line hidden by a NUL byte.
func parseInline(buf []byte, from int, out [][]byte, lim Limits) (_ [][]byte, n int, nul bool, err error) {
	nl, nul := inlineEnd(buf, from)
	if nl < 0 {
		if len(buf) > lim.MaxInline {
			return out, 0, nul, ErrTooBigInline
		}
		return out, 0, nul, nil
	}
	end := nl
	if end > 0 && buf[end-1] == '\r' {
		end--
	}
	out, ok := SplitArgs(buf[:end], out)
	if !ok {
		return out[:0], 0, false, ErrUnbalancedQuotes
	}
	return out, nl + 1, false, nil
}

// isInlineSpecial reports the bytes that end or quote an unquoted inline
// argument.
func isInlineSpecial(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '"' || c == '\''
}

// isSpace is C's isspace in the "C" locale.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// SplitArgs splits line like Redis's sdssplitargs and appends the arguments
// to out. Unquoted arguments alias line; a quoted one is unescaped into a new
// slice. line is never modified, so a request a server could not serve yet
// parses the same when it is read again (quoted inline arguments come from
// humans at a terminal: the allocation is off the hot path). Like sdssplitargs, which works on a C string, it stops at the
// first NUL byte. ok is false on unbalanced quotes or a closing quote not
// followed by a space.
func SplitArgs(line []byte, out [][]byte) (_ [][]byte, ok bool) {
	if i := bytes.IndexByte(line, 0); i >= 0 {
		line = line[:i]
	}
	at := func(i int) byte { // the C string's byte i, NUL past the end
		if i < len(line) {
			return line[i]
		}
		return 0
	}
	p := 0
	for {
		for p < len(line) && isSpace(line[p]) {
			p++
		}
		if p >= len(line) {
			return out, true
		}
		// Fast path: an unquoted argument is a run of bytes up to a
		// separator, already in place.
		q := p
		for q < len(line) && !isInlineSpecial(line[q]) {
			q++
		}
		if q == len(line) || line[q] != '"' && line[q] != '\'' {
			out = append(out, line[p:q:q])
			p = q
			continue
		}
		arg := append([]byte(nil), line[p:q]...) // the part before the first quote
		p = q
		inq, insq, done := false, false, false
		for !done {
			c := at(p)
			switch {
			case inq:
				switch {
				case c == '\\' && at(p+1) == 'x' && isHex(at(p+2)) && isHex(at(p+3)):
					arg = append(arg, unhex(at(p+2))<<4|unhex(at(p+3)))
					p += 3
				case c == '\\' && at(p+1) != 0:
					p++
					switch e := line[p]; e {
					case 'n':
						arg = append(arg, '\n')
					case 'r':
						arg = append(arg, '\r')
					case 't':
						arg = append(arg, '\t')
					case 'b':
						arg = append(arg, '\b')
					case 'a':
						arg = append(arg, '\a')
					default:
						arg = append(arg, e)
					}
				case c == '"':
					if n := at(p + 1); n != 0 && !isSpace(n) {
						return out, false
					}
					done = true
				case c == 0:
					return out, false
				default:
					arg = append(arg, c)
				}
			case insq:
				switch {
				case c == '\\' && at(p+1) == '\'':
					p++
					arg = append(arg, '\'')
				case c == '\'':
					if n := at(p + 1); n != 0 && !isSpace(n) {
						return out, false
					}
					done = true
				case c == 0:
					return out, false
				default:
					arg = append(arg, c)
				}
			default:
				switch c {
				case ' ', '\n', '\r', '\t', 0:
					done = true
				case '"':
					inq = true
				case '\'':
					insq = true
				default:
					arg = append(arg, c)
				}
			}
			if p < len(line) {
				p++
			}
		}
		out = append(out, arg)
	}
}

// ParseInt parses b like Redis's string2ll: an optional '-', no '+', no
// leading zeros, no spaces, at most 20 bytes, within int64.
func ParseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) >= 21 {
		return 0, false
	}
	if len(b) == 1 && b[0] == '0' {
		return 0, true
	}
	neg := false
	if b[0] == '-' {
		neg = true
		b = b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	if b[0] < '1' || b[0] > '9' {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if v > math.MaxUint64/10 {
			return 0, false
		}
		v *= 10
		if v > math.MaxUint64-uint64(c-'0') {
			return 0, false
		}
		v += uint64(c - '0')
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return -int64(v), true
	}
	if v > math.MaxInt64 {
		return 0, false
	}
	return int64(v), true
}
