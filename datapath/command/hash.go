package command

import (
	"math"
	"math/rand/v2"
	"strconv"

	"github.com/dorivo/dorivo/shardstore/collection"
	"github.com/dorivo/dorivo/shardstore/keyspace"
)

const (
	hashCat = CatHash
	setCat  = CatSet
)

func init() {
	def(nil, "hset", -4, Write|DenyOOM|Fast, hashCat, 1, 1, 1, hsetCmd)
	def(nil, "hmset", -4, Write|DenyOOM|Fast, hashCat, 1, 1, 1, hsetCmd)
	def(nil, "hsetnx", 4, Write|DenyOOM|Fast, hashCat, 1, 1, 1, hsetnxCmd)
	def(nil, "hget", 3, ReadOnly|Fast, hashCat, 1, 1, 1, hgetCmd)
	def(nil, "hmget", -3, ReadOnly|Fast, hashCat, 1, 1, 1, hmgetCmd)
	def(nil, "hdel", -3, Write|Fast, hashCat, 1, 1, 1, hdelCmd)
	def(nil, "hexists", 3, ReadOnly|Fast, hashCat, 1, 1, 1, hexistsCmd)
	def(nil, "hlen", 2, ReadOnly|Fast, hashCat, 1, 1, 1, hlenCmd)
	def(nil, "hstrlen", 3, ReadOnly|Fast, hashCat, 1, 1, 1, hstrlenCmd)
	def(nil, "hkeys", 2, ReadOnly, hashCat, 1, 1, 1, hkeysCmd)
	def(nil, "hvals", 2, ReadOnly, hashCat, 1, 1, 1, hvalsCmd)
	def(nil, "hgetall", 2, ReadOnly, hashCat, 1, 1, 1, hgetallCmd)
	def(nil, "hincrby", 4, Write|DenyOOM|Fast, hashCat, 1, 1, 1, hincrbyCmd)
	def(nil, "hincrbyfloat", 4, Write|DenyOOM|Fast, hashCat, 1, 1, 1, hincrbyfloatCmd)
	def(nil, "hrandfield", -2, ReadOnly, hashCat, 1, 1, 1, hrandfieldCmd)
	def(nil, "hscan", -3, ReadOnly, hashCat, 1, 1, 1, hscanCmd)
}

// hash returns key's hash (nil when missing); ok is false after WRONGTYPE.
func (c *call) hash(key []byte) (*keyspace.Coll, *collection.Hash, bool) {
	co, ok := c.coll(key, keyspace.KindHash)
	if co == nil {
		return nil, nil, ok
	}
	return co, co.V.(*collection.Hash), true
}

// hashWrite returns key's hash, created when missing.
func (c *call) hashWrite(key []byte) (*keyspace.Coll, *collection.Hash, bool) {
	co, h, ok := c.hash(key)
	if !ok || co != nil {
		return co, h, ok
	}
	co = c.newColl(key, collection.TypeHash)
	return co, co.V.(*collection.Hash), true
}

// hset sets field to value in key's hash h and records it.
func (c *call) hset(key []byte, co *keyspace.Coll, h *collection.Hash, field, value []byte) bool {
	created := h.Set(field, value)
	c.recs(key, collection.HashSet(key, &co.Meta, h, field, created)...)
	return created
}

func hsetCmd(c *call) {
	if len(c.args)%2 != 0 {
		c.err(arityError(c.cmd))
		return
	}
	key := c.args[1]
	co, h, ok := c.hashWrite(key)
	if !ok {
		return
	}
	n := int64(0)
	for i := 2; i < len(c.args); i += 2 {
		if c.hset(key, co, h, c.args[i], c.args[i+1]) {
			n++
		}
	}
	c.changed(key, co)
	if c.cmd.Name == "hmset" {
		c.ok()
	} else {
		c.int(n)
	}
}

func hsetnxCmd(c *call) {
	key := c.args[1]
	co, h, ok := c.hashWrite(key)
	if !ok {
		return
	}
	if _, had := h.Get(c.args[2]); had {
		c.int(0)
		return
	}
	c.hset(key, co, h, c.args[2], c.args[3])
	c.changed(key, co)
	c.int(1)
}

func hgetCmd(c *call) {
	_, h, ok := c.hash(c.args[1])
	if !ok {
		return
	}
	if h == nil {
		c.nil3()
		return
	}
	if v, found := h.Get(c.args[2]); found {
		c.bulkStr(v)
	} else {
		c.nil3()
	}
}

