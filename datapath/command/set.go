package command

import (
	"math"

	"github.com/dorivo/dorivo/shardstore/collection"
	"github.com/dorivo/dorivo/shardstore/keyspace"
)

func init() {
	def(nil, "sadd", -3, Write|DenyOOM|Fast, setCat, 1, 1, 1, saddCmd)
	def(nil, "srem", -3, Write|Fast, setCat, 1, 1, 1, sremCmd)
	def(nil, "sismember", 3, ReadOnly|Fast, setCat, 1, 1, 1, sismemberCmd)
	def(nil, "smismember", -3, ReadOnly|Fast, setCat, 1, 1, 1, smismemberCmd)
	def(nil, "scard", 2, ReadOnly|Fast, setCat, 1, 1, 1, scardCmd)
	def(nil, "smembers", 2, ReadOnly, setCat, 1, 1, 1, smembersCmd)
	def(nil, "srandmember", -2, ReadOnly, setCat, 1, 1, 1, srandmemberCmd)
	def(nil, "spop", -2, Write|Fast, setCat, 1, 1, 1, spopCmd)
	def(nil, "smove", 4, Write|Fast, setCat, 1, 2, 1, smoveCmd)
	def(nil, "sscan", -3, ReadOnly, setCat, 1, 1, 1, sscanCmd)
	def(nil, "sinter", -2, ReadOnly, setCat, 1, -1, 1, sinterCmd)
	def(nil, "sintercard", -3, ReadOnly, setCat, 0, 0, 0, sintercardCmd).numKeysAt(1)
	def(nil, "sunion", -2, ReadOnly, setCat, 1, -1, 1, sunionCmd)
	def(nil, "sdiff", -2, ReadOnly, setCat, 1, -1, 1, sdiffCmd)
	def(nil, "sinterstore", -3, Write|DenyOOM, setCat, 1, -1, 1, sinterCmd)
	def(nil, "sunionstore", -3, Write|DenyOOM, setCat, 1, -1, 1, sunionCmd)
	def(nil, "sdiffstore", -3, Write|DenyOOM, setCat, 1, -1, 1, sdiffCmd)
}

// set returns key's set (nil when missing); ok is false after WRONGTYPE.
func (c *call) set_(key []byte) (*keyspace.Coll, *collection.Set, bool) {
	co, ok := c.coll(key, keyspace.KindSet)
	if co == nil {
		return nil, nil, ok
	}
	return co, co.V.(*collection.Set), true
}

func saddCmd(c *call) {
	key := c.args[1]
	co, s, ok := c.set_(key)
	if !ok {
		return
	}
	if co == nil {
		co = c.newColl(key, collection.TypeSet)
		s = co.V.(*collection.Set)
	}
	n := int64(0)
	for _, m := range c.args[2:] {
		if s.Add(m) {
			c.recs(key, collection.SetAdd(key, &co.Meta, m)...)
			n++
		}
	}
	c.changed(key, co)
	c.int(n)
}

func sremCmd(c *call) {
	key := c.args[1]
	co, s, ok := c.set_(key)
	if !ok {
		return
	}
	n := int64(0)
	for _, m := range c.args[2:] {
		if s == nil || co.Meta.Size == 0 {
			break
		}
		if s.Remove(m) {
			c.recs(key, collection.SetRem(key, &co.Meta, m)...)
			n++
		}
	}
	if n > 0 {
		c.changed(key, co)
	}
	c.int(n)
}

func sismemberCmd(c *call) {
	if _, s, ok := c.set_(c.args[1]); ok {
		c.int(b2i(s != nil && s.Has(c.args[2])))
	}
}

func smismemberCmd(c *call) {
	_, s, ok := c.set_(c.args[1])
	if !ok {
		return
	}
	c.array(len(c.args) - 2)
	for _, m := range c.args[2:] {
		c.int(b2i(s != nil && s.Has(m)))
	}
}

func scardCmd(c *call) {
	if _, s, ok := c.set_(c.args[1]); ok {
		if s == nil {
			c.int(0)
		} else {
			c.int(int64(s.Len()))
		}
	}
}

func smembersCmd(c *call) {
	_, s, ok := c.set_(c.args[1])
	if !ok {
		return
	}
	if s == nil {
		c.setHdr(0)
		return
	}
	ms := s.Members()
	c.setHdr(len(ms))
	c.strs(ms)
}

func srandmemberCmd(c *call) {
	if len(c.args) > 3 {
		c.err(errSyntax)
		return
	}
	if len(c.args) == 2 {
		_, s, ok := c.set_(c.args[1])
		switch {
		case !ok:
		case s == nil:
			c.nil3()
		default:
			c.bulkStr(s.Random(c.rng(), 1)[0])
		}
		return
	}
	count, ok := c.randCount(c.args[2])
	if !ok {
		return
	}
	_, s, ok := c.set_(c.args[1])
	if !ok {
		return
	}
	if s == nil || count == 0 {
		c.array(0)
		return
	}
	c.bulks(s.Random(c.rng(), int(count)))
}

