package core

import (
	"strconv"

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
