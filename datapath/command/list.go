package command

import (
	"math"

	"github.com/dorivo/dorivo/shardstore/collection"
	"github.com/dorivo/dorivo/shardstore/keyspace"
)

const listCat = CatList

func init() {
	def(nil, "lpush", -3, Write|DenyOOM|Fast, listCat, 1, 1, 1, pushCmd)
	def(nil, "rpush", -3, Write|DenyOOM|Fast, listCat, 1, 1, 1, pushCmd)
	def(nil, "lpushx", -3, Write|DenyOOM|Fast, listCat, 1, 1, 1, pushCmd)
	def(nil, "rpushx", -3, Write|DenyOOM|Fast, listCat, 1, 1, 1, pushCmd)
	def(nil, "lpop", -2, Write|Fast, listCat, 1, 1, 1, popCmd)
	def(nil, "rpop", -2, Write|Fast, listCat, 1, 1, 1, popCmd)
	def(nil, "llen", 2, ReadOnly|Fast, listCat, 1, 1, 1, llenCmd)
	def(nil, "lrange", 4, ReadOnly, listCat, 1, 1, 1, lrangeCmd)
	def(nil, "lindex", 3, ReadOnly, listCat, 1, 1, 1, lindexCmd)
	def(nil, "lset", 4, Write|DenyOOM, listCat, 1, 1, 1, lsetCmd)
	def(nil, "linsert", 5, Write|DenyOOM, listCat, 1, 1, 1, linsertCmd)
	def(nil, "lrem", 4, Write, listCat, 1, 1, 1, lremCmd)
	def(nil, "ltrim", 4, Write, listCat, 1, 1, 1, ltrimCmd)
	def(nil, "lpos", -3, ReadOnly, listCat, 1, 1, 1, lposCmd)
	def(nil, "lmove", 5, Write|DenyOOM, listCat, 1, 2, 1, lmoveCmd)
	def(nil, "rpoplpush", 3, Write|DenyOOM, listCat, 1, 2, 1, lmoveCmd)
	def(nil, "lmpop", -4, Write, listCat, 0, 0, 0, lmpopCmd).numKeysAt(1)
}

// list returns key's list (nil when missing); ok is false after WRONGTYPE.
func (c *call) list(key []byte) (*keyspace.Coll, *collection.List, bool) {
	co, ok := c.coll(key, keyspace.KindList)
	if co == nil {
		return nil, nil, ok
	}
	return co, co.V.(*collection.List), true
}

// push adds vals to key's list l at one end and records it.
func (c *call) push(key []byte, co *keyspace.Coll, l *collection.List, left bool, vals [][]byte) {
	for _, v := range vals {
		if left {
			l.PushLeft(v)
		} else {
			l.PushRight(v)
		}
	}
	c.recs(key, collection.ListPush(key, &co.Meta, left, vals)...)
}

// pop removes up to n elements from one end of key's list and records it.
func (c *call) pop(key []byte, co *keyspace.Coll, l *collection.List, left bool, n int) []string {
	n = min(n, l.Len())
	out := make([]string, 0, n)
	for range n {
		var v string
		if left {
			v, _ = l.PopLeft()
		} else {
			v, _ = l.PopRight()
		}
		out = append(out, v)
	}
	c.recs(key, collection.ListPop(key, &co.Meta, left, n)...)
	return out
}

func pushCmd(c *call) {
	key := c.args[1]
	name := c.cmd.Name
	co, l, ok := c.list(key)
	if !ok {
		return
	}
	if co == nil {
		if name[len(name)-1] == 'x' {
			c.int(0)
			return
		}
		co = c.newColl(key, collection.TypeList)
		l = co.V.(*collection.List)
	}
	c.push(key, co, l, name[0] == 'l', c.args[2:])
	c.changed(key, co)
	c.int(int64(l.Len()))
}

func popCmd(c *call) {
	key := c.args[1]
	if len(c.args) > 3 {
		c.err(arityError(c.cmd))
		return
	}
	withCount := len(c.args) == 3
	count := int64(1)
	if withCount {
		n, ok := intArg(c.args[2])
		if !ok || n < 0 {
			c.err("ERR value is out of range, must be positive")
			return
		}
		count = n
	}
	co, l, ok := c.list(key)
	switch {
	case !ok:
		return
	case l == nil && withCount:
		c.nilArray3()
		return
	case l == nil:
		c.nil3()
		return
	case withCount && count == 0:
		c.array(0)
		return
	}
	out := c.pop(key, co, l, c.cmd.Name == "lpop", int(min(count, math.MaxInt32)))
	c.changed(key, co)
	if withCount {
		c.bulks(out)
	} else {
		c.bulkStr(out[0])
	}
}

