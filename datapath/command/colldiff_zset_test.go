package command

import (
	"strconv"
	"strings"
	"testing"
)

var zsetCases = []ccase{
	{"zadd", []cstep{
		ex("ZADD", "z", "1", "a", "2", "b"), ex("ZADD", "z", "NX", "5", "a", "3", "c"), ex("ZADD", "z", "XX", "5", "a", "4", "d"),
		ex("ZADD", "z", "CH", "6", "a", "2", "b", "1", "e"), ex("ZADD", "z", "GT", "CH", "1", "a", "9", "b"),
		ex("ZADD", "z", "LT", "CH", "0", "a", "10", "b"), ex("ZADD", "z", "NX", "XX", "1", "a"), ex("ZADD", "z", "GT", "LT", "1", "a"),
		ex("ZADD", "z", "NX", "GT", "1", "a"), ex("ZADD", "z", "INCR", "1", "a", "2", "b"), ex("ZADD", "z", "INCR", "2.5", "a"),
		ex("ZADD", "z", "INCR", "NX", "1", "a"), ex("ZADD", "z", "XX", "INCR", "1", "nope"), ex("ZADD", "z", "1"), ex("ZADD", "z", "x", "a"),
		ex("ZADD", "z", "nan", "a"), ex("ZADD", "z", "inf", "i", "-inf", "j"), ex("ZADD", "z", "INCR", "-inf", "i"),
		ex("ZADD", "z", "1", "a", "x", "b"), ex("ZADD", "z", "FOO", "1", "a"), ex("ZRANGE", "z", "0", "-1", "WITHSCORES"),
		ex("ZADD", "none", "XX", "1", "a"), ex("EXISTS", "none"), ex("ZINCRBY", "z", "1.5", "a"), ex("ZINCRBY", "z", "x", "a"),
		ex("ZINCRBY", "new", "-2", "m"), ex("ZSCORE", "z", "a"), ex("ZSCORE", "z", "nope"), ex("ZSCORE", "none", "a"),
		ex("ZMSCORE", "z", "a", "nope", "i"), ex("ZMSCORE", "none", "a"), ex("ZCARD", "z"), ex("ZCARD", "none"),
		ex("ZADD", "z", "1e-320", "tiny", "0x10", "hex", "-0", "neg0"), ex("ZSCORE", "z", "hex"), ex("ZSCORE", "z", "neg0"),
		ex("ZADD", "z", "0.1", "pt"), ex("ZSCORE", "z", "pt"), ex("ZADD", "z", " 1", "sp"), ex("ZADD", "z", "1e400", "big"),
	}},
	{"zrem zrank zcount", []cstep{
		ex("ZADD", "z", "1", "a", "2", "b", "3", "c", "3", "d"), ex("ZRANK", "z", "c"), ex("ZREVRANK", "z", "c"),
		ex("ZRANK", "z", "nope"), ex("ZRANK", "none", "a"), ex("ZCOUNT", "z", "2", "3"), ex("ZCOUNT", "z", "(2", "+inf"),
		ex("ZCOUNT", "z", "-inf", "(1"), ex("ZCOUNT", "z", "x", "1"), ex("ZCOUNT", "none", "0", "1"), ex("ZCOUNT", "z", "3", "1"),
		ex("ZLEXCOUNT", "z", "-", "+"), ex("ZLEXCOUNT", "z", "[b", "(d"), ex("ZLEXCOUNT", "z", "b", "d"), ex("ZLEXCOUNT", "none", "-", "+"),
		ex("ZREM", "z", "a", "nope", "a"), ex("ZREM", "z", "b", "c", "d"), ex("EXISTS", "z"), ex("ZREM", "none", "a"),
	}},
	{"zrange family", []cstep{
		ex("ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e"), ex("ZRANGE", "z", "0", "-1"), ex("ZRANGE", "z", "1", "2", "WITHSCORES"),
		ex("ZRANGE", "z", "-2", "100"), ex("ZRANGE", "z", "3", "1"), ex("ZRANGE", "z", "0", "-1", "REV"), ex("ZRANGE", "z", "0", "0", "REV", "WITHSCORES"),
		ex("ZRANGE", "z", "(1", "3", "BYSCORE"), ex("ZRANGE", "z", "+inf", "-inf", "BYSCORE", "REV", "LIMIT", "1", "2", "WITHSCORES"),
		ex("ZRANGE", "z", "[a", "(c", "BYLEX"), ex("ZRANGE", "z", "+", "-", "BYLEX", "REV", "LIMIT", "0", "3"),
		ex("ZRANGE", "z", "0", "1", "LIMIT", "0", "1"), ex("ZRANGE", "z", "-", "+", "BYLEX", "WITHSCORES"), ex("ZRANGE", "z", "x", "1"),
		ex("ZRANGE", "z", "a", "b", "BYSCORE"), ex("ZRANGE", "z", "a", "b", "BYLEX"), ex("ZRANGE", "z", "0", "1", "FOO"),
		ex("ZRANGE", "z", "0", "1", "BYSCORE", "BYLEX"), ex("ZRANGE", "z", "0", "5", "BYSCORE", "LIMIT", "x", "1"),
		ex("ZRANGE", "z", "0", "5", "BYSCORE", "LIMIT", "-1", "2"), ex("ZRANGE", "z", "0", "5", "BYSCORE", "LIMIT", "1", "-1"),
		ex("ZRANGE", "z", "0", "5", "BYSCORE", "LIMIT", "1"), ex("ZRANGE", "none", "0", "-1"), ex("ZREVRANGE", "z", "0", "1", "WITHSCORES"),
		ex("ZREVRANGE", "z", "0", "1", "REV"), ex("ZRANGEBYSCORE", "z", "2", "4", "WITHSCORES", "LIMIT", "1", "5"),
		ex("ZRANGEBYSCORE", "z", "2", "4", "BYSCORE"), ex("ZREVRANGEBYSCORE", "z", "4", "2"), ex("ZREVRANGEBYSCORE", "z", "2", "4"),
		ex("ZRANGEBYLEX", "z", "-", "[c"), ex("ZREVRANGEBYLEX", "z", "[c", "-", "LIMIT", "1", "1"), ex("ZRANGEBYLEX", "z", "-", "+", "WITHSCORES"),
		ex("ZRANGESTORE", "d", "z", "1", "3"), ex("ZRANGE", "d", "0", "-1", "WITHSCORES"), ex("ZRANGESTORE", "d", "z", "(4", "+inf", "BYSCORE"),
		ex("ZRANGESTORE", "d", "none", "0", "-1"), ex("EXISTS", "d"), ex("ZRANGESTORE", "d", "z", "0", "-1", "WITHSCORES"),
		ex("SET", "s", "v"), ex("ZRANGESTORE", "s", "z", "0", "0"), ex("TYPE", "s"), ex("ZRANGE", "s", "0", "-1"),
		ex("ZRANGESTORE", "d", "s", "0", "-1"), ex("ZRANGE", "z", "0", "-1", "REV", "REV"),
	}},
	{"zremrange zpop zmpop", []cstep{
		ex("ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e", "6", "f"), ex("ZREMRANGEBYRANK", "z", "0", "0"),
		ex("ZREMRANGEBYSCORE", "z", "(5", "+inf"), ex("ZREMRANGEBYLEX", "z", "[b", "[b"), ex("ZRANGE", "z", "0", "-1"),
		ex("ZREMRANGEBYRANK", "z", "x", "1"), ex("ZREMRANGEBYSCORE", "z", "x", "1"), ex("ZREMRANGEBYLEX", "z", "x", "1"),
		ex("ZREMRANGEBYRANK", "none", "0", "1"), ex("ZPOPMIN", "z"), ex("ZPOPMAX", "z", "1"), ex("ZPOPMIN", "z", "0"),
		ex("ZPOPMIN", "z", "-1"), ex("ZPOPMIN", "z", "x"), ex("ZPOPMIN", "z", "1", "2"), ex("ZPOPMIN", "none"), ex("ZPOPMIN", "none", "3"),
		ex("ZADD", "z2", "1", "x", "2", "y"), ex("ZMPOP", "2", "none", "z2", "MIN"), ex("ZMPOP", "2", "none", "z2", "MAX", "COUNT", "5"),
		ex("ZMPOP", "1", "z2", "MIN"), ex("ZMPOP", "1", "z", "MAX", "COUNT", "10"), ex("EXISTS", "z"), ex("ZMPOP", "0", "z", "MIN"),
		ex("ZMPOP", "x", "z", "MIN"), ex("ZMPOP", "3", "z", "MIN"), ex("ZMPOP", "1", "z", "FOO"), ex("ZMPOP", "1", "z", "MIN", "COUNT", "0"),
		ex("ZMPOP", "1", "z", "MIN", "COUNT"), ex("ZMPOP", "1", "z", "MIN", "COUNT", "1", "x"), ex("ZMPOP", "1", "z"),
		ex("SET", "s", "v"), ex("ZMPOP", "1", "s", "MIN"), ex("ZPOPMIN", "s"),
	}},
	{"zrandmember zscan", []cstep{
		ex("ZRANDMEMBER", "none"), ex("ZRANDMEMBER", "none", "2"), ex("ZADD", "z", "1", "a", "2", "b", "3", "c"),
		ex("ZRANDMEMBER", "z", "5"), ex("ZRANDMEMBER", "z", "3", "WITHSCORES"), ln("ZRANDMEMBER", "z"), ln("ZRANDMEMBER", "z", "-4"),
		ln("ZRANDMEMBER", "z", "-4", "WITHSCORES"), ln("ZRANDMEMBER", "z", "2"), ex("ZRANDMEMBER", "z", "0"), ex("ZRANDMEMBER", "z", "x"),
		ex("ZRANDMEMBER", "z", "1", "FOO"), ex("ZSCAN", "z", "0"), ex("ZSCAN", "z", "0", "MATCH", "b*"), ex("ZSCAN", "none", "0"),
		ex("ZSCAN", "z", "x"), ex("ZSCAN", "z", "0", "COUNT", "0"),
	}},
	{"zunion zinter zdiff", []cstep{
		ex("ZADD", "a", "1", "x", "2", "y", "3", "z"), ex("ZADD", "b", "10", "y", "20", "z", "30", "w"), ex("SADD", "s", "x", "w", "q"),
		ex("ZUNION", "2", "a", "b"), ex("ZUNION", "2", "a", "b", "WITHSCORES"), ex("ZUNION", "3", "a", "b", "s", "WITHSCORES", "AGGREGATE", "MAX"),
		ex("ZUNION", "2", "a", "b", "WEIGHTS", "2", "0.5", "WITHSCORES"), ex("ZINTER", "2", "a", "b", "WITHSCORES"),
		ex("ZINTER", "2", "a", "b", "AGGREGATE", "MIN", "WITHSCORES"), ex("ZINTER", "2", "a", "s", "WITHSCORES"),
		ex("ZDIFF", "2", "a", "b", "WITHSCORES"), ex("ZDIFF", "2", "a", "b", "WEIGHTS", "1", "1"), ex("ZDIFF", "1", "none"),
		ex("ZUNION", "0", "a"), ex("ZUNION", "x", "a"), ex("ZUNION", "3", "a", "b"), ex("ZUNION", "2", "a", "b", "WEIGHTS", "1"),
		ex("ZUNION", "2", "a", "b", "WEIGHTS", "1", "x"), ex("ZUNION", "2", "a", "b", "AGGREGATE", "AVG"), ex("ZUNION", "2", "a", "b", "FOO"),
		ex("ZUNIONSTORE", "d", "2", "a", "b"), ex("ZRANGE", "d", "0", "-1", "WITHSCORES"), ex("ZINTERSTORE", "d", "2", "a", "b", "WEIGHTS", "1", "2"),
		ex("ZRANGE", "d", "0", "-1", "WITHSCORES"), ex("ZDIFFSTORE", "d", "2", "a", "b"), ex("ZRANGE", "d", "0", "-1", "WITHSCORES"),
		ex("ZINTERSTORE", "d", "2", "a", "none"), ex("EXISTS", "d"), ex("ZUNIONSTORE", "d", "2", "a", "b", "WITHSCORES"),
		ex("HSET", "h", "f", "v"), ex("ZUNION", "2", "a", "h"), ex("ZUNIONSTORE", "h", "1", "a"), ex("TYPE", "h"),
		ex("ZINTERCARD", "2", "a", "b"), ex("ZINTERCARD", "2", "a", "b", "LIMIT", "1"), ex("ZINTERCARD", "0", "a"),
		ex("ZUNION", "1", "a", "WEIGHTS", "inf", "WITHSCORES"), ex("ZADD", "i", "inf", "m"), ex("ZINTER", "2", "i", "i", "WEIGHTS", "0", "1", "WITHSCORES"),
	}},
}

