package command

import "testing"

var listCases = []ccase{
	{"push pop", []cstep{
		ex("LPUSH", "l", "a", "b", "c"), ex("RPUSH", "l", "x", "y"), ex("LRANGE", "l", "0", "-1"), ex("LPUSHX", "none", "a"),
		ex("RPUSHX", "none", "a"), ex("EXISTS", "none"), ex("LPUSHX", "l", "p"), ex("RPUSHX", "l", "q", "r"), ex("LLEN", "l"),
		ex("LLEN", "none"), ex("LPOP", "l"), ex("RPOP", "l"), ex("LPOP", "l", "2"), ex("RPOP", "l", "0"), ex("LPOP", "l", "-1"),
		ex("LPOP", "l", "x"), ex("LPOP", "l", "1", "2"), ex("LPOP", "none"), ex("LPOP", "none", "2"), ex("RPOP", "l", "100"),
		ex("EXISTS", "l"), ex("LPUSH", "l"), ex("SET", "s", "v"), ex("LPUSH", "s", "a"), ex("LPUSHX", "s", "a"), ex("LPOP", "s"),
		ex("LLEN", "s"), ex("RPUSH", "l", ""), ex("LPOP", "l"),
	}},
	{"lrange lindex lset", []cstep{
		ex("RPUSH", "l", "a", "b", "c", "d", "e"), ex("LRANGE", "l", "1", "2"), ex("LRANGE", "l", "-2", "100"), ex("LRANGE", "l", "3", "1"),
		ex("LRANGE", "l", "-100", "-90"), ex("LRANGE", "l", "x", "1"), ex("LRANGE", "none", "0", "-1"), ex("LINDEX", "l", "0"),
		ex("LINDEX", "l", "-1"), ex("LINDEX", "l", "5"), ex("LINDEX", "l", "x"), ex("LINDEX", "none", "x"), ex("LINDEX", "none", "0"),
		ex("LSET", "l", "0", "A"), ex("LSET", "l", "-1", "E"), ex("LSET", "l", "5", "z"), ex("LSET", "l", "x", "z"), ex("LSET", "none", "0", "z"),
		ex("LSET", "none", "x", "z"), ex("LRANGE", "l", "0", "-1"), ex("LRANGE", "l", "0", "9223372036854775807"),
	}},
	{"linsert lrem ltrim", []cstep{
		ex("RPUSH", "l", "a", "b", "a", "c", "a"), ex("LINSERT", "l", "BEFORE", "b", "x"), ex("LINSERT", "l", "after", "c", "y"),
		ex("LINSERT", "l", "BEFORE", "nope", "z"), ex("LINSERT", "l", "MIDDLE", "b", "z"), ex("LINSERT", "none", "BEFORE", "b", "z"),
		ex("LRANGE", "l", "0", "-1"), ex("LREM", "l", "1", "a"), ex("LREM", "l", "-1", "a"), ex("LRANGE", "l", "0", "-1"),
		ex("LREM", "l", "0", "a"), ex("LREM", "l", "x", "a"), ex("LREM", "none", "0", "a"), ex("LRANGE", "l", "0", "-1"),
		ex("RPUSH", "l", "1", "2", "3", "4"), ex("LTRIM", "l", "1", "-2"), ex("LRANGE", "l", "0", "-1"), ex("LTRIM", "l", "x", "1"),
		ex("LTRIM", "none", "0", "1"), ex("LTRIM", "l", "5", "1"), ex("EXISTS", "l"), ex("RPUSH", "m", "a", "b"), ex("LTRIM", "m", "0", "0"),
		ex("LRANGE", "m", "0", "-1"), ex("LTRIM", "m", "-1", "100"), ex("LRANGE", "m", "0", "-1"),
	}},
	{"lpos", []cstep{
		ex("RPUSH", "l", "a", "b", "c", "a", "b", "a"), ex("LPOS", "l", "a"), ex("LPOS", "l", "a", "RANK", "2"), ex("LPOS", "l", "a", "RANK", "-1"),
		ex("LPOS", "l", "a", "COUNT", "0"), ex("LPOS", "l", "a", "COUNT", "2", "RANK", "-1"), ex("LPOS", "l", "a", "MAXLEN", "3", "COUNT", "0"),
		ex("LPOS", "l", "z"), ex("LPOS", "l", "z", "COUNT", "1"), ex("LPOS", "none", "a"), ex("LPOS", "none", "a", "COUNT", "1"),
		ex("LPOS", "l", "a", "RANK", "0"), ex("LPOS", "l", "a", "RANK", "x"), ex("LPOS", "l", "a", "COUNT", "-1"), ex("LPOS", "l", "a", "COUNT", "x"),
		ex("LPOS", "l", "a", "MAXLEN", "-1"), ex("LPOS", "l", "a", "FOO"), ex("LPOS", "l", "a", "RANK"), ex("LPOS", "l", "a", "RANK", "-9223372036854775808"),
		ex("LPOS", "l", "a", "RANK", "5"), ex("LPOS", "l", "a", "RANK", "-2", "MAXLEN", "2"),
	}},
	{"lmove lmpop", []cstep{
		ex("RPUSH", "a", "1", "2", "3"), ex("LMOVE", "a", "b", "LEFT", "RIGHT"), ex("LMOVE", "a", "b", "RIGHT", "LEFT"),
		ex("LRANGE", "b", "0", "-1"), ex("LMOVE", "a", "a", "LEFT", "RIGHT"), ex("LRANGE", "a", "0", "-1"), ex("LMOVE", "a", "b", "UP", "LEFT"),
		ex("LMOVE", "none", "b", "LEFT", "LEFT"), ex("RPOPLPUSH", "a", "b"), ex("EXISTS", "a"), ex("LRANGE", "b", "0", "-1"),
		ex("RPOPLPUSH", "b", "b"), ex("LRANGE", "b", "0", "-1"), ex("SET", "s", "v"), ex("LMOVE", "b", "s", "LEFT", "LEFT"),
		ex("LMOVE", "s", "b", "LEFT", "LEFT"), ex("RPOPLPUSH", "none", "s"), ex("LRANGE", "b", "0", "-1"),
		ex("LMPOP", "2", "none", "b", "LEFT"), ex("LMPOP", "1", "b", "RIGHT", "COUNT", "10"), ex("LMPOP", "1", "b", "LEFT"),
		ex("LMPOP", "0", "b", "LEFT"), ex("LMPOP", "2", "b", "LEFT"), ex("LMPOP", "1", "b", "UP"), ex("LMPOP", "1", "b", "LEFT", "COUNT", "0"),
		ex("LMPOP", "1", "b", "LEFT", "COUNT"), ex("LMPOP", "1", "s", "LEFT"), ex("RPUSH", "one", "x"), ex("LMOVE", "one", "one", "LEFT", "LEFT"),
		ex("LRANGE", "one", "0", "-1"),
	}},
}

func TestListsMatchRedis(t *testing.T) { runCollCases(t, listCases) }
