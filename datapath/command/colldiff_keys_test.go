package command

import (
	"strings"
	"testing"
)

var keyCases = []ccase{
	{"touch rename copy", []cstep{
		ex("SET", "s", "v"), ex("HSET", "h", "f", "v"), ex("TOUCH", "s", "h", "none"), ex("RENAME", "none", "x"),
		ex("RENAME", "s", "s"), ex("RENAMENX", "s", "s"), ex("RENAME", "s", "s2"), ex("GET", "s2"), ex("EXISTS", "s"),
		ex("RENAME", "h", "h2"), ex("HGETALL", "h2"), ex("TYPE", "h"), ex("RENAMENX", "s2", "h2"), ex("RENAMENX", "s2", "s3"),
		ex("SET", "t", "v", "EX", "100"), ex("RENAME", "t", "h2"), ex("TYPE", "h2"), ex("TTL", "h2"), ex("RPUSH", "l", "a", "b"),
		ex("EXPIRE", "l", "50"), ex("RENAME", "l", "s3"), ex("LRANGE", "s3", "0", "-1"), ex("TTL", "s3"),
		ex("COPY", "s3", "c"), ex("LRANGE", "c", "0", "-1"), ex("TTL", "c"), ex("COPY", "s3", "c"), ex("COPY", "s3", "c", "REPLACE"),
		ex("RPUSH", "s3", "z"), ex("LRANGE", "c", "0", "-1"), ex("COPY", "s3", "s3"), ex("COPY", "none", "c"), ex("COPY", "s3", "c", "DB", "99"),
		ex("COPY", "s3", "c", "DB", "0", "REPLACE"), ex("COPY", "s3", "c", "FOO"), ex("COPY", "s3", "c", "DB", "x"),
		ex("ZADD", "z", "1", "a", "2", "b"), ex("SADD", "st", "1", "x"), ex("COPY", "z", "z2"), ex("ZRANGE", "z2", "0", "-1", "WITHSCORES"),
		ex("COPY", "st", "st2"), so("SMEMBERS", "st2"), ex("RENAME", "z", "st"), ex("TYPE", "st"), ex("RENAME"), ex("DBSIZE"),
	}},
	{"object encoding", []cstep{
		ex("SET", "i", "123"), ex("SET", "e", "hello"), ex("SET", "r", strings.Repeat("x", 45)), ex("OBJECT", "ENCODING", "i"),
		ex("OBJECT", "ENCODING", "e"), ex("OBJECT", "ENCODING", "r"), ex("OBJECT", "ENCODING", "none"), ex("OBJECT", "REFCOUNT", "i"),
		ex("OBJECT", "REFCOUNT", "e"), ex("SET", "big", "123456"), ex("OBJECT", "REFCOUNT", "big"), ex("OBJECT", "FREQ", "e"),
		ex("OBJECT", "IDLETIME", "e"), ex("HSET", "h", "f", "v"), ex("OBJECT", "ENCODING", "h"), ex(bigArgs("HSET", "hb", 513, true)...),
		ex("OBJECT", "ENCODING", "hb"), ex("SADD", "si", "1", "2"), ex("OBJECT", "ENCODING", "si"), ex("SADD", "si", "x"),
		ex("OBJECT", "ENCODING", "si"), ex("ZADD", "z", "1", "a"), ex("OBJECT", "ENCODING", "z"), ex("ZADD", "z", "2", strings.Repeat("m", 65)),
		ex("OBJECT", "ENCODING", "z"), ex("RPUSH", "l", "a"), ex("OBJECT", "ENCODING", "l"), ex("OBJECT", "ENCODING"),
		ex("OBJECT", "NOPE", "x"), ex("OBJECT", "ENCODING", "a", "b"), ln("MEMORY", "USAGE", "h"), ex("MEMORY", "USAGE", "none"),
		ln("MEMORY", "USAGE", "e", "SAMPLES", "5"), ex("MEMORY", "USAGE", "e", "SAMPLES", "x"), ex("MEMORY", "USAGE", "e", "FOO"),
	}},
}

func TestKeysMatchRedis(t *testing.T) { runCollCases(t, keyCases) }
