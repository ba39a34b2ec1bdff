package difftest

// Collection cases: hashes, sets, sorted sets and lists, with keys tagged {t} where a command
// takes several, so that a server spreading slots over loops runs them on
// one loop (keys on different loops get CROSSSLOT, as Redis Cluster's).
// CollCases are in Cases too; servers run them again with their values
// cold (collections evicted to the store and fetched back).
var CollCases = []Case{
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

// Cold collections: every kind written, then read, written and dropped in
// later commands (by then a server with a tiny value budget has evicted
// it), with the commands that run on a cold key without its value (TYPE,
// EXISTS, TTL, DEL, SET over it) mixed in.
var coldCollCases = []Case{
	{"cold hash", []Step{
		X("HSET", "h", "a", "1", "b", "2", "c", "3"), X("TYPE", "h"), X("EXISTS", "h"), X("TTL", "h"), X("HGET", "h", "b"),
		X("HSET", "h", "d", "4"), X("HLEN", "h"), X("HGETALL", "h"), X("EXPIRE", "h", "1000"), N("TTL", "h"),
		X("HDEL", "h", "a"), X("HKEYS", "h"), X("PERSIST", "h"), X("TTL", "h"), X("GET", "h"), X("OBJECT", "ENCODING", "h"),
		X("HINCRBY", "h", "b", "10"), X("HMGET", "h", "b", "c", "x"), X("DEL", "h"), X("EXISTS", "h"), X("HGETALL", "h"),
		X("HSET", "h", "z", "9"), X("HGETALL", "h"), X("SET", "h", "str"), X("TYPE", "h"), X("GET", "h"),
	}},
	{"cold list", []Step{
		X("RPUSH", "l", "a", "b", "c"), X("TYPE", "l"), X("LPUSH", "l", "z"), X("LRANGE", "l", "0", "-1"), X("LINDEX", "l", "-1"),
		X("LSET", "l", "1", "y"), X("LRANGE", "l", "0", "-1"), X("LINSERT", "l", "AFTER", "y", "q"), X("LRANGE", "l", "0", "-1"),
		X("RPOP", "l"), X("LLEN", "l"), X("RPUSH", "{t}src", "1", "2"), X("LMOVE", "{t}src", "{t}dst", "LEFT", "RIGHT"),
		X("LRANGE", "{t}dst", "0", "-1"), X("LMOVE", "{t}src", "{t}dst", "LEFT", "RIGHT"), X("EXISTS", "{t}src"),
		X("LRANGE", "{t}dst", "0", "-1"), X("RENAME", "{t}dst", "{t}src"), X("LRANGE", "{t}src", "0", "-1"), X("TYPE", "{t}dst"),
		X("LPOP", "l", "10"), X("EXISTS", "l"), X("DEL", "{t}src"), X("DBSIZE"),
	}},
	{"cold set and sorted set", []Step{
		X("SADD", "s", "1", "2", "3"), X("SADD", "s2", "7", "8"), X("ZADD", "z", "1", "a", "2", "b"), X("TYPE", "s2"), X("TYPE", "z"),
		X("SMEMBERS", "s"), X("SADD", "s", "4"), X("SCARD", "s"), X("SISMEMBER", "s2", "8"), X("ZSCORE", "z", "b"),
		X("ZADD", "z", "5", "a"), X("ZRANGE", "z", "0", "-1", "WITHSCORES"), X("ZREM", "z", "b"), X("ZCARD", "z"),
		X("SADD", "{t}a", "1", "2"), X("SADD", "{t}b", "2", "3"), X("SUNION", "{t}a", "{t}b"), X("SINTERSTORE", "{t}c", "{t}a", "{t}b"),
		X("SMEMBERS", "{t}c"), X("COPY", "{t}a", "{t}d"), X("SMEMBERS", "{t}d"), X("SPOP", "s2", "5"), X("EXISTS", "s2"),
		X("SET", "z", "v", "GET"), X("DEL", "z"), X("SET", "s", "v", "GET"), X("SET", "s", "v"), X("GET", "s"), X("DBSIZE"),
	}},
}

func init() {
	CollCases = append(CollCases, coldCollCases...)
	Cases = append(Cases, CollCases...)
}
