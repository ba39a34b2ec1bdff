package difftest

import "strings"

// Step constructors, to keep the case table readable.

// X is a step compared exactly.
func X(args ...string) Step { return Step{Args: args} }

// U is a step whose array reply is compared in any order.
func U(args ...string) Step { return Step{Args: args, Cmp: Unordered} }

// N is a step whose integer reply is compared within a tolerance.
func N(args ...string) Step { return Step{Args: args, Cmp: Near} }

// Ign is a step whose reply is not compared.
func Ign(args ...string) Step { return Step{Args: args, Cmp: Ignore} }

// Scan is a full SCAN iteration with the given options, compared as sets.
func Scan(opts ...string) Step {
	return Step{Args: append([]string{"SCAN", "0"}, opts...), Cmp: ScanAll}
}

// Raw is raw bytes sent as is, compared exactly.
func Raw(b string) Step { return Step{Raw: b} }

// RawClosed is raw bytes after which both servers must reply the same and
// close the connection.
func RawClosed(b string) Step { return Step{Raw: b, Cmp: Closed} }

// Far-future absolute times, so that expiry tests never depend on timing.
const (
	farSec = "4102444800"    // 2100-01-01
	farMs  = "4102444800000" // 2100-01-01
)

// Cases is the differential test table: every supported command with its
// error cases.
var Cases = []Case{
	{"ping echo", []Step{
		X("PING"), X("ping", "hello"), X("PING", "a", "b"), X("ECHO", "x"), X("ECHO"), X("ECHO", "a", "b"),
		X("ECHO", ""), X("ECHO", "bin\x00\r\nary"),
	}},
	{"unknown and arity", []Step{
		X("FOO"), X("foo", "a", "b"), X("NOSUCH", strings.Repeat("x", 200)),
		X("nosuch", strings.Repeat("a", 100), strings.Repeat("b", 100), "c"),
		X("x", "a\r\nb"), X("GET"), X("get", "a", "b"), X("SET", "k"), X("Set"),
		X("CLIENT"), X("CLIENT", "NOSUCH"), X("client", "nosuch", "x"), X("CONFIG", "nope"),
		X("CLIENT", "SETNAME"), X("client", "getname", "x"), X("CONFIG", "GET"), X(""), X("", "a"), X("GET\x00x", "k"),
		X("nosuch", "a\x00b", "c"), X(strings.Repeat("Z", 140)), X("COMMAND", "nosuch"), X("ACL"), X("acl", "nope"),
		X("x", strings.Repeat("a", 126), "b", "c"), X("x", strings.Repeat("a", 125), "b", "c"),
	}},
	{"command list", []Step{
		X("COMMAND", "LIST", "FILTERBY"), X("COMMAND", "LIST", "FILTERBY", "PATTERN"), X("COMMAND", "LIST", "foo"),
		X("COMMAND", "LIST", "FILTERBY", "FOO", "x"), X("COMMAND", "LIST", "FILTERBY", "PATTERN", "a", "b"),
		X("COMMAND", "LIST", "FILTERBY", "MODULE", "x"), X("COMMAND", "LIST", "FILTERBY", "ACLCAT", "nosuch"),
		U("COMMAND", "LIST", "FILTERBY", "ACLCAT", "transaction"), U("command", "list", "filterby", "pattern", "MGE?"),
	}},
	{"select quit", []Step{
		X("SELECT", "0"), X("SELECT", "16"), X("SELECT", "-1"), X("SELECT", "x"), X("SELECT", "99999999999"),
		X("SELECT"), {Args: []string{"QUIT"}, Cmp: Closed},
	}},
	{"auth hello", []Step{
		X("AUTH", "pw"), X("AUTH", "default", "pw"), X("AUTH", "nouser", "pw"), X("AUTH", "a", "b", "c"),
		X("AUTH", "default", ""), X("HELLO", "x"), X("HELLO", "1"), X("HELLO", "4"), X("HELLO", "2", "FOO"),
		X("HELLO", "2", "AUTH", "default"), X("HELLO", "2", "SETNAME", "bad name"), X("HELLO", "2", "AUTH", "nouser", "x"),
		Ign("HELLO"), Ign("HELLO", "2", "SETNAME", "n1"), X("CLIENT", "GETNAME"), Ign("hello", "2", "auth", "default", "whatever"),
	}},
	{"get set basics", []Step{
		X("GET", "k"), X("SET", "k", "v"), X("GET", "k"), X("SET", "k", ""), X("GET", "k"),
		X("SET", "k", "bin\x00\r\n"), X("GET", "k"), X("set", "k", "v2"), X("get", "k"),
		X("SET", "k", "v", "nx"), X("SET", "k", "v3", "XX"), X("GET", "k"), X("SET", "n", "v", "XX"), X("GET", "n"),
		X("SET", "n", "v", "NX"), X("GET", "n"),
	}},
	{"set options errors", []Step{
		X("SET", "k", "v", "NX", "XX"), X("SET", "k", "v", "XX", "NX"), X("SET", "k", "v", "EX"),
		X("SET", "k", "v", "EX", "10", "PX", "100"), X("SET", "k", "v", "PX", "100", "EX", "10"),
		X("SET", "k", "v", "EX", "10", "KEEPTTL"), X("SET", "k", "v", "KEEPTTL", "EX", "10"),
		X("SET", "k", "v", "EXAT", "10", "PXAT", "10"), X("SET", "k", "v", "FOO"), X("SET", "k", "v", "PERSIST"),
		X("SET", "k", "v", "EX", "x"), X("SET", "k", "v", "EX", "0"), X("SET", "k", "v", "EX", "-1"),
		X("SET", "k", "v", "PX", "0"), X("SET", "k", "v", "EX", "9223372036854775807"),
		X("SET", "k", "v", "EX", "9223372036854775"), X("SET", "k", "v", "PX", "9223372036854775807"),
		X("SET", "k", "v", "EX", "1.5"), X("SET", "k", "v", "EX", " 1"), X("SET", "k", "v", "EX", "01"),
		X("SET", "k", "v", "EXAT", "0"), X("SET", "k", "v", "PXAT", "-5"), X("SET", "k", "v", "NX", "NX"),
		X("SET", "k", "v", "EX", "10", "EX", "20"), N("TTL", "k"), X("EXISTS", "k"),
	}},
	{"set expiry", []Step{
		X("SET", "k", "v", "EX", "100"), N("TTL", "k"), N("PTTL", "k"), X("SET", "k", "v2", "KEEPTTL"), N("TTL", "k"),
		X("SET", "k", "v3"), X("TTL", "k"), X("SET", "k", "v", "PX", "100000"), N("PTTL", "k"),
		X("SET", "k", "v", "EXAT", farSec), N("TTL", "k"), N("EXPIRETIME", "k"), X("SET", "k", "v", "PXAT", farMs),
		N("PEXPIRETIME", "k"), X("SET", "k", "v", "EXAT", "1"), X("GET", "k"), X("TTL", "k"), X("SET", "k", "v", "PXAT", "1000"),
		X("EXISTS", "k"), X("SET", "k2", "v", "keepttl"), X("TTL", "k2"), X("set", "k3", "v", "ex", "10", "nx"), N("ttl", "k3"),
	}},
	{"set get option", []Step{
		X("SET", "k", "v", "GET"), X("SET", "k", "v2", "GET"), X("GET", "k"), X("SET", "k", "v3", "NX", "GET"),
		X("GET", "k"), X("SET", "n", "v", "XX", "GET"), X("EXISTS", "n"), X("SET", "k", "v4", "XX", "GET"),
		X("SET", "k", "v5", "GET", "EX", "100"), N("TTL", "k"), X("SET", "k", "v6", "GET", "EX", "bad"),
		X("GETSET", "k", "v7"), X("GETSET", "new", "x"), X("TTL", "k"), X("GETSET", "k"),
	}},
	{"setnx setex psetex", []Step{
		X("SETNX", "k", "v"), X("SETNX", "k", "w"), X("GET", "k"), X("SETNX", "k"),
		X("SETEX", "k", "100", "v"), N("TTL", "k"), X("SETEX", "k", "0", "v"), X("SETEX", "k", "-1", "v"),
		X("SETEX", "k", "x", "v"), X("SETEX", "k", "9223372036854775807", "v"), X("PSETEX", "k", "100000", "v"), N("PTTL", "k"),
		X("PSETEX", "k", "0", "v"), X("PSETEX", "k", "x", "v"), X("PSETEX", "k", "9223372036854775807", "v"), X("SETEX", "k", "1"),
	}},
	{"getdel getex", []Step{
		X("GETDEL", "k"), X("SET", "k", "v"), X("GETDEL", "k"), X("GETDEL", "k"), X("EXISTS", "k"),
		X("GETEX", "k"), X("SET", "k", "v"), X("GETEX", "k"), X("GETEX", "k", "EX", "100"), N("TTL", "k"),
		X("GETEX", "k", "PERSIST"), X("TTL", "k"), X("GETEX", "k", "PX", "100000"), N("PTTL", "k"),
		X("GETEX", "k", "EXAT", farSec), N("TTL", "k"), X("GETEX", "k", "PXAT", farMs), N("PTTL", "k"),
		X("GETEX", "k", "EX", "0"), X("GETEX", "k", "EX", "x"), X("GETEX", "k", "EX"), X("GETEX", "k", "NX"),
		X("GETEX", "k", "PERSIST", "EX", "10"), X("GETEX", "k", "EX", "10", "PERSIST"), X("GETEX", "k", "KEEPTTL"),
		X("GETEX", "k", "GET"), X("GETEX", "missing", "EX", "x"), X("GETEX", "missing", "FOO"),
		X("GETEX", "k", "EXAT", "1"), X("EXISTS", "k"), X("GETEX", "k", "PERSIST"),
	}},
	{"mget mset msetnx", []Step{
		X("MSET", "a", "1", "b", "2"), X("MGET", "a", "b", "c"), X("MSET", "a"), X("MSET", "a", "1", "b"),
		X("MSETNX", "a", "x", "c", "3"), X("MGET", "a", "c"), X("MSETNX", "c", "3", "d", "4"), X("MGET", "c", "d"),
		X("MSETNX", "e"), X("MSETNX", "e", "1", "f"), X("MSET", "a", "1", "a", "2"), X("GET", "a"), X("MGET"),
		X("MSETNX", "x", "1", "x", "2"), X("GET", "x"),
	}},
	{"incr decr", []Step{
		X("INCR", "n"), X("INCR", "n"), X("DECR", "n"), X("DECR", "m"), X("INCRBY", "n", "10"), X("DECRBY", "n", "3"),
		X("INCRBY", "n", "-100"), X("INCRBY", "n", "x"), X("INCRBY", "n", "1.5"), X("DECRBY", "n", ""),
		X("SET", "s", "abc"), X("INCR", "s"), X("SET", "s", "1.0"), X("INCR", "s"), X("SET", "s", " 1"), X("INCR", "s"),
		X("SET", "s", "0x10"), X("INCR", "s"), X("SET", "s", "+1"), X("INCR", "s"), X("SET", "s", "007"), X("INCR", "s"),
		X("SET", "big", "9223372036854775807"), X("INCR", "big"), X("INCRBY", "big", "0"), X("DECRBY", "big", "-1"),
		X("SET", "small", "-9223372036854775808"), X("DECR", "small"), X("INCRBY", "small", "-1"),
		X("DECRBY", "x", "-9223372036854775808"), X("INCRBY", "x", "-9223372036854775808"), X("GET", "x"),
		X("SET", "s", "92233720368547758070"), X("INCR", "s"), X("SET", "e", "5", "EX", "100"), X("INCR", "e"), N("TTL", "e"),
		X("INCRBY", "n", "9223372036854775808"), X("SET", "z", ""), X("INCR", "z"), X("SET", "neg", "-0"), X("INCR", "neg"),
	}},
	{"incrbyfloat", []Step{
		X("INCRBYFLOAT", "f", "0.1"), X("INCRBYFLOAT", "f", "0.1"), X("INCRBYFLOAT", "f", "0.1"), X("GET", "f"),
		X("INCRBYFLOAT", "f", "-0.3"), X("INCRBYFLOAT", "f", "1e3"), X("INCRBYFLOAT", "f", "1.5e-5"),
		X("INCRBYFLOAT", "g", "3"), X("INCRBYFLOAT", "g", "-3"), X("INCRBYFLOAT", "g", "-0"),
		X("INCRBYFLOAT", "h", "1e308"), X("INCRBYFLOAT", "h", "1e308"), X("INCRBYFLOAT", "h", "1e4000"),
		X("INCRBYFLOAT", "i", "abc"), X("INCRBYFLOAT", "i", "1.0 "), X("INCRBYFLOAT", "i", " 1"), X("INCRBYFLOAT", "i", ""),
		X("INCRBYFLOAT", "i", "inf"), X("INCRBYFLOAT", "i", "-inf"), X("INCRBYFLOAT", "i", "nan"), X("INCRBYFLOAT", "i", "1e"),
		X("INCRBYFLOAT", "i", "0x10"), X("INCRBYFLOAT", "i", "0x1.8p1"), X("INCRBYFLOAT", "i", ".5"), X("INCRBYFLOAT", "i", "5."),
		X("INCRBYFLOAT", "i", "1e5000"), X("INCRBYFLOAT", "i", "1e-5000"), X("INCRBYFLOAT", "i", "+2"),
		X("SET", "s", "abc"), X("INCRBYFLOAT", "s", "1"), X("SET", "s", "10"), X("INCRBYFLOAT", "s", "2.5"),
		X("SET", "s", "1.23456789012345678901234567890"), X("INCRBYFLOAT", "s", "0"),
		X("SET", "t", "3.0", "EX", "100"), X("INCRBYFLOAT", "t", "1.1"), N("TTL", "t"),
		X("INCRBYFLOAT", "u", "123456789.123456789"), X("INCRBYFLOAT", "u", "0.000000001"), X("INCRBYFLOAT", "v", "1e20"),
		X("INCRBYFLOAT", "w", "-1e-20"), X("INCRBYFLOAT", "w", "1e-20"), X("INCRBYFLOAT", "x", "2.5"), X("INCRBYFLOAT", "x", "0.0000000000000000001"),
		X("SET", "y", "inf"), X("INCRBYFLOAT", "y", "1"),
	}},
	{"append strlen", []Step{
		X("APPEND", "k", "hello"), X("APPEND", "k", " world"), X("GET", "k"), X("STRLEN", "k"), X("STRLEN", "none"),
		X("APPEND", "k", ""), X("SET", "e", "x", "EX", "100"), X("APPEND", "e", "y"), N("TTL", "e"), X("GET", "e"),
	}},
	{"getrange setrange", []Step{
		X("SET", "k", "Hello World"), X("GETRANGE", "k", "0", "4"), X("GETRANGE", "k", "-5", "-1"), X("GETRANGE", "k", "0", "-1"),
		X("GETRANGE", "k", "5", "2"), X("GETRANGE", "k", "-1", "-5"), X("GETRANGE", "k", "0", "100"), X("GETRANGE", "k", "-100", "2"),
		X("GETRANGE", "k", "20", "30"), X("GETRANGE", "k", "x", "1"), X("GETRANGE", "k", "1", "x"), X("GETRANGE", "none", "0", "1"),
		X("GETRANGE", "none", "x", "1"), X("SUBSTR", "k", "0", "2"), X("SET", "e", ""), X("GETRANGE", "e", "0", "-1"),
		X("GETRANGE", "k", "-9223372036854775808", "9223372036854775807"),
		X("SETRANGE", "k", "6", "Redis"), X("GET", "k"), X("SETRANGE", "k", "20", "!"), X("GET", "k"),
		X("SETRANGE", "n", "0", ""), X("EXISTS", "n"), X("SETRANGE", "n", "3", "x"), X("GET", "n"), X("SETRANGE", "k", "0", ""),
		X("SETRANGE", "k", "-1", "x"), X("SETRANGE", "k", "x", "y"), X("SETRANGE", "k", "536870912", "x"),
		X("SETRANGE", "k", "536870911", ""), X("SETRANGE", "k", "9223372036854775807", "x"),
	}},
	{"del exists type", []Step{
		X("MSET", "a", "1", "b", "2", "c", "3"), X("EXISTS", "a", "b", "x", "a"), X("DEL", "a", "x", "a"), X("EXISTS", "a"),
		X("UNLINK", "b", "c", "d"), X("DBSIZE"), X("TYPE", "a"), X("SET", "a", "1"), X("TYPE", "a"), X("DEL"), X("EXISTS"),
		X("TYPE"), X("SET", "x", "1", "PXAT", "1"), X("DEL", "x"), X("TYPE", "x"),
	}},
	{"keys", []Step{
		X("MSET", "hello", "1", "hallo", "1", "hxllo", "1", "hllo", "1", "heeeello", "1", "hbllo", "1", "{t}a", "1", "a*b", "1",
			"a\\b", "1", "[x", "1", "b-", "1", "\xffz", "1", "", "1"),
		U("KEYS", "*"), U("KEYS", "h?llo"), U("KEYS", "h*llo"), U("KEYS", "h[ae]llo"), U("KEYS", "h[^e]llo"), U("KEYS", "h[a-b]llo"),
		U("KEYS", "h[b-a]llo"), U("KEYS", "a\\*b"), U("KEYS", "a\\\\b"), U("KEYS", "[[]x"), U("KEYS", "[x"), U("KEYS", "h[ae"),
		U("KEYS", "[^"), U("KEYS", "*\\"), U("KEYS", "\\"), U("KEYS", "{t}*"), U("KEYS", "b[\\-]"), U("KEYS", "[\x80-\xff]z"),
		U("KEYS", "[a-\xff]z"), U("KEYS", "H*"), U("KEYS", ""), U("KEYS", "**o"), U("KEYS", "*?"), U("KEYS", "h*l*l*o*"),
		U("KEYS", "[a-"), U("KEYS", "[]"), U("KEYS", "*[^a-z]*"), X("SET", "gone", "1", "PXAT", "1"), U("KEYS", "go*"),
	}},
	{"scan", []Step{
		X("MSET", "a1", "1", "a2", "2", "b1", "1", "{t}x", "1", "{t}y", "2"), X("SET", "gone", "1", "PXAT", "1"),
		Scan(), Scan("MATCH", "a*"), Scan("COUNT", "1"), Scan("MATCH", "*", "COUNT", "2"), Scan("TYPE", "string"),
		Scan("TYPE", "hash"), Scan("TYPE", "nosuchtype"), Scan("match", "{t}*", "count", "100", "type", "STRING"),
		X("SCAN", "x"), X("SCAN", " 0"), X("SCAN", "0 "), X("SCAN", "18446744073709551616"), X("SCAN", "-"),
		X("SCAN", "0", "COUNT", "0"), X("SCAN", "0", "COUNT", "-1"), X("SCAN", "0", "COUNT", "x"), X("SCAN", "0", "COUNT"),
		X("SCAN", "0", "MATCH"), X("SCAN", "0", "FOO", "bar"), X("SCAN", "0", "TYPE"), X("SCAN"), X("DBSIZE"),
	}},
	{"dbsize flush", []Step{
		X("DBSIZE"), X("MSET", "a", "1", "b", "2"), X("DBSIZE"), X("FLUSHDB"), X("DBSIZE"), X("SET", "a", "1"),
		X("FLUSHALL", "ASYNC"), X("DBSIZE"), X("FLUSHDB", "SYNC"), X("FLUSHDB", "FOO"), X("FLUSHALL", "sync", "async"),
		// A key set already expired is gone for reads; whether DBSIZE still
		// counts it depends on when active expiry runs, on both servers.
		X("FLUSHALL", "foo"), X("DBSIZE", "x"), X("SET", "x", "1", "PXAT", "1"), X("EXISTS", "x"), Ign("DBSIZE"),
	}},
	{"expire family", []Step{
		X("EXPIRE", "k", "100"), X("SET", "k", "v"), X("EXPIRE", "k", "100"), N("TTL", "k"), X("PEXPIRE", "k", "200000"), N("PTTL", "k"),
		X("EXPIREAT", "k", farSec), N("TTL", "k"), X("PEXPIREAT", "k", farMs), N("PEXPIRETIME", "k"), N("EXPIRETIME", "k"),
		X("EXPIRE", "k", "x"), X("EXPIRE", "k", "1.5"), X("EXPIRE", "k"), X("EXPIRE", "k", "10", "FOO"),
		X("EXPIRE", "k", "10", "NX", "XX"), X("EXPIRE", "k", "10", "GT", "LT"), X("EXPIRE", "k", "10", "nx", "gt"),
		X("EXPIRE", "k", "9223372036854775807"), X("EXPIRE", "k", "-9223372036854775808"),
		X("PEXPIRE", "k", "9223372036854775807"), X("PEXPIREAT", "k", "9223372036854775807"), N("PTTL", "k"),
		X("EXPIREAT", "k", "9223372036854775"), X("EXPIREAT", "k", "9223372036854776"), X("EXPIRE", "k", "-9223372036854775"),
		X("SET", "k", "v"), X("EXPIRE", "k", "100", "XX"), X("TTL", "k"), X("EXPIRE", "k", "100", "NX"), N("TTL", "k"),
		X("EXPIRE", "k", "200", "NX"), X("EXPIRE", "k", "50", "GT"), X("EXPIRE", "k", "200", "GT"), N("TTL", "k"),
		X("EXPIRE", "k", "300", "LT"), X("EXPIRE", "k", "150", "LT"), N("TTL", "k"), X("EXPIRE", "k", "150", "xx", "lt"),
		X("PERSIST", "k"), X("PERSIST", "k"), X("TTL", "k"), X("EXPIRE", "k", "10", "GT"), X("EXPIRE", "k", "10", "LT"),
		N("TTL", "k"), X("PERSIST", "none"), X("TTL", "none"), X("PTTL", "none"), X("EXPIRETIME", "none"),
		X("SET", "p", "v"), X("PEXPIRETIME", "p"), X("EXPIRETIME", "p"), X("EXPIRE", "p", "0"), X("EXISTS", "p"),
		X("SET", "p", "v"), X("EXPIRE", "p", "-1"), X("EXISTS", "p"), X("SET", "p", "v"), X("PEXPIREAT", "p", "1"),
		X("GET", "p"), X("EXPIRE", "p", "10", "NX"), X("TTL"), X("PERSIST"),
	}},
	{"transactions", []Step{
		X("MULTI"), X("SET", "k", "v"), X("INCR", "n"), X("GET", "k"), X("EXEC"), X("EXEC"), X("DISCARD"),
		X("MULTI"), X("MULTI"), X("SET", "a", "1"), X("DISCARD"), X("GET", "a"),
		X("MULTI"), X("SET", "a"), X("SET", "a", "1"), X("EXEC"), X("GET", "a"),
		X("MULTI"), X("NOSUCH"), X("EXEC"), X("MULTI"), X("SET", "s", "x"), X("INCR", "s"), X("SET", "t", "y"), X("EXEC"),
		X("MULTI"), X("WATCH", "k"), X("EXEC"), X("MULTI"), X("EXEC"), X("MULTI"), X("UNWATCH"), X("PING"), X("EXEC"),
		X("MULTI"), X("SET", "k", "v", "EX", "bad"), X("EXEC"), X("EXEC", "x"), X("MULTI"), X("PING"), X("EXEC", "x"), X("EXEC"),
		X("DISCARD", "x"), X("MULTI", "x"), X("WATCH", "w"), X("SET", "w", "1"), X("MULTI"), X("NOSUCH"), X("EXEC"),
		X("MULTI"), X("GET", "w"), X("GETRANGE", "w", "x", "1"), X("INCR", "w"), X("EXEC"),
		X("WATCH"), X("MULTI"), X("QUIT"),
	}},
	{"watch", []Step{
		X("SET", "k", "1"), X("WATCH", "k"), X("SET", "k", "2"), X("MULTI"), X("GET", "k"), X("EXEC"),
		X("WATCH", "k"), X("MULTI"), X("SET", "k", "3"), X("EXEC"), X("GET", "k"),
		X("WATCH", "k"), X("UNWATCH"), X("SET", "k", "4"), X("MULTI"), X("GET", "k"), X("EXEC"),
		X("WATCH", "k", "other"), X("SET", "other", "1"), X("MULTI"), X("PING"), X("EXEC"),
		X("WATCH", "k"), X("GET", "k"), X("MULTI"), X("PING"), X("EXEC"),
		X("WATCH", "k"), X("MULTI"), X("PING"), X("DISCARD"), X("SET", "k", "5"), X("MULTI"), X("PING"), X("EXEC"),
		X("WATCH", "nokey"), X("SET", "nokey", "1"), X("DEL", "nokey"), X("MULTI"), X("EXEC"),
		X("WATCH", "k"), X("FLUSHALL"), X("MULTI"), X("EXEC"), X("WATCH", "gone"), X("FLUSHALL"), X("MULTI"), X("EXEC"),
		X("SET", "t", "1", "PXAT", "1"), X("WATCH", "t"), X("GET", "t"), X("MULTI"), X("EXEC"),
		X("WATCH", "k"), X("EXPIRE", "k", "100"), X("MULTI"), X("EXEC"), X("WATCH", "k"), X("PERSIST", "nokey"), X("MULTI"), X("EXEC"),
	}},
	{"client", []Step{
		X("CLIENT", "GETNAME"), X("CLIENT", "SETNAME", "conn1"), X("CLIENT", "GETNAME"), X("CLIENT", "SETNAME", "a b"),
		X("CLIENT", "SETNAME", "a\nb"), X("CLIENT", "SETNAME", ""), X("CLIENT", "GETNAME"), X("client", "setname", "x\x7f"),
		X("CLIENT", "SETNAME", "a", "b"), Ign("CLIENT", "ID"), Ign("CLIENT", "INFO"), Ign("CLIENT", "HELP"),
	}},
	{"config", []Step{
		X("CONFIG", "GET", "maxmemory-policy"), X("CONFIG", "GET", "nosuch"), X("CONFIG", "GET", "proto-max-bulk-len"),
		X("CONFIG", "GET", "protected-mode"), X("CONFIG", "SET", "protected-mode", "maybe"), X("CONFIG", "SET", "protected-mode", "no"),
		X("CONFIG", "GET", "protected-mode"), X("CONFIG", "SET", "protected-mode", "YES"), X("CONFIG", "GET", "protected-mode"),
		X("CONFIG", "SET", "maxmemory-policy", "allkeys-lru"), X("CONFIG", "GET", "maxmemory-policy"),
		X("CONFIG", "SET", "maxmemory-policy", "nope"), X("CONFIG", "SET", "MAXMEMORY-POLICY", "NoEviction"),
		X("CONFIG", "GET", "maxmemory-policy"), X("CONFIG", "SET", "nosuch", "1"), X("CONFIG", "SET", "maxmemory-policy"),
		X("CONFIG", "SET", "maxmemory-policy", "noeviction", "maxmemory-policy", "noeviction"),
		X("CONFIG", "SET", "proto-max-bulk-len", "100"), X("CONFIG", "SET", "proto-max-bulk-len", "abc"),
		X("CONFIG", "SET", "proto-max-bulk-len", "2mb"), X("CONFIG", "GET", "proto-max-bulk-len"),
		X("SETRANGE", "k", "2097151", "xy"), X("CONFIG", "SET", "proto-max-bulk-len", "512mb"), X("CONFIG", "GET", "proto-*"),
		U("CONFIG", "GET", "maxmemory-polic?", "proto-max-bulk-len"), X("CONFIG", "GET", "MAXMEMORY-policy"),
		U("CONFIG", "GET", "maxmemory-policy", "*policy"), X("CONFIG", "GET", "*"+"-max-bulk-len", "PROTO-MAX-BULK-LEN"),
	}},
	{"acl", []Step{
		X("ACL", "WHOAMI"), X("ACL", "SETUSER", "acme", "on", ">pw", "~{acme}*", "+@all"), X("ACL", "USERS"),
		X("ACL", "SETUSER", "bad", "nosuchrule"), X("ACL", "SETUSER", "bad", "+nosuchcmd"), X("ACL", "SETUSER", "bad", "+@nosuchcat"),
		X("ACL", "SETUSER", "bad", "~*", "~x"), X("ACL", "SETUSER", "bad", "#abc"), X("ACL", "SETUSER", "bad", "<nopw"),
		X("ACL", "USERS"), X("AUTH", "acme", "wrong"), X("AUTH", "acme", "pw"), X("ACL", "WHOAMI"),
		X("SET", "{acme}k", "v"), X("GET", "{acme}k"), X("SET", "other", "v"), X("GET", "x{acme}"),
		X("MSET", "{acme}a", "1", "b", "2"), X("MGET", "{acme}a", "{acme}k"), X("DEL", "{acme}a", "zz"), X("KEYS", "*"),
		X("AUTH", "default", "x"), X("ACL", "DELUSER", "acme"), X("ACL", "DELUSER", "default"), X("ACL", "DELUSER", "none"),
	}},
	{"acl commands", []Step{
		X("ACL", "SETUSER", "ro", "on", "nopass", "~*", "+@read", "-strlen"), Step{Args: []string{"ACL", "LIST"}, Cmp: Words},
		X("ACL", "SETUSER", "ro2", "on", "nopass", "allkeys", "+get", "+set", "-set", "+client|setname"), Step{Args: []string{"ACL", "LIST"}, Cmp: Words},
		X("ACL", "SETUSER", "plain"), Step{Args: []string{"ACL", "LIST"}, Cmp: Words}, X("AUTH", "plain", "x"),
		X("AUTH", "ro", "any"), X("GET", "k"), X("SET", "k", "v"), X("STRLEN", "k"), X("ACL", "WHOAMI"), X("CLIENT", "SETNAME", "x"),
		X("MULTI"), X("SET", "k", "v"), X("GET", "k"), X("EXEC"),
		X("AUTH", "ro2", "x"), X("HELLO", "x"), X("SET", "k", "v"), X("GET", "k"), X("CLIENT", "SETNAME", "x"), X("CLIENT", "GETNAME"),
		X("AUTH", "default", "nopass"), X("ACL", "DELUSER", "ro", "ro2", "plain"),
	}},
	{"protocol inline", []Step{
		Raw("PING\r\n"), Raw("ECHO hello\r\n"), Raw("SET k \"a b\"\r\n"), Raw("GET k\n"), Raw("\r\n\r\nPING\r\n"),
		Raw("SET k 'it\\'s'\r\n"), Raw("GET k\r\n"), Raw("SET k \"\\x41\\x4g\\n\"\r\n"), Raw("GET k\r\n"),
		Raw("   GET    k   \r\n"), Raw("ECHO a\vb\r\n"), Raw("ECHO a\rb\r\n"), Raw("ECHO \"a\"\t'b'\r\n"),
	}},
	{"protocol multibulk", []Step{
		Raw("*2\r\n$4\r\nECHO\r\n$3\r\nabc\r\n"), Raw("*0\r\n*1\r\n$4\r\nPING\r\n"), Raw("*-1\r\n*1\r\n$4\r\nPING\r\n"),
		Raw("*1\r\n$4\r\nPINGxx"), Raw("*2\r\n$4\r\nECHO\r\n$0\r\n\r\n"),
	}},
	{"protocol error count", []Step{RawClosed("*x\r\n")}},
	{"protocol error big count", []Step{RawClosed("*2147483648\r\n")}},
	{"protocol error dollar", []Step{RawClosed("*1\r\n+PING\r\n")}},
	{"protocol error bulk len", []Step{RawClosed("*1\r\n$-1\r\n")}},
	{"protocol error bulk too big", []Step{RawClosed("*1\r\n$536870913\r\n")}},
	{"protocol error quotes", []Step{RawClosed("ECHO \"abc\r\n")}},
	{"protocol error glued quote", []Step{RawClosed("ECHO \"a\"b\r\n")}},
	{"protocol error inline too big", []Step{RawClosed(strings.Repeat("a", 70000))}},
	{"protocol error count too big", []Step{RawClosed("*1" + strings.Repeat("1", 70000))}},
	{"protocol error bulk count too big", []Step{RawClosed("*1\r\n$1" + strings.Repeat("1", 70000))}},
	{"protocol error after command", []Step{{Raw: "PING\r\n*x\r\n", Replies: 2, Cmp: Closed}}},
	{"protocol nul hides inline newline", []Step{RawClosed("ECHO a\x00b\r\n" + strings.Repeat("x", 70000))}},
	{"protocol nul hides count cr", []Step{RawClosed("*1\x00\r\n" + strings.Repeat("x", 70000))}},
}

