package core

import (
	"strconv"
	"strings"

	"github.com/dorivo/dorivo/datapath/command"
	"github.com/dorivo/dorivo/datapath/resp"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// scanRanges returns, for a table of ascending contiguous ranges (as
// slot.NewTable builds), each loop's first slot after its range as a SCAN
// cursor (slot<<32), 0 for the last; nil for any other table.
func scanRanges(t *slot.Table, loops int) []uint64 {
	next := make([]uint64, loops)
	for s := 1; s < slot.Count; s++ {
		a, b := t[s-1], t[s]
		switch {
		case b == a:
		case b > a && next[a] == 0:
			next[a] = uint64(s) << 32
		default:
			return nil
		}
	}
	return next
}

// scanRoute says where SCAN args runs: the owner of the cursor's slot and
// the cursor to continue from when that loop is done. ok is false when SCAN
// should simply run locally (no ranges, unparsable cursor: local gives the
// error).
func (l *Loop) scanRoute(args [][]byte) (owner int, next uint64, ok bool) {
	if l.scanNext == nil || len(args) < 2 {
		return 0, 0, false
	}
	c, err := strconv.ParseUint(string(args[1]), 10, 64)
	if err != nil || c>>32 >= uint64(slot.Count) {
		return 0, 0, false
	}
	o := l.cfg.Table.Owner(uint16(c >> 32))
	return o, l.scanNext[o], true
}

// SCAN across loops. A cursor is slot<<32|position, so it names the loop
// owning its slot; that loop scans its own range. When it reaches the end
// of its range with fewer keys than COUNT, the iteration goes on at the
// next loop's first slot, until COUNT keys or the last loop: a SCAN 0 over
// one key returns it, with cursor 0, as Redis does. The page grows in the
// reply slot. A continuation needs a request slot to the next loop; with
// none free, or for a session that must travel with its request (not
// plain), the reply stops early with the next loop's first slot as its
// cursor, which SCAN's contract allows.

// scanState is one SCAN's progress over the loops.
type scanState struct {
	args  [][]byte // SCAN <cursor> [options...] COUNT <n>, owned
	own   []byte
	count int64 // keys wanted (COUNT, default 10)
	next  uint64
}

// scan starts SCAN r on loop o, the owner of its cursor's slot; next is
// the cursor of the loop after o (0: o is the last).
func (l *Loop) scan(tc *Conn, r command.Req, o int, next uint64) bool {
	if o != l.idx && !l.room(o, packedLen(r.Args)+32) {
		return false
	}
	st := newScanState(r.Args, next)
	if st == nil { // a bad COUNT: the local SCAN replies the error
		l.execLocal(tc, r)
		return true
	}
	seq := tc.tail
	e := tc.push(mergeScan, 1)
	e.n, e.buf, e.scan = 0, e.buf[:0], st
	l.scanOn(tc, seq, o, r.Args[1])
	return true
}

func newScanState(args [][]byte, next uint64) *scanState {
	st := &scanState{count: 10, next: next}
	var rest [][]byte
	for i := 2; i < len(args); i += 2 {
		if i+1 == len(args) {
			return nil // a malformed option: the command's own error
		}
		if strings.EqualFold(string(args[i]), "count") {
			n, err := strconv.ParseInt(string(args[i+1]), 10, 64)
			if err != nil || n < 1 {
				return nil
			}
			st.count = n
			continue
		}
		rest = append(rest, args[i], args[i+1])
	}
	st.args = append([][]byte{[]byte("SCAN"), nil}, rest...)
	st.args = append(st.args, []byte("COUNT"), nil)
	for i, a := range st.args {
		st.args[i] = append([]byte(nil), a...)
	}
	return st
}

// scanOn runs the scan of tc's reply slot seq from cursor on loop o, asking
// for the keys still missing.
func (l *Loop) scanOn(tc *Conn, seq uint64, o int, cursor []byte) {
	e := tc.slot(seq)
	st := e.scan
	st.args[1] = append(st.args[1][:0], cursor...)
	st.args[len(st.args)-1] = strconv.AppendInt(st.args[len(st.args)-1][:0], st.count-e.n, 10)
	r := command.Resolve(st.args)
	if o == l.idx {
		l.scanPart(tc, seq, l.exec(tc.sess, r).b)
		return
	}
	l.sendReq(tc, o, seq, r, !l.plain(tc.sess), nil)
	if !l.plain(tc.sess) {
		tc.handoff = true
	}
}

// scanPart takes one loop's SCAN reply b into tc's reply slot seq, and
// either goes on at the next loop or completes the reply.
func (l *Loop) scanPart(tc *Conn, seq uint64, b []byte) {
	e := tc.slot(seq)
	st := e.scan
	cursor, n, elems, ok := parseScanReply(b)
	if !ok { // an error: it is the reply, unless keys were found already
		if e.n == 0 {
			e.buf = append(e.buf[:0], b...)
			e.done, e.scan = true, nil
			return
		}
		cursor, n, elems = 0, 0, nil
	}
	e.n += n
	e.buf = append(e.buf, elems...)
	if cursor == 0 && st.next != 0 && e.n < st.count {
		o := l.cfg.Table.Owner(uint16(st.next >> 32))
		if o == l.idx || (l.plain(tc.sess) && l.room(o, packedLen(st.args)+32)) {
			next := st.next
			st.next = l.scanNext[o]
			l.scanOn(tc, seq, o, strconv.AppendUint(l.scratch[:0], next, 10))
			return
		}
	}
	if cursor == 0 {
		cursor = st.next
	}
	c := strconv.AppendUint(nil, cursor, 10)
	body := append([]byte(nil), e.buf...)
	out := resp.AppendArray(e.buf[:0], 2)
	out = resp.AppendBulk(out, c)
	out = resp.AppendArray(out, int(e.n))
	e.buf = append(out, body...)
	e.done, e.scan = true, nil
	l.touch(tc)
}

// parseScanReply splits a SCAN reply: *2, the cursor, *n and the keys.
func parseScanReply(b []byte) (cursor uint64, n int64, elems []byte, ok bool) {
	cnt, rest, ok := parseArrayHeader(b)
	if !ok || cnt != 2 || len(rest) < 4 || rest[0] != '$' {
		return 0, 0, nil, false
	}
	bl := bulkLen(rest)
	i := strings.IndexByte(string(rest[:bl]), '\n')
	cursor, err := strconv.ParseUint(string(rest[i+1:bl-2]), 10, 64)
	if err != nil {
		return 0, 0, nil, false
	}
	n, elems, ok = parseArrayHeader(rest[bl:])
	return cursor, n, elems, ok
}