func hmgetCmd(c *call) {
	_, h, ok := c.hash(c.args[1])
	if !ok {
		return
	}
	c.array(len(c.args) - 2)
	for _, f := range c.args[2:] {
		if h == nil {
			c.nil3()
		} else if v, found := h.Get(f); found {
			c.bulkStr(v)
		} else {
			c.nil3()
		}
	}
}

func hdelCmd(c *call) {
	key := c.args[1]
	co, h, ok := c.hash(key)
	if !ok {
		return
	}
	n := int64(0)
	for _, f := range c.args[2:] {
		if h == nil || co.Meta.Size == 0 {
			break
		}
		if h.Delete(f) {
			c.recs(key, collection.HashDel(key, &co.Meta, f)...)
			n++
		}
	}
	if n > 0 {
		c.changed(key, co)
	}
	c.int(n)
}

func hexistsCmd(c *call) {
	_, h, ok := c.hash(c.args[1])
	if !ok {
		return
	}
	found := false
	if h != nil {
		_, found = h.Get(c.args[2])
	}
	c.int(b2i(found))
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func hlenCmd(c *call) {
	if _, h, ok := c.hash(c.args[1]); ok {
		if h == nil {
			c.int(0)
		} else {
			c.int(int64(h.Len()))
		}
	}
}

func hstrlenCmd(c *call) {
	_, h, ok := c.hash(c.args[1])
	if !ok {
		return
	}
	v := ""
	if h != nil {
		v, _ = h.Get(c.args[2])
	}
	c.int(int64(len(v)))
}

// hgetall replies the keys, the values or both (a map) of key's hash.
func (c *call) hgetall(keys, vals bool) {
	_, h, ok := c.hash(c.args[1])
	if !ok {
		return
	}
	n := 0
	if h != nil {
		n = h.Len()
	}
	if keys && vals {
		c.mapHdr(n)
	} else {
		c.array(n)
	}
	if h == nil {
		return
	}
	for f, v := range h.All() {
		if keys {
			c.bulkStr(f)
		}
		if vals {
			c.bulkStr(v)
		}
	}
}

func hkeysCmd(c *call)        { c.hgetall(true, false) }
func hvalsCmd(c *call)        { c.hgetall(false, true) }
func hgetallCmd(c *call)      { c.hgetall(true, true) }
func hincrbyCmd(c *call)      { c.hincr(false) }
func hincrbyfloatCmd(c *call) { c.hincr(true) }

// hincr is HINCRBY and HINCRBYFLOAT, as Redis 7.0's: the increment is
// parsed first, then the hash is looked up (created when missing).
func (c *call) hincr(float bool) {
	key, field := c.args[1], c.args[2]
	var incr int64
	var fincr ldouble
	if float {
		var ok bool
		if fincr, ok = parseLongDouble(c.args[3]); !ok {
			c.err(errNotFloat)
			return
		}
		if fincr.inf {
			c.err("ERR value is NaN or Infinity")
			return
		}
	} else {
		var ok bool
		if incr, ok = intArg(c.args[3]); !ok {
			c.err(errNotInt)
			return
		}
	}
	co, h, ok := c.hash(key)
	if !ok {
		return
	}
	cur, had := "", false
	if h != nil {
		cur, had = h.Get(field)
	}
	var out []byte
	if float {
		var old ldouble
		if had {
			if old, ok = parseLongDouble([]byte(cur)); !ok {
				c.err("ERR hash value is not a float")
				return
			}
		}
		sum, finite := old.add(fincr)
		if !finite {
			c.err("ERR increment would produce NaN or Infinity")
			return
		}
		out = sum.appendHuman(nil)
	} else {
		var old int64
		if had {
			if old, ok = collection.ParseInt([]byte(cur)); !ok {
				c.err("ERR hash value is not an integer")
				return
			}
		}
		if incr < 0 && old < 0 && incr < math.MinInt64-old || incr > 0 && old > 0 && incr > math.MaxInt64-old {
			c.err(errOverflow)
			return
		}
		out = strconv.AppendInt(nil, old+incr, 10)
	}
	if co == nil {
		co = c.newColl(key, collection.TypeHash)
		h = co.V.(*collection.Hash)
	}
	c.hset(key, co, h, field, out)
	c.changed(key, co)
	if float {
		c.bulk(out)
	} else {
		v, _ := strconv.ParseInt(string(out), 10, 64)
		c.int(v)
	}
}

// randCount parses the count of HRANDFIELD, SRANDMEMBER and ZRANDMEMBER:
// Redis's getRangeLongFromObjectOrReply(-LONG_MAX, LONG_MAX).
func (c *call) randCount(arg []byte) (int64, bool) {
	n, ok := intArg(arg)
	if !ok {
		c.err(errNotInt)
		return 0, false
	}
	if n == math.MinInt64 {
		c.err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
		return 0, false
	}
	return n, true
}

// rng is the random source of the random commands: the runtime's
// per-thread generator, safe from every loop.
func (c *call) rng() *rand.Rand { return sharedRand }

var sharedRand = rand.New(runtimeSource{})

type runtimeSource struct{}

func (runtimeSource) Uint64() uint64 { return rand.Uint64() }

func hrandfieldCmd(c *call) {
	if len(c.args) == 2 {
		_, h, ok := c.hash(c.args[1])
		switch {
		case !ok:
		case h == nil:
			c.nil3()
		default:
			c.bulkStr(h.Random(c.rng(), 1)[0].Field)
		}
		return
	}
	count, ok := c.randCount(c.args[2])
	if !ok {
		return
	}
	withValues := false
	switch {
	case len(c.args) > 4 || len(c.args) == 4 && !eq(c.args[3], "withvalues"):
		c.err(errSyntax)
		return
	case len(c.args) == 4:
		withValues = true
		if count < -math.MaxInt64/2 || count > math.MaxInt64/2 {
			c.err("ERR value is out of range")
			return
		}
	}
	_, h, ok := c.hash(c.args[1])
	if !ok {
		return
	}
	if h == nil || count == 0 {
		c.array(0)
		return
	}
	ps := h.Random(c.rng(), int(count))
	if withValues && !c.resp3() {
		c.array(2 * len(ps))
	} else {
		c.array(len(ps))
	}
	for _, p := range ps {
		if withValues && c.resp3() {
			c.array(2)
		}
		c.bulkStr(p.Field)
		if withValues {
			c.bulkStr(p.Value)
		}
	}
}

// scanArgs parses the MATCH and COUNT options of HSCAN, SSCAN and ZSCAN
// from args[3:], as Redis's scanGenericCommand for a key; ok is false
// after replying.
func (c *call) scanArgs() (pat []byte, count int, ok bool) {
	count = 10
	for i := 3; i < len(c.args); i += 2 {
		more := len(c.args) - i
		switch {
		case eq(c.args[i], "count") && more >= 2:
			n, ok := intArg(c.args[i+1])
			if !ok {
				c.err(errNotInt)
				return nil, 0, false
			}
			if n < 1 {
				c.err(errSyntax)
				return nil, 0, false
			}
			count = int(min(n, math.MaxInt32))
		case eq(c.args[i], "match") && more >= 2:
			pat = c.args[i+1]
			if len(pat) == 1 && pat[0] == '*' {
				pat = nil
			}
		default:
			c.err(errSyntax)
			return nil, 0, false
		}
	}
	return pat, count, true
}

// keyScan is the start of HSCAN, SSCAN and ZSCAN: the cursor, then the key
// (a missing key's reply is an empty scan), then the options. co is nil
// when the reply is written.
func (c *call) keyScan(k keyspace.Kind) (co *keyspace.Coll, cursor uint64, pat []byte, count int) {
	cursor, ok := parseCursor(c.args[2])
	if !ok {
		c.err("ERR invalid cursor")
		return nil, 0, nil, 0
	}
	co, ok = c.coll(c.args[1], k)
	if !ok {
		return nil, 0, nil, 0
	}
	if co == nil {
		c.array(2)
		c.bulkStr("0")
		c.array(0)
		return nil, 0, nil, 0
	}
	if pat, count, ok = c.scanArgs(); !ok {
		return nil, 0, nil, 0
	}
	return co, cursor, pat, count
}

// scanReply writes a key scan's reply: the next cursor and the flat
// elements.
func (c *call) scanReply(next uint64, elems []string) {
	c.array(2)
	var buf [20]byte
	c.bulk(strconv.AppendUint(buf[:0], next, 10))
	c.bulks(elems)
}

func hscanCmd(c *call) {
	co, cursor, pat, count := c.keyScan(keyspace.KindHash)
	if co == nil {
		return
	}
	var out []string
	next := co.V.(*collection.Hash).Scan(cursor, count, func(f, v string) {
		if pat == nil || Match(pat, []byte(f), false) {
			out = append(out, f, v)
		}
	})
	c.scanReply(next, out)
}
