package resp

// bigArg is Redis's PROTO_MBULK_BIG_ARG: an incomplete element at least
// this long gets a buffer of its own, allocated once at its declared
// length; shorter ones are copied into the Reader's arena. A variable so
// that the fuzz target can reach big elements with small inputs.
var bigArg int64 = 32 << 10

// arenaChunk is the largest arena chunk the Reader allocates for small
// elements (one longer than that gets a chunk of its size).
const arenaChunk = 64 << 10

// Reader is the parse state of one connection's request stream. It keeps
// parsing linear in the input however the input is split across reads.
//
// A complete request is parsed in place, as Parse does. When a multibulk
// request is incomplete, the Reader takes the part that arrived: it copies
// the elements parsed so far into an arena, starts the element in progress
// in a buffer sized once from its declared length (a big argument is then
// copied exactly once, and held in about its own size), and tells the
// caller to discard those bytes. The next call resumes at the next byte, so
// no header is scanned twice and the caller's buffer never accumulates a
// big request. Only a header line cut by the end of the input is left to
// the caller, to be scanned again (it is at most Limits.MaxInline long),
// and so is an incomplete inline line, whose scanned prefix is remembered.
//
// The zero Reader is ready. A Reader is not safe for concurrent use.
type Reader struct {
	active bool     // a multibulk request is in progress and partly taken
	left   int64    // its elements still to come, the one in cur included
	args   [][]byte // its elements complete so far, in arena or big buffers
	held   int      // input bytes taken for it so far
	inBody bool     // cur is the payload of the element in progress
	cur    []byte   // that payload so far; cap(cur) is its declared length
	skip   int      // terminator bytes (1 or 2) to skip once cur is full
	arena  []byte   // the current chunk small elements are copied into

	scanned int // inline: the line's first scanned bytes hold no '\n' or NUL
}

// Parse parses the next request from buf: the connection's input that the
// caller has not discarded yet, starting where the previous call's n ended.
//
// With complete true, out is the request (possibly empty: an empty inline
// line, *0 or *-1, which Redis skips) and it used n bytes of buf. Its
// arguments alias buf and the Reader until the caller discards those bytes
// and calls Done. A caller that cannot serve the request yet discards
// nothing and calls Parse again later with buf starting at the same byte:
// it gets the same request.
//
// With complete false, the request is incomplete: the caller discards n
// bytes (which the Reader took, n may be 0) and calls Parse again once more
// input has arrived.
//
// An error is one of Parse's; the connection is then done.
func (r *Reader) Parse(buf []byte, args [][]byte, lim Limits) (out [][]byte, n int, complete bool, err error) {
	if r.active {
		return r.resume(buf, args, lim)
	}
	out = args[:0]
	if len(buf) == 0 {
		return out, 0, false, nil
	}
	if buf[0] != '*' {
		return r.inline(buf, out, lim)
	}
	out, n, st, err := parseMultibulk(buf, out, lim)
	switch {
	case err != nil:
		return out[:0], 0, false, err
	case n > 0:
		return out, n, true, nil
	case overLimit(len(buf), lim):
		return out[:0], 0, false, ErrQueryBufferLimit
	case st.left == 0: // the count header is incomplete: nothing to take
		return out[:0], 0, false, nil
	}
	r.active = true
	return out[:0], r.take(buf, st, out), false, nil
}

// Done ends the request the last Parse returned complete: the caller
// served it and discarded its bytes.
func (r *Reader) Done() {
	r.scanned = 0
	if !r.active {
		return
	}
	// Drop the buffers rather than reuse them: the served request's
	// arguments alias them, and nothing then depends on how long its
	// caller looks at them.
	r.active, r.inBody, r.left, r.held, r.skip = false, false, 0, 0, 0
	r.cur, r.arena = nil, nil
	if cap(r.args) > 1024 {
		r.args = nil
	} else {
		clear(r.args)
		r.args = r.args[:0]
	}
}

// Pending returns the input bytes of the incomplete request the Reader
// holds.
func (r *Reader) Pending() int { return r.held }

func overLimit(pending int, lim Limits) bool {
	return lim.MaxQueryBuffer > 0 && pending > lim.MaxQueryBuffer
}

