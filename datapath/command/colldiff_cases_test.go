package command

import (
	"strconv"
	"strings"
	"testing"
)

// bigHash returns HSET arguments making a hashtable-encoded hash.
func bigArgs(cmd, key string, n int, pairs bool) []string {
	a := []string{cmd, key}
	for i := range n {
		a = append(a, "m"+strconv.Itoa(i))
		if pairs {
			a = append(a, strconv.Itoa(i))
		}
	}
	return a
}

var typeCases = []ccase{
	{"type and wrongtype", []cstep{
		ex("HSET", "h", "f", "v"), ex("SADD", "s", "a"), ex("SET", "str", "1"),
		ex("TYPE", "h"), ex("TYPE", "s"), ex("TYPE", "str"), ex("TYPE", "none"),
		ex("GET", "h"), ex("GETDEL", "h"), ex("GETEX", "h", "EX", "10"), ex("GETEX", "h", "FOO"), ex("GETSET", "h", "x"),
		ex("SET", "h", "x", "GET"), ex("INCR", "h"), ex("DECR", "s"), ex("INCRBY", "h", "2"), ex("INCRBY", "h", "x"),
		ex("DECRBY", "h", "1"), ex("INCRBYFLOAT", "h", "1.5"), ex("INCRBYFLOAT", "h", "x"), ex("APPEND", "h", "x"),
		ex("STRLEN", "s"), ex("GETRANGE", "h", "0", "1"), ex("GETRANGE", "h", "x", "1"), ex("SETRANGE", "h", "0", "x"),
		ex("SETRANGE", "h", "-1", "x"), ex("SETNX", "h", "x"), ex("MSETNX", "h", "1", "n", "2"),
		ex("HGET", "str", "f"), ex("SADD", "str", "x"), ex("SISMEMBER", "h", "f"), ex("HGET", "s", "a"),
		ex("HSET", "s", "f", "v"), ex("SINTER", "s", "h"), ex("SUNIONSTORE", "d", "s", "str"), ex("EXISTS", "h", "s", "str", "x"),
		ex("TYPE", "h"), ex("DBSIZE"),
	}},
	{"set over collections", []cstep{
		ex("HSET", "h", "f", "v"), ex("SET", "h", "plain"), ex("TYPE", "h"), ex("GET", "h"),
		ex("SADD", "s", "1"), ex("MSET", "s", "x", "t", "y"), ex("TYPE", "s"), ex("SADD", "s2", "1"),
		ex("SETNX", "s2", "z"), ex("TYPE", "s2"), ex("SETEX", "s2", "100", "v"), ex("TYPE", "s2"),
		ex("HSET", "h2", "f", "v"), ex("EXPIRE", "h2", "100"), ex("SET", "h2", "v", "KEEPTTL"), ex("TTL", "h2"),
	}},
	{"keys on collections", []cstep{
		ex("HSET", "h", "f", "v"), ex("SADD", "s", "a", "b"), ex("EXPIRE", "h", "100"), ex("TTL", "h"), ex("PTTL", "s"),
		ex("EXPIRE", "h", "200", "GT"), ex("TTL", "h"), ex("EXPIRE", "h", "50", "LT"), ex("TTL", "h"), ex("PERSIST", "h"),
		ex("TTL", "h"), ex("PERSIST", "h"), ex("PEXPIREAT", "s", "4102444800000"), ex("PEXPIRETIME", "s"), ex("EXPIRETIME", "h"),
		ex("EXPIRE", "s", "0"), ex("EXISTS", "s"), ex("TYPE", "s"), ex("DEL", "h", "s", "x"), ex("EXISTS", "h"), ex("DBSIZE"),
		ex("SADD", "a", "1"), ex("HSET", "b", "f", "1"), ex("SET", "c", "1"), so("KEYS", "*"),
		ex("SCAN", "0", "TYPE", "hash"), ex("SCAN", "0", "TYPE", "SET"), ex("SCAN", "0", "TYPE", "string"),
		ex("SCAN", "0", "TYPE", "nosuch"), ex("UNLINK", "a", "b"), ex("DBSIZE"), ex("FLUSHALL"), ex("DBSIZE"),
		ex("HSET", "x", "f", "v"), ex("PEXPIRE", "x", "1"),
	}},
}

