package collection

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/dorivo/dorivo/shardstore/collection/internal/redisclient"
)

// Random operations on each structure and on redis-server, comparing every
// deterministic reply.

func TestListOpsMatchRedis(t *testing.T) {
	r := redisclient.Start(t)
	rng := rand.New(rand.NewPCG(2, 2))
	l := NewList()
	val := func() string { return string(rune('a' + rng.IntN(5))) }
	idx := func() int { return rng.IntN(14) - 7 }
	for step := range 3000 {
		v := val()
		var got, want any
		switch op := rng.IntN(10); op {
		case 0, 1:
			l.PushLeft([]byte(v))
			got, want = int64(l.Len()), r.Do(t, "LPUSH", "l", v)
		case 2, 3:
			l.PushRight([]byte(v))
			got, want = int64(l.Len()), r.Do(t, "RPUSH", "l", v)
		case 4:
			e, ok := l.PopLeft()
			got, want = nilOr(e, ok), r.Do(t, "LPOP", "l")
			if !ok {
				got = nil
			}
		case 5:
			e, ok := l.PopRight()
			got, want = nilOr(e, ok), r.Do(t, "RPOP", "l")
		case 6:
			before := rng.IntN(2) == 0
			pivot := val()
			at := l.Insert(before, []byte(pivot), []byte(v))
			got = int64(l.Len())
			if at < 0 {
				got = int64(-1)
			}
			want = r.Do(t, "LINSERT", "l", map[bool]string{true: "BEFORE", false: "AFTER"}[before], pivot, v)
			if l.Len() == 0 {
				got = int64(0)
			}
		case 7:
			n := rng.IntN(5) - 2
			removed, _ := l.Remove(n, []byte(v))
			got, want = int64(removed), r.Do(t, "LREM", "l", strconv.Itoa(n), v)
		case 8:
			if rng.IntN(8) == 0 {
				a, b := idx(), idx()
				l.Trim(a, b)
				got, want = "OK", r.Do(t, "LTRIM", "l", strconv.Itoa(a), strconv.Itoa(b))
			} else {
				i := idx()
				got = "OK"
				if !l.SetIndex(i, []byte(v)) {
					got = "ERR index out of range"
					if l.Len() == 0 {
						got = "ERR no such key"
					}
				}
				want = fmt.Sprint(r.Do(t, "LSET", "l", strconv.Itoa(i), v))
			}
		case 9:
			rank, count, maxlen := rng.IntN(5)-2, rng.IntN(3), rng.IntN(6)
			if rank == 0 {
				rank = 1
			}
			pos := l.Pos([]byte(v), rank, count, maxlen)
			ps := make([]any, len(pos))
			for i, p := range pos {
				ps[i] = int64(p)
			}
			got = ps
			want = r.Do(t, "LPOS", "l", v, "RANK", strconv.Itoa(rank), "COUNT", strconv.Itoa(count), "MAXLEN", strconv.Itoa(maxlen))
		}
		expectSame(t, fmt.Sprint("step ", step), got, want)
		a, b := idx(), idx()
		expectSame(t, fmt.Sprint("LRANGE at step ", step), strs(l.Range(a, b)), r.Do(t, "LRANGE", "l", strconv.Itoa(a), strconv.Itoa(b)))
		if i := idx(); true {
			e, ok := l.Index(i)
			expectSame(t, "LINDEX", nilOr(e, ok), r.Do(t, "LINDEX", "l", strconv.Itoa(i)))
		}
	}
}

func nilOr(s string, ok bool) any {
	if !ok {
		return nil
	}
	return s
}