func llenCmd(c *call) {
	if _, l, ok := c.list(c.args[1]); ok {
		if l == nil {
			c.int(0)
		} else {
			c.int(int64(l.Len()))
		}
	}
}

// clampIndex narrows a list index to int without changing its meaning.
func clampIndex(n int64) int { return int(max(min(n, math.MaxInt32*2), -math.MaxInt32*2)) }

func lrangeCmd(c *call) {
	start, ok1 := intArg(c.args[2])
	stop, ok2 := intArg(c.args[3])
	if !ok1 || !ok2 {
		c.err(errNotInt)
		return
	}
	_, l, ok := c.list(c.args[1])
	if !ok {
		return
	}
	if l == nil {
		c.array(0)
		return
	}
	c.bulks(l.Range(clampIndex(start), clampIndex(stop)))
}

func lindexCmd(c *call) {
	_, l, ok := c.list(c.args[1])
	if !ok {
		return
	}
	if l == nil {
		c.nil3()
		return
	}
	i, ok := intArg(c.args[2])
	if !ok {
		c.err(errNotInt)
		return
	}
	if v, found := l.Index(clampIndex(i)); found {
		c.bulkStr(v)
	} else {
		c.nil3()
	}
}

func lsetCmd(c *call) {
	key := c.args[1]
	co, l, ok := c.list(key)
	if !ok {
		return
	}
	if l == nil {
		c.err("ERR no such key")
		return
	}
	i, ok := intArg(c.args[2])
	if !ok {
		c.err(errNotInt)
		return
	}
	idx := clampIndex(i)
	if idx < 0 {
		idx += l.Len()
	}
	if !l.SetIndex(clampIndex(i), c.args[3]) {
		c.err("ERR index out of range")
		return
	}
	c.recs(key, collection.ListSet(key, &co.Meta, idx, c.args[3])...)
	c.changed(key, co)
	c.ok()
}

// rewrite records a change of key's list from index from on.
func (c *call) rewrite(key []byte, co *keyspace.Coll, l *collection.List, from int) {
	c.recs(key, collection.ListRewrite(key, &co.Meta, from, l.Range(from, -1))...)
	c.changed(key, co)
}

func linsertCmd(c *call) {
	var before bool
	switch {
	case eq(c.args[2], "before"):
		before = true
	case eq(c.args[2], "after"):
	default:
		c.err(errSyntax)
		return
	}
	key := c.args[1]
	co, l, ok := c.list(key)
	if !ok {
		return
	}
	if l == nil {
		c.int(0)
		return
	}
	at := l.Insert(before, c.args[3], c.args[4])
	if at < 0 {
		c.int(-1)
		return
	}
	c.rewrite(key, co, l, at)
	c.int(int64(l.Len()))
}

func lremCmd(c *call) {
	count, ok := intArg(c.args[2])
	if !ok {
		c.err(errNotInt)
		return
	}
	key := c.args[1]
	co, l, ok := c.list(key)
	if !ok {
		return
	}
	if l == nil {
		c.int(0)
		return
	}
	removed, first := l.Remove(int(max(min(count, math.MaxInt32), -math.MaxInt32)), c.args[3])
	if removed > 0 {
		c.rewrite(key, co, l, first)
	}
	c.int(int64(removed))
}

func ltrimCmd(c *call) {
	start, ok1 := intArg(c.args[2])
	stop, ok2 := intArg(c.args[3])
	if !ok1 || !ok2 {
		c.err(errNotInt)
		return
	}
	key := c.args[1]
	co, l, ok := c.list(key)
	if !ok {
		return
	}
	if l == nil {
		c.ok()
		return
	}
	n := l.Len()
	lo, hi, nonEmpty := collection.RangeBounds(clampIndex(start), clampIndex(stop), n)
	if !nonEmpty {
		lo, hi = n, n-1
	}
	if lo > 0 {
		c.pop(key, co, l, true, lo)
	}
	if right := n - 1 - hi; right > 0 && l.Len() > 0 {
		c.pop(key, co, l, false, right)
	}
	c.changed(key, co)
	c.ok()
}