var hashCases = []ccase{
	{"hset hget", []cstep{
		ex("HSET", "h", "f", "v"), ex("HSET", "h", "f", "w", "g", "x"), ex("HSET", "h"), ex("HSET", "h", "f"),
		ex("HSET", "h", "f", "v", "g"), ex("HMSET", "h", "a", "1"), ex("HMSET", "h", "a"), ex("HGET", "h", "f"),
		ex("HGET", "h", "nope"), ex("HGET", "none", "f"), ex("HMGET", "h", "f", "nope", "a"), ex("HMGET", "none", "a", "b"),
		ex("HSETNX", "h", "f", "z"), ex("HSETNX", "h", "new", "z"), ex("HSETNX", "n2", "f", "z"), ex("HGETALL", "h"),
		ex("HKEYS", "h"), ex("HVALS", "h"), ex("HLEN", "h"), ex("HLEN", "none"), ex("HGETALL", "none"), ex("HKEYS", "none"),
		ex("HVALS", "none"), ex("HEXISTS", "h", "f"), ex("HEXISTS", "h", "zz"), ex("HEXISTS", "none", "f"),
		ex("HSTRLEN", "h", "f"), ex("HSTRLEN", "h", "zz"), ex("HSTRLEN", "none", "zz"), ex("HSET", "h", "", ""), ex("HGET", "h", ""),
		ex("HSET", "h", "bin\x00\r\n", "v\x00"), ex("HGETALL", "h"), ex("HGET"), ex("HMGET", "h"), ex("HLEN", "h", "x"),
	}},
	{"hdel", []cstep{
		ex("HDEL", "h", "f"), ex("HSET", "h", "a", "1", "b", "2", "c", "3"), ex("HDEL", "h", "a", "a", "x"),
		ex("HGETALL", "h"), ex("HDEL", "h", "b", "c", "d"), ex("EXISTS", "h"), ex("TYPE", "h"), ex("HDEL", "h"),
		ex("HSET", "h", "x", "y"), ex("HDEL", "h", "x", "x"), ex("HLEN", "h"),
	}},
	{"hincrby", []cstep{
		ex("HINCRBY", "h", "f", "5"), ex("HINCRBY", "h", "f", "-7"), ex("HINCRBY", "h", "f", "x"), ex("HINCRBY", "h", "f", "1.5"),
		ex("HSET", "h", "s", "abc", "big", "9223372036854775807", "sp", " 1"), ex("HINCRBY", "h", "s", "1"),
		ex("HINCRBY", "h", "big", "1"), ex("HINCRBY", "h", "big", "-1"), ex("HINCRBY", "h", "sp", "1"),
		ex("HINCRBY", "n", "f", "9223372036854775807"), ex("HINCRBY", "n", "f", "1"), ex("HGETALL", "h"),
		ex("HINCRBYFLOAT", "h", "fl", "1.5"), ex("HINCRBYFLOAT", "h", "fl", "0.1"), ex("HINCRBYFLOAT", "h", "fl", "-1.6"),
		ex("HINCRBYFLOAT", "h", "fl", "x"), ex("HINCRBYFLOAT", "h", "fl", "inf"), ex("HINCRBYFLOAT", "h", "s", "1"),
		ex("HINCRBYFLOAT", "h", "f", "1e3"), ex("HINCRBYFLOAT", "h", "big", "1"), ex("HINCRBYFLOAT", "h", "e", "5.0e3"), ex("HGETALL", "h"),
		ex("HINCRBYFLOAT", "h", "fl", "1.7976931348623157e308"), ex("HGET", "h", "fl"), ex("HINCRBYFLOAT", "none", "f", "nan"),
		ex("HINCRBYFLOAT", "h", "fl", " 1"), ex("HINCRBY", "h", "f"),
	}},
	{"hrandfield", []cstep{
		ex("HRANDFIELD", "none"), ex("HRANDFIELD", "none", "3"), ex("HRANDFIELD", "none", "3", "WITHVALUES"),
		ex("HSET", "h", "a", "1", "b", "2", "c", "3"), ex("HRANDFIELD", "h", "3"), ex("HRANDFIELD", "h", "5", "WITHVALUES"),
		ln("HRANDFIELD", "h"), ln("HRANDFIELD", "h", "2"), ln("HRANDFIELD", "h", "-5"), ln("HRANDFIELD", "h", "-5", "WITHVALUES"),
		ex("HRANDFIELD", "h", "0"), ex("HRANDFIELD", "h", "0", "WITHVALUES"), ex("HRANDFIELD", "h", "x"),
		ex("HRANDFIELD", "h", "1", "FOO"), ex("HRANDFIELD", "h", "1", "WITHVALUES", "x"),
		ex("HRANDFIELD", "h", "-9223372036854775808"), ex("HRANDFIELD", "h", "-9223372036854775807", "WITHVALUES"),
		ex("HRANDFIELD", "h", "4611686018427387904", "WITHVALUES"), ln("HRANDFIELD", "h", "2", "withvalues"),
	}},
	{"hscan and big hashes", []cstep{
		ex("HSCAN", "none", "0"), ex("HSCAN", "none", "x"), ex("HSCAN", "none", "0", "BAD"),
		ex("HSET", "h", "a", "1", "b", "2", "ab", "3"), ex("HSCAN", "h", "0"), ex("HSCAN", "h", "0", "MATCH", "a*"),
		ex("HSCAN", "h", "0", "COUNT", "1"), ex("HSCAN", "h", "0", "COUNT", "0"), ex("HSCAN", "h", "0", "COUNT", "x"),
		ex("HSCAN", "h", "0", "TYPE", "hash"), ex("HSCAN", "h", "0", "MATCH"), ex("HSCAN", "h", "x"),
		ex(bigArgs("HSET", "big", 600, true)...), ex("HLEN", "big"), ex("HGET", "big", "m599"),
		ex("HSET", "long", "f", strings.Repeat("x", 65)), ex("HGET", "long", "f"), so("HKEYS", "big"),
		ex("HDEL", "big", "m0", "m599"), ex("HLEN", "big"), ex("HEXISTS", "big", "m0"),
	}},
}

