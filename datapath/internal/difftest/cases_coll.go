package difftest

// Collection cases: hashes, sets, sorted sets and lists, with keys tagged {t} where a command
// takes several, so that a server spreading slots over loops runs them on
// one loop (keys on different loops get CROSSSLOT, as Redis Cluster's).
var collCases = []Case{
	{"hash basics", []Step{
		X("HSET", "h", "a", "1", "b", "2"), X("HGET", "h", "a"), X("HMGET", "h", "a", "x", "b"), X("HGETALL", "h"),
		X("HSETNX", "h", "a", "9"), X("HINCRBY", "h", "a", "5"), X("HINCRBYFLOAT", "h", "b", "0.5"), X("HKEYS", "h"),
		X("HVALS", "h"), X("HLEN", "h"), X("HSTRLEN", "h", "b"), X("HEXISTS", "h", "b"), X("HDEL", "h", "a", "x"),
		X("HSCAN", "h", "0"), X("HRANDFIELD", "h", "5", "WITHVALUES"), X("HDEL", "h", "b"), X("EXISTS", "h"),
		X("HMSET", "h", "f", "v"), X("TYPE", "h"), X("GET", "h"), X("HSET", "h", "odd"), X("HINCRBY", "h", "f", "1"),
	}},
	{"set basics", []Step{
		X("SADD", "s", "3", "1", "2"), X("SMEMBERS", "s"), X("SISMEMBER", "s", "1"), X("SMISMEMBER", "s", "1", "7"),
		X("SCARD", "s"), X("SREM", "s", "1"), X("SRANDMEMBER", "s", "5"), X("SSCAN", "s", "0"), X("SPOP", "s", "0"),
		X("SADD", "{t}a", "1", "2", "3"), X("SADD", "{t}b", "2", "3", "4"), X("SINTER", "{t}a", "{t}b"),
		X("SUNION", "{t}a", "{t}b"), X("SDIFF", "{t}a", "{t}b"), X("SINTERCARD", "2", "{t}a", "{t}b"),
		X("SINTERSTORE", "{t}c", "{t}a", "{t}b"), X("SMEMBERS", "{t}c"), X("SUNIONSTORE", "{t}c", "{t}a", "{t}b"),
		X("SDIFFSTORE", "{t}c", "{t}a", "{t}b"), X("SMEMBERS", "{t}c"), X("SMOVE", "{t}a", "{t}b", "1"),
		X("SMEMBERS", "{t}b"), X("TYPE", "s"), X("INCR", "s"), X("MGET", "s", "{t}a"), X("DEL", "s", "{t}a", "{t}b", "{t}c"),
		X("DBSIZE"),
	}},
	{"sorted set basics", []Step{
		X("ZADD", "z", "1", "a", "2", "b", "3", "c"), X("ZRANGE", "z", "0", "-1", "WITHSCORES"), X("ZINCRBY", "z", "2", "a"),
		X("ZSCORE", "z", "a"), X("ZRANK", "z", "a"), X("ZRANGEBYSCORE", "z", "(1", "+inf"), X("ZPOPMIN", "z"), X("ZCARD", "z"),
		X("ZADD", "{t}x", "1", "m"), X("ZUNIONSTORE", "{t}y", "2", "{t}x", "{t}x"), X("ZRANGE", "{t}y", "0", "-1", "WITHSCORES"),
		X("ZMPOP", "2", "{t}n", "{t}y", "MAX"), X("ZADD", "z", "x", "a"), X("LPUSH", "z", "a"),
	}},
	{"list basics", []Step{
		X("RPUSH", "l", "a", "b", "c"), X("LPUSH", "l", "z"), X("LRANGE", "l", "0", "-1"), X("LPOP", "l"), X("RPOP", "l", "2"),
		X("LINSERT", "l", "BEFORE", "a", "x"), X("LSET", "l", "0", "y"), X("LINDEX", "l", "0"), X("LREM", "l", "0", "a"),
		X("LLEN", "l"), X("RPUSH", "{t}a", "1", "2"), X("LMOVE", "{t}a", "{t}b", "LEFT", "LEFT"), X("RPOPLPUSH", "{t}a", "{t}b"),
		X("LRANGE", "{t}b", "0", "-1"), X("LMPOP", "2", "{t}a", "{t}b", "RIGHT", "COUNT", "5"), X("LPOS", "l", "y"), X("SADD", "l", "x"),
	}},
	{"collections and keys", []Step{
		X("HSET", "h", "f", "v"), X("SADD", "s", "m"), X("SET", "str", "v"), X("EXPIRE", "h", "100"), N("TTL", "h"),
		X("PERSIST", "h"), X("TTL", "h"), Scan("TYPE", "hash"), Scan("TYPE", "set"), Scan("TYPE", "string"),
		X("SET", "h", "x"), X("TYPE", "h"), X("DBSIZE"), X("FLUSHALL"), X("DBSIZE"), X("EXISTS", "s"),
	}},
}

func init() { Cases = append(Cases, collCases...) }
