package command

import (
	"math"

	"github.com/dorivo/dorivo/datapath/resp"
	"github.com/dorivo/dorivo/shardstore/keyspace"
)

// Blocking commands (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN,
// BZPOPMAX, BZMPOP). One that finds something to pop replies as its
// non-blocking form. One that finds nothing writes no reply and leaves a
// Block in the session: the server parks the request, without blocking
// its loop, runs it again whenever one of Block.Keys is written, and
// replies Block.TimeoutReply once Block.Deadline passes. Inside EXEC, or
// where the server cannot park, the command replies as on a timeout at
// once, as Redis does for a client that may not block.

// Block is a blocking command's wait.
type Block struct {
	Keys         [][]byte      // the keys whose writes may serve it (alias the request)
	Kind         keyspace.Kind // the kind a key must hold to serve it
	Deadline     int64         // unix ms; 0 blocks forever
	TimeoutReply []byte
}

// TakeBlock returns and clears the Block the last command left, if any.
func (s *Session) TakeBlock() (*Block, bool) {
	b := s.block
	s.block = nil
	return b, b != nil
}

func init() {
	def(nil, "blpop", -3, Write|Blocking|NoScript, listCat, 1, -2, 1, blpopCmd)
	def(nil, "brpop", -3, Write|Blocking|NoScript, listCat, 1, -2, 1, blpopCmd)
	def(nil, "blmove", 6, Write|DenyOOM|Blocking|NoScript, listCat, 1, 2, 1, blmoveCmd)
	def(nil, "brpoplpush", 4, Write|DenyOOM|Blocking|NoScript, listCat, 1, 2, 1, blmoveCmd)
	def(nil, "blmpop", -5, Write|Blocking, listCat, 0, 0, 0, blmpopCmd).numKeysAt(2)
	def(nil, "bzpopmin", -3, Write|Fast|Blocking|NoScript, zsetCat, 1, -2, 1, bzpopCmd)
	def(nil, "bzpopmax", -3, Write|Fast|Blocking|NoScript, zsetCat, 1, -2, 1, bzpopCmd)
	def(nil, "bzmpop", -5, Write|Blocking, zsetCat, 0, 0, 0, bzmpopCmd).numKeysAt(2)
}

// timeout parses a blocking command's timeout in seconds (a float) into
// an absolute deadline, 0 for none, as Redis's getTimeoutFromObjectOrReply.
func (c *call) timeout(arg []byte) (int64, bool) {
	ld, ok := parseLongDouble(arg) // strtold's syntax: hex floats too
	if !ok {
		c.err("ERR timeout is not a float or out of range")
		return 0, false
	}
	f := math.Inf(1)
	if !ld.inf && ld.f != nil {
		f, _ = ld.f.Float64()
	} else if !ld.inf {
		f = 0
	}
	ms := math.Ceil(f * 1000)
	if ms >= math.MaxInt64 {
		ms = -1 // Redis's cast to long long wraps to LLONG_MIN
	}
	if ms < 0 {
		c.err("ERR timeout is negative")
		return 0, false
	}
	if int64(ms) > math.MaxInt64-c.now {
		c.err("ERR timeout is out of range")
		return 0, false
	}
	if ms == 0 {
		return 0, true
	}
	return c.now + int64(ms), true
}

// block leaves the session's Block, or replies the timeout at once where
// the command may not block.
func (c *call) block(keys [][]byte, k keyspace.Kind, deadline int64, timeoutReply []byte) {
	c.blockOr(keys, k, deadline, timeoutReply, timeoutReply)
}

// blockOr is block with a reply of its own where the command may not
// block (BLMOVE: a nil string, where its timeout is a nil array).
func (c *call) blockOr(keys [][]byte, k keyspace.Kind, deadline int64, now, timeoutReply []byte) {
	if !c.mayBlock {
		c.dst = append(c.dst, now...)
		return
	}
	c.s.block = &Block{Keys: keys, Kind: k, Deadline: deadline, TimeoutReply: timeoutReply}
}

