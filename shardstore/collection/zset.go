package collection

import (
	"math"
	"math/rand/v2"
)

// ZEntry is a sorted-set member and its score.
type ZEntry struct {
	Member string
	Score  float64
}

// ZSet is a Redis sorted set: a table from member to score plus a
// skiplist ordered by (score, member bytes). It is a "listpack" while it
// has ≤ ZSetListpackEntries members each ≤ ListpackValue bytes, a "skiplist"
// after that for good. A listpack keeps a score of -0 as 0 (it stores
// scores as text); a skiplist keeps -0.
type ZSet struct {
	t   table[float64]
	zsl *skiplist
}

// NewZSet returns an empty sorted set.
func NewZSet() *ZSet { return &ZSet{zsl: newSkiplist()} }

// Len returns the number of members.
func (z *ZSet) Len() int { return z.t.len() }

// Encoding returns OBJECT ENCODING's name: "listpack" or "skiplist".
func (z *ZSet) Encoding() string {
	if !z.t.big {
		return "listpack"
	}
	return "skiplist"
}

// Score returns m's score (ZSCORE).
func (z *ZSet) Score(m []byte) (float64, bool) {
	if i := z.t.find(m); i >= 0 {
		return z.t.vals[i], true
	}
	return 0, false
}

// ZAddFlags are ZADD's options; the command checks their combinations.
type ZAddFlags struct{ NX, XX, GT, LT, Incr bool }

// ZAddResult tells what Add did: Added a member, Updated its score, or
// nothing (Nop: NX, XX, GT or LT held it back; ZADD INCR then replies
// nil). Score is the member's score after the call.
type ZAddResult struct {
	Added, Updated, Nop bool
	Score               float64
}

// Add is zsetAdd: it sets (or with Incr adds to) m's score under the
// flags. A NaN score, or an increment reaching NaN, gives ErrNaNScore
// (ZADD's parser refuses a NaN literal first with ErrNotFloat).
func (z *ZSet) Add(m []byte, score float64, f ZAddFlags) (ZAddResult, error) {
	if math.IsNaN(score) {
		return ZAddResult{}, ErrNaNScore
	}
	if i := z.t.find(m); i >= 0 {
		cur := z.t.vals[i]
		if f.NX {
			return ZAddResult{Nop: true, Score: cur}, nil
		}
		if f.Incr {
			if score += cur; math.IsNaN(score) {
				return ZAddResult{}, ErrNaNScore
			}
		}
		if (f.LT && score >= cur) || (f.GT && score <= cur) {
			return ZAddResult{Nop: true, Score: cur}, nil
		}
		if !z.t.big {
			score += 0 // -0 becomes 0
		}
		if score == cur { // -0 and 0 are equal here, as in Redis
			return ZAddResult{Score: cur}, nil
		}
		z.zsl.delete(cur, z.t.keys[i])
		z.zsl.insert(score, z.t.keys[i])
		z.t.vals[i] = score
		return ZAddResult{Updated: true, Score: score}, nil
	}
	if f.XX {
		return ZAddResult{Nop: true}, nil
	}
	if len(m) > ListpackValue || z.t.len()+1 > ZSetListpackEntries {
		z.t.grow()
	}
	if !z.t.big {
		score += 0
	}
	key := string(m)
	z.t.add(key, score)
	z.zsl.insert(score, key)
	return ZAddResult{Added: true, Score: score}, nil
}

// IncrBy is ZINCRBY: it adds delta to m's score (0 if absent).
func (z *ZSet) IncrBy(m []byte, delta float64) (float64, error) {
	r, err := z.Add(m, delta, ZAddFlags{Incr: true})
	return r.Score, err
}

// Remove deletes m and reports whether it was there.
func (z *ZSet) Remove(m []byte) bool {
	i := z.t.find(m)
	if i < 0 {
		return false
	}
	z.zsl.delete(z.t.vals[i], z.t.keys[i])
	z.t.removeAt(i)
	return true
}