func spopCmd(c *call) {
	key := c.args[1]
	if len(c.args) > 3 {
		c.err(errSyntax)
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
	co, s, ok := c.set_(key)
	if !ok {
		return
	}
	if s == nil || withCount && count == 0 {
		if withCount {
			c.setHdr(0)
		} else {
			c.nil3()
		}
		return
	}
	popped := s.Pop(c.rng(), int(min(count, math.MaxInt32)))
	for _, m := range popped {
		c.recs(key, collection.SetRem(key, &co.Meta, []byte(m))...)
	}
	c.changed(key, co)
	if !withCount {
		c.bulkStr(popped[0])
		return
	}
	c.setHdr(len(popped))
	c.strs(popped)
}

func smoveCmd(c *call) {
	src, dst, m := c.args[1], c.args[2], c.args[3]
	if !c.ks.Exists(src, c.now) {
		c.int(0) // before any type check, as Redis's smoveCommand
		return
	}
	sco, ss, ok := c.set_(src)
	if !ok {
		return
	}
	dco, ds, ok := c.set_(dst)
	if !ok {
		return
	}
	if string(src) == string(dst) {
		c.int(b2i(ss.Has(m)))
		return
	}
	if !ss.Remove(m) {
		c.int(0)
		return
	}
	c.recs(src, collection.SetRem(src, &sco.Meta, m)...)
	c.changed(src, sco)
	if dco == nil {
		dco = c.newColl(dst, collection.TypeSet)
		ds = dco.V.(*collection.Set)
	}
	if ds.Add(m) {
		c.recs(dst, collection.SetAdd(dst, &dco.Meta, m)...)
	}
	c.changed(dst, dco)
	c.int(1)
}

func sscanCmd(c *call) {
	co, cursor, pat, count := c.keyScan(keyspace.KindSet)
	if co == nil {
		return
	}
	var out []string
	next := co.V.(*collection.Set).Scan(cursor, count, func(m string) {
		if pat == nil || Match(pat, []byte(m), false) {
			out = append(out, m)
		}
	})
	c.scanReply(next, out)
}

// sets returns the sets of keys (nil for a missing key); ok is false after
// WRONGTYPE.
func (c *call) sets(keys [][]byte) ([]*collection.Set, bool) {
	out := make([]*collection.Set, len(keys))
	for i, k := range keys {
		_, s, ok := c.set_(k)
		if !ok {
			return nil, false
		}
		out[i] = s
	}
	return out, true
}

// setAlgebra runs SINTER, SUNION, SDIFF and their STORE forms: op gives
// the result's members.
func (c *call) setAlgebra(op func([]*collection.Set) []string) {
	store := len(c.cmd.Name) > 5 && c.cmd.Name[len(c.cmd.Name)-5:] == "store"
	keys := c.args[1:]
	if store {
		keys = c.args[2:]
	}
	sets, ok := c.sets(keys)
	if !ok {
		return
	}
	ms := op(sets)
	if !store {
		c.setHdr(len(ms))
		c.strs(ms)
		return
	}
	c.storeSet(c.args[1], ms)
	c.int(int64(len(ms)))
}

// storeSet replaces dst, of any kind, with a new set of ms (deleting it
// when ms is empty): a new version, so the old elements need no deletes.
func (c *call) storeSet(dst []byte, ms []string) {
	c.delKey(dst)
	if len(ms) == 0 {
		return
	}
	co := c.newColl(dst, collection.TypeSet)
	s := co.V.(*collection.Set)
	for _, m := range ms {
		if s.Add([]byte(m)) {
			c.recs(dst, collection.SetAdd(dst, &co.Meta, []byte(m))...)
		}
	}
	c.changed(dst, co)
}

func sinterCmd(c *call) {
	c.setAlgebra(func(s []*collection.Set) []string { return collection.Inter(s, 0) })
}

func sunionCmd(c *call) {
	c.setAlgebra(func(s []*collection.Set) []string { return collection.Union(s).Members() })
}

func sdiffCmd(c *call) {
	c.setAlgebra(func(s []*collection.Set) []string { return collection.Diff(s).Members() })
}

// numKeys parses a numkeys argument (SINTERCARD, ZUNION, LMPOP, ...) at
// args[i]: at least 1 and no more than the arguments left; ok is false
// after replying.
func (c *call) numKeys(i int, msg string) (int, bool) {
	n, ok := intArg(c.args[i])
	if !ok || n <= 0 {
		c.err(msg)
		return 0, false
	}
	if n > int64(len(c.args)-i-1) {
		c.err("ERR Number of keys can't be greater than number of args")
		return 0, false
	}
	return int(n), true
}

func sintercardCmd(c *call) {
	n, ok := c.numKeys(1, "ERR numkeys should be greater than 0")
	if !ok {
		return
	}
	limit := int64(0)
	for i := 2 + n; i < len(c.args); i += 2 {
		if eq(c.args[i], "limit") && i+1 < len(c.args) {
			l, ok := intArg(c.args[i+1])
			if !ok || l < 0 {
				c.err("ERR LIMIT can't be negative")
				return
			}
			limit = l
		} else {
			c.err(errSyntax)
			return
		}
	}
	sets, ok := c.sets(c.args[2 : 2+n])
	if !ok {
		return
	}
	c.int(int64(len(collection.Inter(sets, int(min(limit, math.MaxInt32))))))
}
