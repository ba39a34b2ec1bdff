package command

import (
	"errors"
	"math"

	"github.com/dorivo/dorivo/shardstore/collection"
	"github.com/dorivo/dorivo/shardstore/keyspace"
)

const zsetCat = CatSortedSet

func init() {
	def(nil, "zadd", -4, Write|DenyOOM|Fast, zsetCat, 1, 1, 1, zaddCmd)
	def(nil, "zincrby", 4, Write|DenyOOM|Fast, zsetCat, 1, 1, 1, zaddCmd)
	def(nil, "zrem", -3, Write|Fast, zsetCat, 1, 1, 1, zremCmd)
	def(nil, "zcard", 2, ReadOnly|Fast, zsetCat, 1, 1, 1, zcardCmd)
	def(nil, "zcount", 4, ReadOnly|Fast, zsetCat, 1, 1, 1, zcountCmd)
	def(nil, "zlexcount", 4, ReadOnly|Fast, zsetCat, 1, 1, 1, zlexcountCmd)
	def(nil, "zscore", 3, ReadOnly|Fast, zsetCat, 1, 1, 1, zscoreCmd)
	def(nil, "zmscore", -3, ReadOnly|Fast, zsetCat, 1, 1, 1, zmscoreCmd)
	def(nil, "zrank", 3, ReadOnly|Fast, zsetCat, 1, 1, 1, zrankCmd)
	def(nil, "zrevrank", 3, ReadOnly|Fast, zsetCat, 1, 1, 1, zrankCmd)
	def(nil, "zrange", -4, ReadOnly, zsetCat, 1, 1, 1, zrangeCmd)
	def(nil, "zrangestore", -5, Write|DenyOOM, zsetCat, 1, 2, 1, zrangeCmd)
	def(nil, "zrevrange", -4, ReadOnly, zsetCat, 1, 1, 1, zrangeCmd)
	def(nil, "zrangebyscore", -4, ReadOnly, zsetCat, 1, 1, 1, zrangeCmd)
	def(nil, "zrevrangebyscore", -4, ReadOnly, zsetCat, 1, 1, 1, zrangeCmd)
	def(nil, "zrangebylex", -4, ReadOnly, zsetCat, 1, 1, 1, zrangeCmd)
	def(nil, "zrevrangebylex", -4, ReadOnly, zsetCat, 1, 1, 1, zrangeCmd)
	def(nil, "zremrangebyrank", 4, Write, zsetCat, 1, 1, 1, zremrangeCmd)
	def(nil, "zremrangebyscore", 4, Write, zsetCat, 1, 1, 1, zremrangeCmd)
	def(nil, "zremrangebylex", 4, Write, zsetCat, 1, 1, 1, zremrangeCmd)
	def(nil, "zpopmin", -2, Write|Fast, zsetCat, 1, 1, 1, zpopCmd)
	def(nil, "zpopmax", -2, Write|Fast, zsetCat, 1, 1, 1, zpopCmd)
	def(nil, "zmpop", -4, Write, zsetCat, 0, 0, 0, zmpopCmd).numKeysAt(1)
	def(nil, "zrandmember", -2, ReadOnly, zsetCat, 1, 1, 1, zrandmemberCmd)
	def(nil, "zscan", -3, ReadOnly, zsetCat, 1, 1, 1, zscanCmd)
	def(nil, "zunion", -3, ReadOnly, zsetCat, 0, 0, 0, zsetopCmd).numKeysAt(1)
	def(nil, "zinter", -3, ReadOnly, zsetCat, 0, 0, 0, zsetopCmd).numKeysAt(1)
	def(nil, "zdiff", -3, ReadOnly, zsetCat, 0, 0, 0, zsetopCmd).numKeysAt(1)
	def(nil, "zunionstore", -4, Write|DenyOOM, zsetCat, 1, 1, 1, zsetopCmd).numKeysAt(2)
	def(nil, "zinterstore", -4, Write|DenyOOM, zsetCat, 1, 1, 1, zsetopCmd).numKeysAt(2)
	def(nil, "zdiffstore", -4, Write|DenyOOM, zsetCat, 1, 1, 1, zsetopCmd).numKeysAt(2)
	def(nil, "zintercard", -3, ReadOnly, zsetCat, 0, 0, 0, zintercardCmd).numKeysAt(1)
}