// Rank returns m's 0-based rank (ZRANK, or ZREVRANK with rev).
func (z *ZSet) Rank(m []byte, rev bool) (int, bool) {
	i := z.t.find(m)
	if i < 0 {
		return 0, false
	}
	r := z.zsl.rank(z.t.vals[i], z.t.keys[i]) - 1
	if rev {
		r = z.Len() - 1 - r
	}
	return r, true
}

// walk returns the nodes of 1-based ranks from..to inclusive, either way.
func (z *ZSet) walk(from, to int) []ZEntry {
	n := abs(to-from) + 1
	out := make([]ZEntry, 0, n)
	for x := z.zsl.byRank(from); x != nil && len(out) < n; {
		out = append(out, ZEntry{x.member, x.score})
		if from <= to {
			x = x.levels[0].forward
		} else {
			x = x.backward
		}
	}
	return out
}

// RangeByRank returns ranks start..stop (ZRANGE; negative from the end),
// from the highest score with rev.
func (z *ZSet) RangeByRank(start, stop int, rev bool) []ZEntry {
	lo, hi, ok := RangeBounds(start, stop, z.Len())
	if !ok {
		return nil
	}
	if rev {
		n := z.Len()
		return z.walk(n-lo, n-hi)
	}
	return z.walk(lo+1, hi+1)
}

// limited applies LIMIT offset count to the ranks lo..hi (1-based, in
// order) read forward or with rev backward: a negative offset gives
// nothing, a negative count means all.
func (z *ZSet) limited(lo, hi int, rev bool, offset, count int) []ZEntry {
	if lo > hi || offset < 0 || count == 0 || offset > hi-lo {
		return nil
	}
	n := hi - lo + 1 - offset
	if count > 0 {
		n = min(n, count)
	}
	if rev {
		return z.walk(hi-offset, hi-offset-n+1)
	}
	return z.walk(lo+offset, lo+offset+n-1)
}

// scoreRanks returns the 1-based ranks of the first and last members in r.
func (z *ZSet) scoreRanks(r ScoreRange) (lo, hi int) {
	if r.empty() {
		return 1, 0
	}
	_, lo = z.zsl.firstWhere(func(x *znode) bool { return r.aboveMin(x.score) })
	_, after := z.zsl.firstWhere(func(x *znode) bool { return !r.belowMax(x.score) })
	return lo, after - 1
}

// lexRanks is scoreRanks for a lex range (meaningful when all scores are
// equal, as Redis documents).
func (z *ZSet) lexRanks(r LexRange) (lo, hi int) {
	if r.empty() {
		return 1, 0
	}
	_, lo = z.zsl.firstWhere(func(x *znode) bool { return r.aboveMin(x.member) })
	_, after := z.zsl.firstWhere(func(x *znode) bool { return !r.belowMax(x.member) })
	return lo, after - 1
}

// RangeByScore is ZRANGEBYSCORE (ZREVRANGEBYSCORE with rev) with LIMIT
// offset count (count < 0 for no limit).
func (z *ZSet) RangeByScore(r ScoreRange, rev bool, offset, count int) []ZEntry {
	lo, hi := z.scoreRanks(r)
	return z.limited(lo, hi, rev, offset, count)
}

// RangeByLex is ZRANGEBYLEX (ZREVRANGEBYLEX with rev) with LIMIT.
func (z *ZSet) RangeByLex(r LexRange, rev bool, offset, count int) []ZEntry {
	lo, hi := z.lexRanks(r)
	return z.limited(lo, hi, rev, offset, count)
}

// CountScore is ZCOUNT.
func (z *ZSet) CountScore(r ScoreRange) int {
	lo, hi := z.scoreRanks(r)
	return max(hi-lo+1, 0)
}

// CountLex is ZLEXCOUNT.
func (z *ZSet) CountLex(r LexRange) int {
	lo, hi := z.lexRanks(r)
	return max(hi-lo+1, 0)
}