func TestZSetsMatchRedis(t *testing.T) { runCollCases(t, zsetCases) }

func bigZAdd(key string, n int) []string {
	a := []string{"ZADD", key}
	for i := range n {
		a = append(a, strconv.Itoa(i%50)+".5", "m"+strconv.Itoa(i))
	}
	return a
}

var bigZSetCases = []ccase{
	{"big zset", []cstep{
		ex(bigZAdd("z", 200)...), ex("ZCARD", "z"), ex("ZRANGE", "z", "0", "5", "WITHSCORES"), ex("ZRANK", "z", "m77"),
		ex("ZREVRANK", "z", "m77"), ex("ZRANGEBYSCORE", "z", "(10", "12", "LIMIT", "2", "3", "WITHSCORES"), ex("ZREM", "z", "m0", "m1"),
		ex("ZCOUNT", "z", "-inf", "+inf"), ex("ZADD", "z", "-0", "neg"), ex("ZSCORE", "z", "neg"), ex("ZPOPMAX", "z", "3"),
		ex("ZREMRANGEBYRANK", "z", "10", "-10"), ex("ZRANGE", "z", "0", "-1", "WITHSCORES"), ex("ZADD", "l", "-0", "n"), ex("ZSCORE", "l", "n"),
		ex("ZADD", "k", "1", strings.Repeat("x", 65)), ex("ZUNIONSTORE", "u", "2", "z", "k"), ex("ZCARD", "u"), ex("ZRANGE", "u", "-2", "-1"),
	}},
}

func TestBigZSetsMatchRedis(t *testing.T) { runCollCases(t, bigZSetCases) }