// zset returns key's sorted set (nil when missing); ok is false after
// WRONGTYPE.
func (c *call) zset(key []byte) (*keyspace.Coll, *collection.ZSet, bool) {
	co, ok := c.coll(key, keyspace.KindZSet)
	if co == nil {
		return nil, nil, ok
	}
	return co, co.V.(*collection.ZSet), true
}

// collErr replies a collection package error with its Redis text.
func (c *call) collErr(err error) { c.err("ERR " + err.Error()) }

// zadd is ZADD and ZINCRBY, as Redis 7.0's zaddGenericCommand.
func zaddCmd(c *call) {
	key := c.args[1]
	var f collection.ZAddFlags
	ch := false
	i := 2
	if c.cmd.Name == "zincrby" {
		f.Incr = true
	} else {
		for ; i < len(c.args); i++ {
			switch a := c.args[i]; {
			case eq(a, "nx"):
				f.NX = true
			case eq(a, "xx"):
				f.XX = true
			case eq(a, "ch"):
				ch = true
			case eq(a, "incr"):
				f.Incr = true
			case eq(a, "gt"):
				f.GT = true
			case eq(a, "lt"):
				f.LT = true
			default:
				goto parsed
			}
		}
	}
parsed:
	n := len(c.args) - i
	switch {
	case n%2 != 0 || n == 0:
		c.err(errSyntax)
		return
	case f.NX && f.XX:
		c.err("ERR XX and NX options at the same time are not compatible")
		return
	case f.GT && f.NX || f.LT && f.NX || f.GT && f.LT:
		c.err("ERR GT, LT, and/or NX options at the same time are not compatible")
		return
	case f.Incr && n > 2:
		c.err("ERR INCR option supports a single increment-element pair")
		return
	}
	scores := make([]float64, n/2)
	for j := range scores {
		s, err := collection.ParseScore(c.args[i+2*j])
		if err != nil {
			c.collErr(err)
			return
		}
		scores[j] = s
	}
	co, z, ok := c.zset(key)
	if !ok {
		return
	}
	if co == nil && !f.XX {
		co = c.newColl(key, collection.TypeZSet)
		z = co.V.(*collection.ZSet)
	}
	added, updated, processed := 0, 0, 0
	var score float64
	for j := 0; co != nil && j < len(scores); j++ {
		m := c.args[i+2*j+1]
		old, had := z.Score(m)
		res, err := z.Add(m, scores[j], f)
		if err != nil {
			c.collErr(err)
			c.changed(key, co)
			return
		}
		if !res.Nop && (res.Added || res.Updated) {
			c.recs(key, collection.ZSetPut(key, &co.Meta, m, had, old, res.Score)...)
		}
		if res.Added {
			added++
		}
		if res.Updated {
			updated++
		}
		if !res.Nop {
			processed++
		}
		score = res.Score
	}
	if co != nil {
		c.changed(key, co)
	}
	switch {
	case f.Incr && processed > 0:
		c.double(score)
	case f.Incr:
		c.nil3()
	case ch:
		c.int(int64(added + updated))
	default:
		c.int(int64(added))
	}
}

func zremCmd(c *call) {
	key := c.args[1]
	co, z, ok := c.zset(key)
	if !ok {
		return
	}
	n := 0
	for _, m := range c.args[2:] {
		if z == nil || co.Meta.Size == 0 {
			break
		}
		if s, had := z.Score(m); had {
			z.Remove(m)
			c.recs(key, collection.ZSetRem(key, &co.Meta, m, s)...)
			n++
		}
	}
	if n > 0 {
		c.changed(key, co)
	}
	c.int(int64(n))
}