func lposCmd(c *call) {
	rank, count, maxlen := int64(1), int64(-1), int64(0)
	for j := 3; j < len(c.args); j++ {
		a, more := c.args[j], j < len(c.args)-1
		switch {
		case eq(a, "rank") && more:
			j++
			v, ok := intArg(c.args[j])
			if !ok {
				c.err(errNotInt)
				return
			}
			if v == 0 {
				c.err("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list")
				return
			}
			if v == math.MinInt64 {
				v = -1 // Redis negates it into itself: every match from the tail counts
			}
			rank = v
		case eq(a, "count") && more:
			j++
			v, ok := intArg(c.args[j])
			if !ok || v < 0 {
				c.err("ERR COUNT can't be negative")
				return
			}
			count = v
		case eq(a, "maxlen") && more:
			j++
			v, ok := intArg(c.args[j])
			if !ok || v < 0 {
				c.err("ERR MAXLEN can't be negative")
				return
			}
			maxlen = v
		default:
			c.err(errSyntax)
			return
		}
	}
	_, l, ok := c.list(c.args[1])
	if !ok {
		return
	}
	want := int(min(max(count, 0), math.MaxInt32))
	if count < 0 {
		want = 1
	}
	var pos []int
	if l != nil {
		pos = l.Pos(c.args[2], int(max(min(rank, math.MaxInt32), -math.MaxInt32)), want, int(min(maxlen, math.MaxInt32)))
	}
	if count < 0 {
		if len(pos) == 0 {
			c.nil3()
		} else {
			c.int(int64(pos[0]))
		}
		return
	}
	c.array(len(pos))
	for _, p := range pos {
		c.int(int64(p))
	}
}

// end parses LEFT or RIGHT.
func end(b []byte) (left, ok bool) {
	switch {
	case eq(b, "left"):
		return true, true
	case eq(b, "right"):
		return false, true
	}
	return false, false
}

func lmoveCmd(c *call) {
	from, to := false, true // RPOPLPUSH
	if c.cmd.Name == "lmove" {
		var ok1, ok2 bool
		from, ok1 = end(c.args[3])
		to, ok2 = end(c.args[4])
		if !ok1 || !ok2 {
			c.err(errSyntax)
			return
		}
	}
	if v, ok := c.lmove(c.args[1], c.args[2], from, to); ok {
		c.bulkStr(v)
	}
}

// lmove pops from one end of src and pushes onto one end of dst, as
// Redis's lmoveGenericCommand; ok is false after replying (nil when src
// is missing, or WRONGTYPE).
func (c *call) lmove(src, dst []byte, fromLeft, toLeft bool) (string, bool) {
	sco, sl, ok := c.list(src)
	if !ok {
		return "", false
	}
	if sl == nil {
		c.nil3()
		return "", false
	}
	dco, dl, ok := c.list(dst)
	if !ok {
		return "", false
	}
	v := c.pop(src, sco, sl, fromLeft, 1)[0]
	if string(src) == string(dst) {
		dco, dl = sco, sl
	} else {
		c.changed(src, sco)
		if dco == nil {
			dco = c.newColl(dst, collection.TypeList)
			dl = dco.V.(*collection.List)
		}
	}
	c.push(dst, dco, dl, toLeft, [][]byte{[]byte(v)})
	c.changed(dst, dco)
	return v, true
}

// lmpopCmd is LMPOP numkeys key... LEFT|RIGHT [COUNT n].
func lmpopCmd(c *call) {
	keys, left, count, ok := c.mpopArgs(end)
	if !ok {
		return
	}
	for _, key := range keys {
		co, l, ok := c.list(key)
		if !ok {
			return
		}
		if l == nil {
			continue
		}
		out := c.pop(key, co, l, left, count)
		c.changed(key, co)
		c.array(2)
		c.bulk(key)
		c.bulks(out)
		return
	}
	c.nilArray3()
}

// mpopArgs parses LMPOP's and ZMPOP's numkeys, keys, direction (by dir)
// and COUNT; ok is false after replying.
func (c *call) mpopArgs(dir func([]byte) (bool, bool)) (keys [][]byte, first bool, count int, ok bool) {
	nk, ok := intArg(c.args[1])
	if !ok || nk < 1 {
		c.err("ERR numkeys should be greater than 0")
		return nil, false, 0, false
	}
	if nk > int64(len(c.args)-3) {
		c.err(errSyntax)
		return nil, false, 0, false
	}
	keys = c.args[2 : 2+nk]
	rest := c.args[2+nk:]
	if first, ok = dir(rest[0]); !ok {
		c.err(errSyntax)
		return nil, false, 0, false
	}
	count = 1
	switch {
	case len(rest) == 3 && eq(rest[1], "count"):
		v, ok := intArg(rest[2])
		if !ok || v <= 0 {
			c.err("ERR count should be greater than 0")
			return nil, false, 0, false
		}
		count = int(min(v, math.MaxInt32))
	case len(rest) != 1:
		c.err(errSyntax)
		return nil, false, 0, false
	}
	return keys, first, count, true
}