func TestZSetOpsMatchRedis(t *testing.T) {
	r := redisclient.Start(t)
	rng := rand.New(rand.NewPCG(3, 3))
	z := NewZSet()
	scores := []string{"0", "1", "-1", "2.5", "inf", "-inf", "0.1", "3", "1e20"}
	member := func() string { return fmt.Sprint("m", rng.IntN(160)) }
	for step := range 4000 {
		if step == 2500 {
			// Same scores from here on, for lex ranges.
			r.Do(t, "DEL", "z")
			z = NewZSet()
		}
		m := member()
		sc := scores[rng.IntN(len(scores))]
		if step >= 2500 {
			sc = "0"
		}
		var got, want any
		switch rng.IntN(8) {
		case 0, 1, 2:
			var f ZAddFlags
			args := []string{"ZADD", "z"}
			switch rng.IntN(5) {
			case 1:
				f.NX, args = true, append(args, "NX")
			case 2:
				f.XX, args = true, append(args, "XX")
			case 3:
				f.GT, args = true, append(args, "GT")
			case 4:
				f.LT, args = true, append(args, "LT")
			}
			ch := rng.IntN(2) == 0
			if ch {
				args = append(args, "CH")
			}
			if rng.IntN(3) == 0 {
				f.Incr, args = true, append(args, "INCR")
			}
			args = append(args, sc, m)
			score, _ := ParseScore([]byte(sc))
			res, err := z.Add([]byte(m), score, f)
			switch {
			case err != nil:
				got = "ERR " + err.Error()
			case f.Incr && res.Nop:
				got = nil
			case f.Incr:
				got = FormatScore(res.Score)
			case res.Added || (ch && res.Updated):
				got = int64(1)
			default:
				got = int64(0)
			}
			want = r.Do(t, args...)
			if e, ok := want.(redisclient.Error); ok {
				want = string(e)
			}
		case 3:
			got, want = b2i(z.Remove([]byte(m))), r.Do(t, "ZREM", "z", m)
		case 4:
			rank, ok := z.Rank([]byte(m), step%2 == 0)
			got = any(int64(rank))
			if !ok {
				got = nil
			}
			want = r.Do(t, map[bool]string{false: "ZRANK", true: "ZREVRANK"}[step%2 == 0], "z", m)
		case 5:
			lo, hi := scores[rng.IntN(len(scores))], scores[rng.IntN(len(scores))]
			if rng.IntN(2) == 0 {
				lo = "(" + lo
			}
			rg, _ := ParseScoreRange([]byte(lo), []byte(hi))
			off, cnt := rng.IntN(4)-1, rng.IntN(6)-1
			rev := rng.IntN(2) == 0
			got = entriesReply(z.RangeByScore(rg, rev, off, cnt))
			if rev {
				want = r.Do(t, "ZREVRANGEBYSCORE", "z", hi, lo, "WITHSCORES", "LIMIT", strconv.Itoa(off), strconv.Itoa(cnt))
			} else {
				want = r.Do(t, "ZRANGEBYSCORE", "z", lo, hi, "WITHSCORES", "LIMIT", strconv.Itoa(off), strconv.Itoa(cnt))
			}
			expectSame(t, "ZCOUNT", int64(z.CountScore(rg)), r.Do(t, "ZCOUNT", "z", lo, hi))
		case 6:
			if step < 2500 {
				continue // lex ranges need equal scores
			}
			lo, hi := "["+member(), "("+member()
			if rng.IntN(4) == 0 {
				lo = "-"
			}
			rg, _ := ParseLexRange([]byte(lo), []byte(hi))
			off, cnt := rng.IntN(3), rng.IntN(6)-1
			rev := rng.IntN(2) == 0
			got = membersReply(z.RangeByLex(rg, rev, off, cnt))
			if rev {
				want = r.Do(t, "ZREVRANGEBYLEX", "z", hi, lo, "LIMIT", strconv.Itoa(off), strconv.Itoa(cnt))
			} else {
				want = r.Do(t, "ZRANGEBYLEX", "z", lo, hi, "LIMIT", strconv.Itoa(off), strconv.Itoa(cnt))
			}
		case 7:
			switch rng.IntN(4) {
			case 0:
				a, b := rng.IntN(6)-3, rng.IntN(6)-3
				got, want = int64(z.RemoveRangeByRank(a, b)), r.Do(t, "ZREMRANGEBYRANK", "z", strconv.Itoa(a), strconv.Itoa(b))
			case 1:
				n := rng.IntN(3)
				got, want = entriesReply(z.Pop(n, step%2 == 0)), r.Do(t, map[bool]string{false: "ZPOPMIN", true: "ZPOPMAX"}[step%2 == 0], "z", strconv.Itoa(n))
			case 2:
				if n := rng.IntN(3); true {
					got, want = entriesReply(z.Random(rng, z.Len()+n)), r.Do(t, "ZRANDMEMBER", "z", strconv.Itoa(z.Len()+n), "WITHSCORES")
				}
			case 3:
				rg, _ := ParseScoreRange([]byte("("+sc), []byte("+inf"))
				if rng.IntN(3) > 0 {
					rg, _ = ParseScoreRange([]byte(sc), []byte(sc))
				}
				got = int64(z.RemoveRangeByScore(rg))
				want = r.Do(t, "ZREMRANGEBYSCORE", "z", fmt.Sprint(rng2(rg.Min)), fmt.Sprint(rng2(rg.Max)))
			}
		}
		expectSame(t, fmt.Sprint("step ", step), got, want)
		expectSame(t, fmt.Sprint("ZRANGE after step ", step), entriesReply(z.RangeByRank(0, -1, false)), r.Do(t, "ZRANGE", "z", "0", "-1", "WITHSCORES"))
		if z.Len() > 0 || step%50 == 0 {
			expectSame(t, "encoding", z.Encoding(), encodingOr(t, r, "z", z.Encoding()))
		}
	}
}