func zcardCmd(c *call) {
	if _, z, ok := c.zset(c.args[1]); ok {
		if z == nil {
			c.int(0)
		} else {
			c.int(int64(z.Len()))
		}
	}
}

func zcountCmd(c *call) {
	r, err := collection.ParseScoreRange(c.args[2], c.args[3])
	if err != nil {
		c.collErr(err)
		return
	}
	if _, z, ok := c.zset(c.args[1]); ok {
		if z == nil {
			c.int(0)
		} else {
			c.int(int64(z.CountScore(r)))
		}
	}
}

func zlexcountCmd(c *call) {
	r, err := collection.ParseLexRange(c.args[2], c.args[3])
	if err != nil {
		c.collErr(err)
		return
	}
	if _, z, ok := c.zset(c.args[1]); ok {
		if z == nil {
			c.int(0)
		} else {
			c.int(int64(z.CountLex(r)))
		}
	}
}

func zscoreCmd(c *call) {
	_, z, ok := c.zset(c.args[1])
	if !ok {
		return
	}
	if z == nil {
		c.nil3()
	} else if s, found := z.Score(c.args[2]); found {
		c.double(s)
	} else {
		c.nil3()
	}
}

func zmscoreCmd(c *call) {
	_, z, ok := c.zset(c.args[1])
	if !ok {
		return
	}
	c.array(len(c.args) - 2)
	for _, m := range c.args[2:] {
		if z == nil {
			c.nil3()
		} else if s, found := z.Score(m); found {
			c.double(s)
		} else {
			c.nil3()
		}
	}
}

func zrankCmd(c *call) {
	_, z, ok := c.zset(c.args[1])
	if !ok {
		return
	}
	if z == nil {
		c.nil3()
		return
	}
	if r, found := z.Rank(c.args[2], c.cmd.Name == "zrevrank"); found {
		c.int(int64(r))
	} else {
		c.nil3()
	}
}

// entries replies sorted-set entries: members, with their scores when
// withScores (pairs in RESP3, flat in RESP2).
func (c *call) entries(es []collection.ZEntry, withScores bool) {
	if withScores && !c.resp3() {
		c.array(2 * len(es))
	} else {
		c.array(len(es))
	}
	for _, e := range es {
		if withScores && c.resp3() {
			c.array(2)
		}
		c.bulkStr(e.Member)
		if withScores {
			c.double(e.Score)
		}
	}
}

// Range kinds of the ZRANGE family.
const (
	byAuto = iota
	byRank
	byScore
	byLex
)