func (c *call) nilArrayBytes() []byte { return resp.AppendNilArray(nil, c.s.resp3) }

func blpopCmd(c *call) {
	deadline, ok := c.timeout(c.args[len(c.args)-1])
	if !ok {
		return
	}
	keys := c.args[1 : len(c.args)-1]
	for _, key := range keys {
		co, l, ok := c.list(key)
		if !ok {
			return
		}
		if l != nil {
			v := c.pop(key, co, l, c.cmd.Name == "blpop", 1)[0]
			c.changed(key, co)
			c.array(2)
			c.bulk(key)
			c.bulkStr(v)
			return
		}
	}
	c.block(keys, keyspace.KindList, deadline, c.nilArrayBytes())
}

func blmoveCmd(c *call) {
	from, to := false, true // BRPOPLPUSH
	targ := 3
	if c.cmd.Name == "blmove" {
		var ok1, ok2 bool
		from, ok1 = end(c.args[3])
		to, ok2 = end(c.args[4])
		if !ok1 || !ok2 {
			c.err(errSyntax)
			return
		}
		targ = 5
	}
	deadline, ok := c.timeout(c.args[targ])
	if !ok {
		return
	}
	src := c.args[1]
	if _, l, ok := c.list(src); !ok {
		return
	} else if l == nil {
		// Redis 7.0 times BLMOVE out with a nil array, but replies a nil
		// string where it may not block.
		c.blockOr(c.args[1:2], keyspace.KindList, deadline, resp.AppendNil(nil, c.s.resp3), c.nilArrayBytes())
		return
	}
	if v, ok := c.lmove(src, c.args[2], from, to); ok {
		c.bulkStr(v)
	}
}

func blmpopCmd(c *call) {
	deadline, ok := c.timeout(c.args[1])
	if !ok {
		return
	}
	// LMPOP's parser on the arguments after the timeout.
	c.args = c.args[1:]
	keys, left, count, ok := c.mpopArgs(end)
	if !ok {
		return
	}
	for _, key := range keys {
		co, l, ok := c.list(key)
		if !ok {
			return
		}
		if l != nil {
			out := c.pop(key, co, l, left, count)
			c.changed(key, co)
			c.array(2)
			c.bulk(key)
			c.bulks(out)
			return
		}
	}
	c.block(keys, keyspace.KindList, deadline, c.nilArrayBytes())
}

func bzpopCmd(c *call) {
	deadline, ok := c.timeout(c.args[len(c.args)-1])
	if !ok {
		return
	}
	keys := c.args[1 : len(c.args)-1]
	for _, key := range keys {
		co, z, ok := c.zset(key)
		if !ok {
			return
		}
		if z != nil {
			es := z.RangeByRank(0, 0, c.cmd.Name == "bzpopmax")
			c.zremove(key, co, z, es)
			c.array(3)
			c.bulk(key)
			c.bulkStr(es[0].Member)
			c.double(es[0].Score)
			return
		}
	}
	c.block(keys, keyspace.KindZSet, deadline, c.nilArrayBytes())
}

func bzmpopCmd(c *call) {
	deadline, ok := c.timeout(c.args[1])
	if !ok {
		return
	}
	c.args = c.args[1:]
	keys, min_, count, ok := c.mpopArgs(zsetEnd)
	if !ok {
		return
	}
	for _, key := range keys {
		co, z, ok := c.zset(key)
		if !ok {
			return
		}
		if z != nil {
			es := z.RangeByRank(0, count-1, !min_)
			c.zremove(key, co, z, es)
			c.array(2)
			c.bulk(key)
			c.array(len(es))
			for _, e := range es {
				c.array(2)
				c.bulkStr(e.Member)
				c.double(e.Score)
			}
			return
		}
	}
	c.block(keys, keyspace.KindZSet, deadline, c.nilArrayBytes())
}
