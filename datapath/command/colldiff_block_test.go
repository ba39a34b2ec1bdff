package command

import "testing"

// Blocking commands that need not block, their errors, and short timeouts
// (this harness replies a timeout at once where Redis waits for it).
var blockCases = []ccase{
	{"blocking without blocking", []cstep{
		ex("RPUSH", "a", "1", "2", "3"), ex("BLPOP", "none", "a", "0"), ex("BRPOP", "a", "0.5"), ex("BLPOP", "none", "0.01"),
		ex("BLPOP", "a", "x"), ex("BLPOP", "a", "-1"), ex("BLPOP", "a", "1e400"), ex("BLPOP", "a", ""), ex("BLPOP", "a", " 1"),
		ex("BLPOP", "a", "inf"), ex("BLPOP", "a", "0x10"), ex("BLPOP", "a"), ex("RPUSH", "a", "4", "5", "6"), ex("SET", "s", "v"), ex("BLPOP", "s", "a", "0"),
		ex("BLPOP", "a", "s", "0"), ex("BLMOVE", "a", "b", "LEFT", "RIGHT", "0"), ex("BLMOVE", "a", "b", "UP", "RIGHT", "0"),
		ex("BLMOVE", "none", "b", "LEFT", "RIGHT", "0.01"), ex("BLMOVE", "a", "b", "LEFT", "RIGHT", "x"), ex("BRPOPLPUSH", "b", "c", "0"),
		ex("BRPOPLPUSH", "none", "c", "0.01"), ex("BRPOPLPUSH", "s", "c", "0"), ex("LRANGE", "c", "0", "-1"),
		ex("BLMPOP", "0", "2", "none", "c", "LEFT"), ex("BLMPOP", "0.01", "1", "none", "LEFT", "COUNT", "2"), ex("BLMPOP", "x", "1", "c", "LEFT"),
		ex("BLMPOP", "0", "0", "c", "LEFT"), ex("BLMPOP", "0", "1", "c", "UP"), ex("ZADD", "z", "1", "a", "2", "b"),
		ex("BZPOPMIN", "none", "z", "0"), ex("BZPOPMAX", "z", "0"), ex("BZPOPMIN", "none", "0.01"), ex("BZPOPMIN", "s", "0"),
		ex("BZPOPMIN", "z", "-1"), ex("ZADD", "z", "3", "c", "4", "d"), ex("BZMPOP", "0", "1", "z", "MAX", "COUNT", "2"),
		ex("BZMPOP", "0.01", "1", "none", "MIN"), ex("BZMPOP", "0", "1", "z", "FOO"), ex("EXISTS", "z"),
		ex("MULTI"), ex("BLPOP", "none", "0"), ex("BZPOPMIN", "none", "0"), ex("BLMOVE", "none", "x", "LEFT", "LEFT", "0"), ex("EXEC"),
	}},
}

func TestBlockingMatchRedis(t *testing.T) { runCollCases(t, blockCases) }