// zrangeCmd is every command of the ZRANGE family, as Redis 7.0's
// zrangeGenericCommand: options, then the range, then the key.
func zrangeCmd(c *call) {
	name := c.cmd.Name
	store := name == "zrangestore"
	start := 1
	if store {
		start = 2
	}
	kind, rev, fixedDir := byAuto, false, false
	switch name {
	case "zrevrange":
		kind, rev, fixedDir = byRank, true, true
	case "zrangebyscore", "zrevrangebyscore":
		kind, rev, fixedDir = byScore, name[1] == 'r' && name[3] == 'v', true
	case "zrangebylex", "zrevrangebylex":
		kind, rev, fixedDir = byLex, name[1] == 'r' && name[3] == 'v', true
	}
	withScores := false
	offset, limit := int64(0), int64(-1)
	for j := start + 3; j < len(c.args); j++ {
		a, left := c.args[j], len(c.args)-j-1
		switch {
		case !store && eq(a, "withscores"):
			withScores = true
		case eq(a, "limit") && left >= 2:
			var ok1, ok2 bool
			offset, ok1 = intArg(c.args[j+1])
			if ok1 {
				limit, ok2 = intArg(c.args[j+2])
			}
			if !ok1 || !ok2 {
				c.err(errNotInt)
				return
			}
			j += 2
		case !fixedDir && !rev && eq(a, "rev"):
			rev = true
		case kind == byAuto && eq(a, "bylex"):
			kind = byLex
		case kind == byAuto && eq(a, "byscore"):
			kind = byScore
		default:
			c.err(errSyntax)
			return
		}
	}
	if kind == byAuto {
		kind = byRank
	}
	if limit != -1 && kind == byRank {
		c.err("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")
		return
	}
	if withScores && kind == byLex {
		c.err("ERR syntax error, WITHSCORES not supported in combination with BYLEX")
		return
	}
	lo, hi := c.args[start+1], c.args[start+2]
	if rev && kind != byRank {
		lo, hi = hi, lo
	}
	var get func(z *collection.ZSet) []collection.ZEntry
	switch kind {
	case byRank:
		s, ok1 := intArg(lo)
		e, ok2 := intArg(hi)
		if !ok1 || !ok2 {
			c.err(errNotInt)
			return
		}
		s, e = max(min(s, math.MaxInt32*2), -math.MaxInt32*2), max(min(e, math.MaxInt32*2), -math.MaxInt32*2)
		get = func(z *collection.ZSet) []collection.ZEntry { return z.RangeByRank(int(s), int(e), rev) }
	case byScore:
		r, err := collection.ParseScoreRange(lo, hi)
		if err != nil {
			c.collErr(err)
			return
		}
		get = func(z *collection.ZSet) []collection.ZEntry {
			return z.RangeByScore(r, rev, clampInt(offset), clampInt(limit))
		}
	case byLex:
		r, err := collection.ParseLexRange(lo, hi)
		if err != nil {
			c.collErr(err)
			return
		}
		get = func(z *collection.ZSet) []collection.ZEntry {
			return z.RangeByLex(r, rev, clampInt(offset), clampInt(limit))
		}
	}
	_, z, ok := c.zset(c.args[start])
	if !ok {
		return
	}
	var es []collection.ZEntry
	if z != nil {
		es = get(z)
	}
	if store {
		c.storeZSet(c.args[1], collection.FromEntries(es))
		c.int(int64(len(es)))
		return
	}
	c.entries(es, withScores)
}

// clampInt narrows a LIMIT argument to int, keeping its sign.
func clampInt(n int64) int { return int(max(min(n, math.MaxInt32), math.MinInt32)) }

// storeZSet replaces dst, of any kind, with the sorted set z (deleting it
// when z is empty), under a new version.
func (c *call) storeZSet(dst []byte, z *collection.ZSet) {
	c.delKey(dst)
	if z.Len() == 0 {
		return
	}
	co := c.newColl(dst, collection.TypeZSet)
	co.V = z
	for _, e := range z.All() {
		c.recs(dst, collection.ZSetPut(dst, &co.Meta, []byte(e.Member), false, 0, e.Score)...)
	}
	c.changed(dst, co)
}

func zremrangeCmd(c *call) {
	key := c.args[1]
	var get func(z *collection.ZSet) []collection.ZEntry
	switch c.cmd.Name {
	case "zremrangebyrank":
		s, ok1 := intArg(c.args[2])
		e, ok2 := intArg(c.args[3])
		if !ok1 || !ok2 {
			c.err(errNotInt)
			return
		}
		s, e = max(min(s, math.MaxInt32*2), -math.MaxInt32*2), max(min(e, math.MaxInt32*2), -math.MaxInt32*2)
		get = func(z *collection.ZSet) []collection.ZEntry { return z.RangeByRank(int(s), int(e), false) }
	case "zremrangebyscore":
		r, err := collection.ParseScoreRange(c.args[2], c.args[3])
		if err != nil {
			c.collErr(err)
			return
		}
		get = func(z *collection.ZSet) []collection.ZEntry { return z.RangeByScore(r, false, 0, -1) }
	default:
		r, err := collection.ParseLexRange(c.args[2], c.args[3])
		if err != nil {
			c.collErr(err)
			return
		}
		get = func(z *collection.ZSet) []collection.ZEntry { return z.RangeByLex(r, false, 0, -1) }
	}
	co, z, ok := c.zset(key)
	if !ok {
		return
	}
	if z == nil {
		c.int(0)
		return
	}
	es := get(z)
	c.zremove(key, co, z, es)
	c.int(int64(len(es)))
}