// removeAll deletes the given entries and returns how many.
func (z *ZSet) removeAll(es []ZEntry) int {
	for _, e := range es {
		z.Remove([]byte(e.Member))
	}
	return len(es)
}

// RemoveRangeByRank is ZREMRANGEBYRANK.
func (z *ZSet) RemoveRangeByRank(start, stop int) int {
	return z.removeAll(z.RangeByRank(start, stop, false))
}

// RemoveRangeByScore is ZREMRANGEBYSCORE.
func (z *ZSet) RemoveRangeByScore(r ScoreRange) int {
	return z.removeAll(z.RangeByScore(r, false, 0, -1))
}

// RemoveRangeByLex is ZREMRANGEBYLEX.
func (z *ZSet) RemoveRangeByLex(r LexRange) int {
	return z.removeAll(z.RangeByLex(r, false, 0, -1))
}

// Pop removes and returns up to count members with the lowest scores
// (ZPOPMIN), or the highest with max (ZPOPMAX), in pop order.
func (z *ZSet) Pop(count int, max bool) []ZEntry {
	if count <= 0 {
		return nil
	}
	es := z.RangeByRank(0, count-1, max)
	z.removeAll(es)
	return es
}

// All returns the members in order.
func (z *ZSet) All() []ZEntry { return z.RangeByRank(0, -1, false) }

// Random is ZRANDMEMBER with a count; see Hash.Random (a listpack keeps
// score order in the sample; the whole set, when count ≥ Len(), comes
// highest score first, as Redis iterates it from the tail).
func (z *ZSet) Random(rng *rand.Rand, count int) []ZEntry {
	if count >= z.Len() {
		return z.RangeByRank(0, -1, true)
	}
	out := make([]ZEntry, 0, min(abs(count), z.Len()+1))
	randomSlots(rng, z.Len(), count, !z.t.big, func(i int) {
		x := z.zsl.byRank(i + 1)
		out = append(out, ZEntry{x.member, x.score})
	})
	return out
}

// Scan is ZSCAN without MATCH; see Hash.Scan. A listpack is returned
// whole, in score order.
func (z *ZSet) Scan(cursor uint64, count int, fn func(ZEntry)) uint64 {
	if !z.t.big {
		for _, e := range z.All() {
			fn(e)
		}
		return 0
	}
	return z.t.scan(cursor, count, func(i int) { fn(ZEntry{z.t.keys[i], z.t.vals[i]}) })
}

// newResultZSet returns an empty "skiplist" for ZUNION/ZINTER/ZDIFF
// results, which Redis builds as a skiplist (keeping -0).
func newResultZSet() *ZSet {
	z := NewZSet()
	z.t.grow()
	return z
}

// Shrink is zsetConvertToListpackIfNeeded, for a result about to be
// stored (ZUNIONSTORE, ZINTERSTORE, ZDIFFSTORE): a skiplist small enough
// becomes a listpack again, with -0 scores as 0.
func (z *ZSet) Shrink() {
	if !z.t.big || z.Len() > ZSetListpackEntries {
		return
	}
	for _, k := range z.t.keys {
		if len(k) > ListpackValue {
			return
		}
	}
	z.t.big = false
	for i := range z.t.vals {
		z.t.vals[i] += 0
	}
	for x := z.zsl.head.levels[0].forward; x != nil; x = x.levels[0].forward {
		x.score += 0 // -0 and 0 compare equal: the order holds
	}
}

// MemoryUsage estimates the bytes the sorted set holds. An estimate.
func (z *ZSet) MemoryUsage() int {
	n := 64 + cap(z.t.keys)*16 + cap(z.t.vals)*8
	for _, k := range z.t.keys {
		n += len(k) + 80 // skiplist node, 1.33 levels on average
	}
	if z.t.idx != nil {
		n += z.Len() * mapSlotBytes
	}
	return n
}