var setCases = []ccase{
	{"sadd srem", []cstep{
		ex("SADD", "s", "1", "2", "3", "2"), ex("SADD", "s", "3", "4"), ex("SMEMBERS", "s"), ex("SCARD", "s"),
		ex("SISMEMBER", "s", "2"), ex("SISMEMBER", "s", "9"), ex("SISMEMBER", "none", "9"), ex("SMISMEMBER", "s", "1", "9", "4"),
		ex("SMISMEMBER", "none", "1"), ex("SREM", "s", "1", "9", "1"), ex("SMEMBERS", "s"), ex("SADD", "s", "x"),
		so("SMEMBERS", "s"), ex("SCARD", "s"), ex("SREM", "s", "2", "3", "4", "x"), ex("EXISTS", "s"), ex("SMEMBERS", "none"),
		ex("SCARD", "none"), ex("SREM", "none", "a"), ex("SADD", "s"), ex("SREM", "s"), ex("SMISMEMBER", "s"),
		ex("SADD", "n", "-5", "0", "10", "007", "+1", "-0"), so("SMEMBERS", "n"), ex("SADD", "i", "-5", "0", "10"), ex("SMEMBERS", "i"),
	}},
	{"srandmember spop", []cstep{
		ex("SRANDMEMBER", "none"), ex("SRANDMEMBER", "none", "2"), ex("SPOP", "none"), ex("SPOP", "none", "2"),
		ex("SADD", "s", "1", "2", "3"), ex("SRANDMEMBER", "s", "3"), ex("SRANDMEMBER", "s", "10"), ln("SRANDMEMBER", "s"),
		ln("SRANDMEMBER", "s", "2"), ln("SRANDMEMBER", "s", "-5"), ex("SRANDMEMBER", "s", "0"), ex("SRANDMEMBER", "s", "x"),
		ex("SRANDMEMBER", "s", "1", "2"), ex("SRANDMEMBER", "s", "-9223372036854775808"), ex("SPOP", "s", "-1"),
		ex("SPOP", "s", "x"), ex("SPOP", "s", "0"), ex("SPOP", "s", "1", "2"), ln("SPOP", "s"), ln("SPOP", "s", "1"),
		ln("SPOP", "s", "5"), ex("EXISTS", "s"), ex("SADD", "t", "a", "b"), so("SPOP", "t", "2"), ex("EXISTS", "t"),
	}},
	{"smove", []cstep{
		ex("SADD", "a", "1", "2"), ex("SADD", "b", "x"), ex("SMOVE", "a", "b", "1"), ex("SMOVE", "a", "b", "9"),
		ex("SMEMBERS", "a"), so("SMEMBERS", "b"), ex("SMOVE", "a", "a", "2"), ex("SMOVE", "a", "a", "9"),
		ex("SMOVE", "a", "c", "2"), ex("EXISTS", "a"), ex("SMEMBERS", "c"), ex("SMOVE", "none", "c", "2"),
		ex("SET", "str", "v"), ex("SMOVE", "str", "c", "2"), ex("SMOVE", "c", "str", "2"), ex("SMOVE", "none", "str", "2"),
		ex("SMOVE", "c", "b", "2"), ex("SMOVE", "b", "b", "2"), so("SMEMBERS", "b"),
	}},
	{"set algebra", []cstep{
		ex("SADD", "a", "1", "2", "3", "4"), ex("SADD", "b", "3", "4", "5"), ex("SADD", "c", "4", "x"),
		ex("SINTER", "a", "b"), ex("SINTER", "a", "b", "c"), ex("SINTER", "a", "none"), ex("SINTER", "none"),
		ex("SUNION", "a", "b"), so("SUNION", "a", "c"), ex("SUNION", "none"), ex("SDIFF", "a", "b"), ex("SDIFF", "a", "b", "c"),
		ex("SDIFF", "none", "a"), ex("SDIFF", "a", "none"), ex("SINTERSTORE", "d", "a", "b"), ex("SMEMBERS", "d"),
		ex("SUNIONSTORE", "d", "a", "b"), ex("SMEMBERS", "d"), ex("SDIFFSTORE", "d", "a", "b"), ex("SMEMBERS", "d"),
		ex("SINTERSTORE", "d", "a", "none"), ex("EXISTS", "d"), ex("SET", "str", "v"), ex("SUNIONSTORE", "str", "a"),
		ex("TYPE", "str"), ex("HSET", "h", "f", "v"), ex("SINTERSTORE", "h", "a", "b"), ex("TYPE", "h"),
		ex("SDIFFSTORE", "a", "a", "b"), ex("SMEMBERS", "a"), ex("SINTER", "a", "str"), ex("SINTERSTORE", "d"),
		ex("SINTERCARD", "2", "a", "b"), ex("SINTERCARD", "1", "b"), ex("SINTERCARD", "2", "b", "c", "LIMIT", "1"),
		ex("SINTERCARD", "3", "a", "b", "c", "LIMIT", "0"), ex("SINTERCARD", "0", "a"), ex("SINTERCARD", "x", "a"),
		ex("SINTERCARD", "3", "a", "b"), ex("SINTERCARD", "1", "a", "LIMIT", "-1"), ex("SINTERCARD", "1", "a", "LIMIT", "x"),
		ex("SINTERCARD", "1", "a", "FOO", "1"), ex("SINTERCARD", "1", "a", "LIMIT"), ex("SINTERCARD", "1", "none"),
		ex("SINTERCARD", "2", "a", "str"), ex("SINTERCARD", "-1", "a"),
	}},
	{"sscan and big sets", []cstep{
		ex("SSCAN", "none", "0"), ex("SADD", "s", "a", "b", "c"), ln("SSCAN", "s", "0"), ex("SSCAN", "s", "0", "MATCH", "z*"),
		ex("SADD", "i", "1", "2", "3"), ex("SSCAN", "i", "0", "COUNT", "1"), ex("SSCAN", "i", "0", "COUNT", "0"),
		ex("SSCAN", "i", "x"), ex(bigArgs("SADD", "big", 600, false)...), ex("SCARD", "big"), ex("SISMEMBER", "big", "m599"),
		ex(bigArgs("SADD", "ints", 0, false)...), ex("SREM", "big", "m1", "m2"), ex("SCARD", "big"),
	}},
}

func TestHashesMatchRedis(t *testing.T) { runCollCases(t, hashCases) }
func TestSetsMatchRedis(t *testing.T)   { runCollCases(t, setCases) }
func TestTypesMatchRedis(t *testing.T)  { runCollCases(t, typeCases) }