// zremove deletes entries es of key's sorted set and records it.
func (c *call) zremove(key []byte, co *keyspace.Coll, z *collection.ZSet, es []collection.ZEntry) {
	for _, e := range es {
		z.Remove([]byte(e.Member))
		c.recs(key, collection.ZSetRem(key, &co.Meta, []byte(e.Member), e.Score)...)
	}
	if len(es) > 0 {
		c.changed(key, co)
	}
}

func zpopCmd(c *call) {
	if len(c.args) > 3 {
		c.err(errSyntax)
		return
	}
	count := int64(1)
	withCount := len(c.args) == 3
	if withCount {
		n, ok := intArg(c.args[2])
		if !ok || n < 0 {
			c.err("ERR value is out of range, must be positive")
			return
		}
		count = n
	}
	key := c.args[1]
	co, z, ok := c.zset(key)
	if !ok {
		return
	}
	if z == nil || count == 0 {
		c.array(0)
		return
	}
	es := z.RangeByRank(0, int(min(count, math.MaxInt32))-1, c.cmd.Name == "zpopmax")
	c.zremove(key, co, z, es)
	if !withCount { // flat, in RESP3 too
		c.array(2 * len(es))
		for _, e := range es {
			c.bulkStr(e.Member)
			c.double(e.Score)
		}
		return
	}
	if !c.resp3() {
		c.entries(es, true)
		return
	}
	c.array(len(es))
	for _, e := range es {
		c.array(2)
		c.bulkStr(e.Member)
		c.double(e.Score)
	}
}

// zsetEnd parses MIN (true) or MAX.
func zsetEnd(b []byte) (bool, bool) {
	switch {
	case eq(b, "min"):
		return true, true
	case eq(b, "max"):
		return false, true
	}
	return false, false
}