// Reconnect is a step that replaces both connections by new ones.
var Reconnect = Step{Reconnect: true}

func init() {
	big := strings.Repeat("0123456789", 10000) // beyond Redis's 32 KiB big-argument path
	pipeline := strings.Repeat("*3\r\n$3\r\nSET\r\n$1\r\np\r\n$1\r\n1\r\n*2\r\n$4\r\nINCR\r\n$1\r\np\r\nPING\r\n", 50)
	var many []string
	for i := range 300 {
		many = append(many, "key:"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+strings.Repeat("1", i/26), "v")
	}
	Cases = append(Cases,
		Case{"noauth", []Step{
			X("ACL", "SETUSER", "default", "resetpass", ">secret"), Reconnect,
			X("GET", "k"), X("PING"), X("NOSUCH"), X("MULTI"), X("EXEC"), X("HELLO", "2"), X("HELLO", "2", "AUTH", "default", "bad"),
			X("AUTH", "bad"), X("AUTH", "default", "bad"), X("CLIENT", "SETNAME", "x"),
			Raw("*11\r\n"), Reconnect, Raw("*1\r\n$16385\r\n"), Reconnect,
			Ign("HELLO", "2", "AUTH", "default", "secret"), X("GET", "k"), Reconnect, X("AUTH", "secret"), X("GET", "k"),
			X("ACL", "SETUSER", "default", "nopass"), Reconnect, X("GET", "k"),
		}},
		Case{"big values and pipelines", []Step{
			X("SET", "big", big), X("GET", "big"), X("STRLEN", "big"), X("APPEND", "big", big), X("GETRANGE", "big", "99990", "100010"),
			X("MSET", "b1", big, "b2", big[:40000]), X("MGET", "b1", "b2", "nope"),
			{Raw: pipeline, Replies: 150}, X("GET", "p"),
			{Raw: "PING\r\nPING\r\n*1\r\n$4\r\nPING\r\nECHO x\r\n", Replies: 4},
		}},
		Case{"scan many keys", []Step{
			X(append([]string{"MSET"}, many...)...), X("DBSIZE"), Scan(), Scan("COUNT", "1"), Scan("COUNT", "7"),
			Scan("MATCH", "key:x*"), Scan("MATCH", "*a1*", "COUNT", "3"), U("KEYS", "key:xx?1*"),
		}},
	)

	Cases = append(Cases, Case{"acl getuser and cat", []Step{
		X("ACL", "CAT"), X("ACL", "CAT", "nosuch"), X("ACL", "CAT", "all"), X("ACL", "CAT", "ALL"), X("ACL", "cat", "read", "x"),
		{Args: []string{"ACL", "CAT", "string"}, Cmp: Subset}, {Args: []string{"ACL", "CAT", "READ"}, Cmp: Subset},
		{Args: []string{"ACL", "CAT", "connection"}, Cmp: Subset}, {Args: []string{"ACL", "CAT", "transaction"}, Cmp: Subset},
		{Args: []string{"ACL", "CAT", "admin"}, Cmp: Subset}, {Args: []string{"ACL", "CAT", "keyspace"}, Cmp: Subset},
		X("ACL", "GETUSER", "default"), X("ACL", "GETUSER", "nosuch"), X("ACL", "GETUSER"), X("ACL", "GETUSER", "a", "b"),
		X("ACL", "SETUSER", "g1", "on", ">pw", ">pw2", "~a*", "~b", "&ch", "&ch2", "&ch", "+@read"), X("ACL", "GETUSER", "g1"),
		X("ACL", "SETUSER", "g2", "reset", "+get"), X("ACL", "GETUSER", "g2"),
		X("ACL", "SETUSER", "g3", "nopass", "allkeys", "resetchannels", "skip-sanitize-payload", "-@all"), X("ACL", "GETUSER", "g3"),
		X("ACL", "SETUSER", "g4", "&*", "&c"), X("ACL", "SETUSER", "g4", "allchannels", "resetchannels", "&x", "+@list", "-@hash"),
		X("ACL", "GETUSER", "g4"), X("ACL", "SETUSER", "g5", "+@sortedset", "+@geo", "+@scripting", "+@pubsub"),
		X("ACL", "SETUSER", "g5", "+@nosuch"), Step{Args: []string{"ACL", "LIST"}, Cmp: Words},
		X("ACL", "LOAD"), X("ACL", "SAVE"),
		X("ACL", "DELUSER", "g1", "g2", "g3", "g4", "g5"),
	}})
	Cases = append(Cases, Case{"acl log", []Step{
		X("ACL", "LOG", "RESET"), X("ACL", "LOG"), X("AUTH", "nouser", "x"), X("AUTH", "nouser", "x"), X("AUTH", "default", "y"),
		X("MULTI"), X("AUTH", "nouser2", "x"), X("EXEC"),
		X("ACL", "SETUSER", "lim", "on", "nopass", "~a*", "+get", "+multi", "+exec", "+acl|log"), X("AUTH", "lim", "x"),
		X("GET", "b"), X("SET", "a", "1"), X("GET", "b"), X("MULTI"), X("GET", "zz"), X("EXEC"),
		{Args: []string{"ACL", "LOG"}, Cmp: ACLLog}, {Args: []string{"ACL", "LOG", "2"}, Cmp: ACLLog},
		X("ACL", "LOG", "x"), X("ACL", "LOG", "-1"), X("ACL", "LOG", "0"), X("ACL", "LOG", "RESET", "x"),
		X("ACL", "LOG", "reset"), X("ACL", "LOG"), X("AUTH", "default", "x"), X("ACL", "DELUSER", "lim"),
	}})
	Cases = append(Cases, Case{"acl rule descriptions", []Step{
		X("ACL", "SETUSER", "u1", "reset", "+@read", "+get"), X("ACL", "SETUSER", "u2", "reset", "+get", "-get"),
		X("ACL", "SETUSER", "u3", "reset", "+@read", "-get", "+get"), X("ACL", "SETUSER", "u4", "reset", "+get", "+set", "-get"),
		X("ACL", "SETUSER", "u5", "reset", "+@all", "-get"), X("ACL", "SETUSER", "u6", "+@all", "-get", "+get"),
		X("ACL", "SETUSER", "u7", "+@read", "-@read"), X("ACL", "SETUSER", "u8", "+get", "+@read", "~a", "~b", "~a"),
		X("ACL", "SETUSER", "u9", "on", ">x", ">x", "skip-sanitize-payload", "&*"), X("ACL", "SETUSER", "u9", "<x", "#"+strings.Repeat("a", 64)),
		X("ACL", "SETUSER", "u10", "allcommands", "-@write", "+set", "allkeys"), X("ACL", "SETUSER", "u10", "nocommands", "+client|setname"),
		X("ACL", "SETUSER", "u12", "on", "nopass", "resetpass"),
		Step{Args: []string{"ACL", "LIST"}, Cmp: Words},
		X("ACL", "DELUSER", "u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8", "u9", "u10", "u12"),
	}})
}