// inline parses an inline request, scanning only what the previous
// (incomplete) call did not.
func (r *Reader) inline(buf []byte, out [][]byte, lim Limits) ([][]byte, int, bool, error) {
	from := min(r.scanned, len(buf))
	out, n, nul, err := parseInline(buf, from, out, lim)
	switch {
	case err != nil:
		return out[:0], 0, false, err
	case n > 0:
		r.scanned = 0 // a re-parse of a request not served rescans its line
		return out, n, true, nil
	case overLimit(len(buf), lim):
		return out[:0], 0, false, ErrQueryBufferLimit
	}
	if !nul {
		r.scanned = len(buf) // a line with a NUL never completes: rescanning it is bounded by MaxInline
	}
	return out[:0], 0, false, nil
}

// resume continues the request in progress with buf, the input after the
// bytes already taken.
func (r *Reader) resume(buf []byte, args [][]byte, lim Limits) ([][]byte, int, bool, error) {
	pending := r.held + len(buf)
	tail := r.args // complete elements are appended past len(r.args): r stays unchanged unless the request is still incomplete
	pos, left := 0, r.left
	finished := 0 // 1 when this call completed cur
	if r.inBody {
		k := min(cap(r.cur)-len(r.cur), len(buf))
		cur := append(r.cur, buf[:k]...) // within cap: cur is never reallocated
		skip := min(r.skip, len(buf)-k)
		if len(cur) < cap(cur) || skip < r.skip {
			if overLimit(pending, lim) {
				r.Done()
				return args[:0], 0, false, ErrQueryBufferLimit
			}
			r.cur, r.skip = cur, r.skip-skip
			r.held += len(buf)
			return args[:0], len(buf), false, nil
		}
		tail = append(tail, cur)
		pos, left, finished = k+skip, left-1, 1
	}
	tail = roomFor(tail, left, len(buf)-pos)
	tail, st, err := elems(buf, pos, left, tail, lim)
	if err != nil {
		r.Done()
		return args[:0], 0, false, err
	}
	if st.left == 0 {
		return append(args[:0], tail...), st.pos, true, nil
	}
	if overLimit(pending, lim) {
		r.Done()
		return args[:0], 0, false, ErrQueryBufferLimit
	}
	k := len(r.args) + finished
	r.args = tail[:k]
	return args[:0], r.take(buf, st, tail[k:]), false, nil
}

// roomFor returns elems with room for the most of left elements that n
// bytes can hold (each takes at least 6: "$0\r\n\r\n"), growing by
// doubling, so that a request of a million elements is not copied at each
// read as append's gentler growth would. A new array leaves r.args as it is.
func roomFor(elems [][]byte, left int64, n int) [][]byte {
	need := int(min(left, int64(n/6+1)))
	if cap(elems)-len(elems) >= need {
		return elems
	}
	grown := make([][]byte, len(elems), max(2*cap(elems), len(elems)+need))
	copy(grown, elems)
	return grown
}

// take moves an incomplete request's new complete elements (aliasing buf)
// and its element in progress into r, and returns the bytes of buf taken:
// all of them, or those before an incomplete header line.
func (r *Reader) take(buf []byte, st stop, elems [][]byte) int {
	for _, e := range elems {
		r.args = append(r.args, r.keep(e)) // may write the slot e was read from: fine
	}
	r.left = st.left
	if st.body < 0 {
		r.inBody = false
		r.held += st.pos
		return st.pos
	}
	r.inBody = true
	r.cur = r.reserve(st.blen)
	got := int(min(int64(len(buf)-st.body), st.blen))
	r.cur = append(r.cur, buf[st.body:st.body+got]...)
	r.skip = 2 - (len(buf) - st.body - got) // incomplete: fewer than blen+2 bytes were there
	r.held += len(buf)
	return len(buf)
}

// keep copies b into the arena.
func (r *Reader) keep(b []byte) []byte {
	s := r.room(len(b))
	r.arena = append(r.arena, b...)
	return r.arena[s:len(r.arena):len(r.arena)]
}

// reserve returns an empty buffer of capacity l for an element's payload:
// its own allocation for a big one, else room in the arena.
func (r *Reader) reserve(l int64) []byte {
	if l >= bigArg {
		return make([]byte, 0, l)
	}
	n := int(l)
	s := r.room(n)
	r.arena = r.arena[:s+n]
	return r.arena[s : s : s+n]
}

// room makes the arena chunk fit n more bytes and returns its length.
// Chunks start small and double up to arenaChunk, so a request split once
// costs little.
func (r *Reader) room(n int) int {
	if cap(r.arena)-len(r.arena) < n {
		r.arena = make([]byte, 0, max(n, min(arenaChunk, 2*cap(r.arena)), 512))
	}
	return len(r.arena)
}