// zmpopCmd is ZMPOP numkeys key... MIN|MAX [COUNT n].
func zmpopCmd(c *call) {
	keys, min_, count, ok := c.mpopArgs(zsetEnd)
	if !ok {
		return
	}
	for _, key := range keys {
		co, z, ok := c.zset(key)
		if !ok {
			return
		}
		if z == nil {
			continue
		}
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
	c.nilArray3()
}

func zrandmemberCmd(c *call) {
	if len(c.args) == 2 {
		_, z, ok := c.zset(c.args[1])
		switch {
		case !ok:
		case z == nil:
			c.nil3()
		default:
			c.bulkStr(z.Random(c.rng(), 1)[0].Member)
		}
		return
	}
	count, ok := c.randCount(c.args[2])
	if !ok {
		return
	}
	withScores := false
	switch {
	case len(c.args) > 4 || len(c.args) == 4 && !eq(c.args[3], "withscores"):
		c.err(errSyntax)
		return
	case len(c.args) == 4:
		withScores = true
		if count < -math.MaxInt64/2 || count > math.MaxInt64/2 {
			c.err("ERR value is out of range")
			return
		}
	}
	_, z, ok := c.zset(c.args[1])
	if !ok {
		return
	}
	if z == nil || count == 0 {
		c.array(0)
		return
	}
	c.entries(z.Random(c.rng(), int(max(min(count, math.MaxInt32), -math.MaxInt32))), withScores)
}

func zscanCmd(c *call) {
	co, cursor, pat, count := c.keyScan(keyspace.KindZSet)
	if co == nil {
		return
	}
	var out []string
	next := co.V.(*collection.ZSet).Scan(cursor, count, func(e collection.ZEntry) {
		if pat == nil || Match(pat, []byte(e.Member), false) {
			out = append(out, e.Member, collection.FormatScore(e.Score))
		}
	})
	c.scanReply(next, out)
}

var errWeight = errors.New("weight value is not a float")

// zsetopCmd is ZUNION, ZINTER, ZDIFF and their STORE forms, as Redis
// 7.0's zunionInterDiffGenericCommand: numkeys, the keys' types, then
// WEIGHTS, AGGREGATE and WITHSCORES.
func zsetopCmd(c *call) {
	name := c.cmd.Name
	store := len(name) > 5 && name[len(name)-5:] == "store"
	at := 1
	if store {
		at = 2
	}
	n, ok := c.zNumKeys(at)
	if !ok {
		return
	}
	ins := make([]collection.ZInput, n)
	for i := range ins {
		co, kind := c.ks.CollKind(c.args[at+1+i], c.now)
		switch kind {
		case keyspace.KindZSet:
			ins[i].Z = co.V.(*collection.ZSet)
		case keyspace.KindSet:
			ins[i].S = co.V.(*collection.Set)
		case keyspace.KindNone:
		default:
			c.err(errWrongType)
			return
		}
		ins[i].Weight = 1
	}
	diff := name == "zdiff" || name == "zdiffstore"
	agg := collection.AggSum
	withScores := false
	for j := at + 1 + n; j < len(c.args); {
		left := len(c.args) - j
		switch a := c.args[j]; {
		case !diff && left >= n+1 && eq(a, "weights"):
			for i := range ins {
				w, err := collection.ParseScore(c.args[j+1+i])
				if err != nil {
					c.collErr(errWeight)
					return
				}
				ins[i].Weight = w
			}
			j += 1 + n
		case !diff && left >= 2 && eq(a, "aggregate"):
			switch v := c.args[j+1]; {
			case eq(v, "sum"):
				agg = collection.AggSum
			case eq(v, "min"):
				agg = collection.AggMin
			case eq(v, "max"):
				agg = collection.AggMax
			default:
				c.err(errSyntax)
				return
			}
			j += 2
		case !store && eq(a, "withscores"):
			withScores = true
			j++
		default:
			c.err(errSyntax)
			return
		}
	}
	var z *collection.ZSet
	switch {
	case diff:
		z = collection.ZDiff(ins)
	case name == "zinter" || name == "zinterstore":
		z = collection.ZInter(ins, agg)
	default:
		z = collection.ZUnion(ins, agg)
	}
	if store {
		z.Shrink()
		c.storeZSet(c.args[1], z)
		c.int(int64(z.Len()))
		return
	}
	c.entries(z.All(), withScores)
}

// zNumKeys parses the numkeys argument at args[at] of ZUNION, ZINTER,
// ZDIFF, their STORE forms and ZINTERCARD.
func (c *call) zNumKeys(at int) (int, bool) {
	n, ok := intArg(c.args[at])
	switch {
	case !ok:
		c.err(errNotInt)
	case n < 1:
		c.err("ERR at least 1 input key is needed for '" + c.cmd.Name + "' command")
	case n > int64(len(c.args)-at-1):
		c.err(errSyntax)
	default:
		return int(n), true
	}
	return 0, false
}

func zintercardCmd(c *call) {
	n, ok := c.zNumKeys(1)
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
	ins := make([]collection.ZInput, n)
	for i := range ins {
		co, kind := c.ks.CollKind(c.args[2+i], c.now)
		switch kind {
		case keyspace.KindZSet:
			ins[i].Z = co.V.(*collection.ZSet)
		case keyspace.KindSet:
			ins[i].S = co.V.(*collection.Set)
		case keyspace.KindNone:
		default:
			c.err(errWrongType)
			return
		}
		ins[i].Weight = 1
	}
	card := int64(collection.ZInter(ins, collection.AggSum).Len())
	if limit > 0 {
		card = min(card, limit)
	}
	c.int(card)
}