// rng2 prints a bound back in Redis's syntax.
func rng2(b ScoreBound) string {
	s := FormatScore(b.Value)
	if b.Excl {
		return "(" + s
	}
	return s
}

func encodingOr(t *testing.T, r *redisclient.Client, key, dflt string) any {
	if v, ok := r.Do(t, "OBJECT", "ENCODING", key).(string); ok {
		return v
	}
	return dflt
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func TestHashAndSetOrderMatchRedis(t *testing.T) {
	r := redisclient.Start(t)
	rng := rand.New(rand.NewPCG(4, 4))
	h, s := NewHash(), NewSet()
	for step := range 2000 {
		f, v := fmt.Sprint("f", rng.IntN(40)), fmt.Sprint("v", rng.IntN(9))
		m := strconv.Itoa(rng.IntN(60) - 20)
		if rng.IntN(3) == 0 {
			expectSame(t, "HDEL", b2i(h.Delete([]byte(f))), r.Do(t, "HDEL", "h", f))
			expectSame(t, "SREM", b2i(s.Remove([]byte(m))), r.Do(t, "SREM", "s", m))
		} else {
			expectSame(t, "HSET", b2i(h.Set([]byte(f), []byte(v))), r.Do(t, "HSET", "h", f, v))
			expectSame(t, "SADD", b2i(s.Add([]byte(m))), r.Do(t, "SADD", "s", m))
		}
		var all []string
		for k, v := range h.All() {
			all = append(all, k, v)
		}
		expectSame(t, fmt.Sprint("HGETALL at ", step), strs(all), r.Do(t, "HGETALL", "h"))
		expectSame(t, fmt.Sprint("SMEMBERS at ", step), strs(s.Members()), r.Do(t, "SMEMBERS", "s"))
		n := rng.IntN(50)
		expectSame(t, "SRANDMEMBER all", strs(s.Random(rng, s.Len()+n)), r.Do(t, "SRANDMEMBER", "s", strconv.Itoa(s.Len()+n)))
		var pairs []string
		for _, p := range h.Random(rng, h.Len()+n) {
			pairs = append(pairs, p.Field, p.Value)
		}
		expectSame(t, "HRANDFIELD all", strs(pairs), r.Do(t, "HRANDFIELD", "h", strconv.Itoa(h.Len()+n), "WITHVALUES"))
		var scanned []string
		cur := h.Scan(0, 10, func(f, v string) { scanned = append(scanned, f, v) })
		expectSame(t, "HSCAN of a listpack", []any{strconv.FormatUint(cur, 10), strs(scanned)}, r.Do(t, "HSCAN", "h", "0"))
	}
	// SINTER replies in the smallest set's order; intsets iterate sorted.
	a, b := FromMembers([]string{"9", "3", "7", "1"}), FromMembers([]string{"7", "1", "3", "5", "11"})
	r.Do(t, "SADD", "a", "9", "3", "7", "1")
	r.Do(t, "SADD", "b", "7", "1", "3", "5", "11")
	expectSame(t, "SINTER", strs(Inter([]*Set{b, a}, 0)), r.Do(t, "SINTER", "b", "a"))
	expectSame(t, "SUNION", strs(Union([]*Set{b, a}).Members()), r.Do(t, "SUNION", "b", "a"))
	expectSame(t, "SDIFF", strs(Diff([]*Set{b, a}).Members()), r.Do(t, "SDIFF", "b", "a"))
	expectSame(t, "SINTERCARD", int64(len(Inter([]*Set{b, a}, 2))), r.Do(t, "SINTERCARD", "2", "b", "a", "LIMIT", "2"))
}

func TestZUnionInterDiffMatchRedis(t *testing.T) {
	r := redisclient.Start(t)
	rng := rand.New(rand.NewPCG(5, 5))
	scores := []string{"0", "1", "-1", "inf", "-inf", "0.1", "0.2", "1e308", "-3"}
	weights := []string{"1", "0", "-1", "2", "inf", "-inf", "0.5"}
	for step := range 400 {
		var ins []ZInput
		keys := []string{}
		for k := range 3 {
			key := fmt.Sprint("src", k)
			r.Do(t, "DEL", key)
			keys = append(keys, key)
			if k == 2 && step%3 == 0 {
				s := NewSet()
				for range rng.IntN(6) {
					m := fmt.Sprint("m", rng.IntN(8))
					s.Add([]byte(m))
					r.Do(t, "SADD", key, m)
				}
				ins = append(ins, ZInput{S: s, Weight: 1})
				continue
			}
			z := NewZSet()
			for range rng.IntN(7) {
				m, sc := fmt.Sprint("m", rng.IntN(8)), scores[rng.IntN(len(scores))]
				f, _ := ParseScore([]byte(sc))
				z.Add([]byte(m), f, ZAddFlags{})
				r.Do(t, "ZADD", key, sc, m)
			}
			ins = append(ins, ZInput{Z: z, Weight: 1})
		}
		args := []string{"3", keys[0], keys[1], keys[2], "WEIGHTS"}
		for i := range ins {
			w := weights[rng.IntN(len(weights))]
			ins[i].Weight, _ = ParseScore([]byte(w))
			args = append(args, w)
		}
		agg := Aggregate(rng.IntN(3))
		args = append(args, "AGGREGATE", []string{"SUM", "MIN", "MAX"}[agg], "WITHSCORES")
		expectSame(t, fmt.Sprint("ZUNION ", args), entriesReply(ZUnion(ins, agg).All()), r.Do(t, append([]string{"ZUNION"}, args...)...))
		expectSame(t, fmt.Sprint("ZINTER ", args), entriesReply(ZInter(ins, agg).All()), r.Do(t, append([]string{"ZINTER"}, args...)...))
		for i := range ins {
			ins[i].Weight = 1
		}
		expectSame(t, "ZDIFF", entriesReply(ZDiff(ins).All()), r.Do(t, "ZDIFF", "3", keys[0], keys[1], keys[2], "WITHSCORES"))
		r.Do(t, "ZUNIONSTORE", "dst", "3", keys[0], keys[1], keys[2], "WEIGHTS", "-1", "1", "1")
		ins[0].Weight = -1
		stored := ZUnion(ins, AggSum)
		stored.Shrink()
		expectSame(t, "ZUNIONSTORE encoding", stored.Encoding(), encodingOr(t, r, "dst", "listpack"))
		expectSame(t, "ZUNIONSTORE", entriesReply(stored.All()), r.Do(t, "ZRANGE", "dst", "0", "-1", "WITHSCORES"))
	}
}
