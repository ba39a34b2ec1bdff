package difftest

import "bytes"

// Client limits and timeout: CONFIG GET/SET of client-output-buffer-limit
// and timeout, their errors, and their values put back.
func init() {
	cobl := "client-output-buffer-limit"
	Cases = append(Cases, Case{"client output buffer limit and timeout", []Step{
		X("CONFIG", "GET", cobl), X("CONFIG", "SET", cobl, "normal 1 2"), X("CONFIG", "SET", cobl, "foo 1 2 3"),
		X("CONFIG", "SET", cobl, "master 1 2 3"), X("CONFIG", "SET", cobl, "normal 1x 2 3"), X("CONFIG", "SET", cobl, "normal 1 2 -3"),
		X("CONFIG", "SET", cobl, "NORMAL 1mb 2kb 3"), X("CONFIG", "GET", cobl),
		X("CONFIG", "SET", cobl, "replica 1 2 3 pubsub 4 5 6"), X("CONFIG", "GET", cobl), X("CONFIG", "SET", cobl, ""),
		X("CONFIG", "SET", cobl, "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"), X("CONFIG", "GET", cobl),
		X("CONFIG", "GET", "timeout"), X("CONFIG", "SET", "timeout", "-1"), X("CONFIG", "SET", "timeout", "abc"),
		X("CONFIG", "SET", "timeout", "2147483648"), X("CONFIG", "SET", "timeout", "300"), X("CONFIG", "GET", "timeout"),
		X("CONFIG", "SET", "timeout", "0"), X("CONFIG", "GET", "timeout"),
	}})
}

// fieldNames keeps the names of a reply's name=value words, one line of
// names per line of the reply.
func fieldNames(b []byte) []byte {
	var out []byte
	for _, line := range bytes.Split(bulkBody(b), []byte("\n")) {
		for _, w := range bytes.Fields(line) {
			name, _, _ := bytes.Cut(w, []byte("="))
			out = append(append(out, name...), ' ')
		}
		out = append(out, '\n')
	}
	return out
}

// ClientCases are CLIENT's cases for a server that runs CLIENT LIST and
// KILL itself (datapath/server; the stand-in Serve has no connections to
// list): reply shapes by field names, errors byte for byte.
var ClientCases = []Case{
	{"client info and list shapes", []Step{
		{Args: []string{"CLIENT", "INFO"}, Cmp: Fields}, {Args: []string{"CLIENT", "LIST"}, Cmp: Fields},
		X("CLIENT", "SETNAME", "n1"), {Args: []string{"CLIENT", "LIST", "TYPE", "normal"}, Cmp: Fields},
		X("MULTI"), X("PING"), {Args: []string{"CLIENT", "INFO"}, Cmp: Ignore}, Ign("EXEC"),
	}},
	{"client list and kill errors", []Step{
		X("CLIENT", "LIST", "TYPE", "bogus"), X("CLIENT", "LIST", "ID", "x"), X("CLIENT", "LIST", "foo"),
		X("CLIENT", "LIST", "TYPE", "pubsub"), X("CLIENT", "LIST", "TYPE", "master"), X("CLIENT", "LIST", "TYPE", "replica"),
		X("CLIENT", "LIST", "ID"), X("CLIENT", "LIST", "TYPE", "normal", "ID", "1"), X("CLIENT", "LIST", "ID", "99999", "-1", "0"),
		X("CLIENT", "KILL"), X("CLIENT", "KILL", "1.2.3.4:5"), X("CLIENT", "KILL", "ID", "abc"), X("CLIENT", "KILL", "ID", "0"),
		X("CLIENT", "KILL", "ID", "999"), X("CLIENT", "KILL", "foo", "bar"), X("CLIENT", "KILL", "TYPE", "bogus"),
		X("CLIENT", "KILL", "TYPE", "pubsub"), X("CLIENT", "KILL", "USER", "nosuch"), X("CLIENT", "KILL", "SKIPME", "maybe"),
		X("CLIENT", "KILL", "ADDR", "1.2.3.4:5"), X("CLIENT", "KILL", "LADDR", "1.2.3.4:5"), X("CLIENT", "KILL", "ID", "1", "SKIPME"),
		X("CLIENT", "KILL", "USER", "default"), X("CLIENT", "KILL", "maxage", "1"),
	}},
	{"client reply, no-evict, pause", []Step{
		X("CLIENT", "REPLY", "foo"), X("CLIENT", "REPLY"), X("CLIENT", "NO-EVICT", "maybe"), X("CLIENT", "NO-EVICT", "on"),
		X("CLIENT", "NO-EVICT", "OFF"), X("CLIENT", "PAUSE"), X("CLIENT", "PAUSE", "abc"), X("CLIENT", "PAUSE", "10", "foo"),
		X("CLIENT", "PAUSE", "-1"), X("CLIENT", "PAUSE", "1", "WRITE", "x"), X("CLIENT", "PAUSE", "abc", "WRITE", "x"), X("CLIENT", "UNPAUSE", "x"),
		X("CLIENT", "PAUSE", "200", "WRITE"), X("PING"), X("GET", "k"), X("CLIENT", "UNPAUSE"), X("SET", "k", "v"),
		{Raw: "CLIENT REPLY OFF\r\nPING\r\nECHO x\r\nCLIENT REPLY ON\r\nPING\r\n", Replies: 2},
		{Raw: "CLIENT REPLY SKIP\r\nECHO skipped\r\nECHO shown\r\n", Replies: 1},
		{Args: []string{"CLIENT", "KILL", "USER", "default", "SKIPME", "no"}, Cmp: Closed},
	}},
}
