package command

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/dorivo/dorivo/datapath/resp"
	"github.com/dorivo/dorivo/shardstore/keyspace"
)

// run executes each inline command line on one session and returns the
// replies.
func run(s *Session, ks *keyspace.Keyspace, now int64, lines ...string) []string {
	var out []string
	for _, l := range lines {
		args, _ := resp.SplitArgs([]byte(l), nil)
		rep, _ := Exec(s, ks, args, now, nil, nil)
		out = append(out, string(rep))
	}
	return out
}

func expect(t *testing.T, s *Session, ks *keyspace.Keyspace, steps ...[2]string) {
	t.Helper()
	for _, st := range steps {
		got := run(s, ks, 1000, st[0])[0]
		if got != st[1] {
			t.Errorf("%s: got %q, want %q", st[0], got, st[1])
		}
	}
}

// Behaviour where Dorivo differs from Redis on purpose, so difftest cannot
// cover it.
func TestDorivoSpecific(t *testing.T) {
	n := NewNode()
	s, ks := NewSession(n), keyspace.New()
	expect(t, s, ks,
		[2]string{"SELECT 0", "+OK\r\n"},
		[2]string{"SELECT 1", "-ERR DB index is out of range\r\n"},
		[2]string{"SELECT 15", "-ERR DB index is out of range\r\n"},
		[2]string{"COMMAND DOCS nosuch", "*0\r\n"},
		[2]string{"COMMAND INFO nosuch", "*1\r\n$-1\r\n"},
		[2]string{"COMMAND GETKEYS MSET a 1 b 2", "*2\r\n$1\r\na\r\n$1\r\nb\r\n"},
		[2]string{"COMMAND GETKEYS PING x", "-ERR The command has no key arguments\r\n"},
		[2]string{"COMMAND GETKEYS GET a b", "-ERR Invalid number of arguments specified for command\r\n"},
		[2]string{"COMMAND GETKEYS NOSUCH x", "-ERR Invalid command specified\r\n"},
		[2]string{"COMMAND COUNT", ":" + strconv.Itoa(len(Commands())) + "\r\n"},
		// RESP3 after HELLO 3: maps, nulls, sets.
		[2]string{"HELLO 3 SETNAME x", "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:" + strconv.FormatInt(s.ID, 10) + "\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"},
		[2]string{"COMMAND DOCS nosuch", "%0\r\n"},
		[2]string{"COMMAND INFO nosuch", "*1\r\n_\r\n"},
		[2]string{"GET nosuch", "_\r\n"},
		[2]string{"CONFIG GET databases", "%1\r\n$9\r\ndatabases\r\n$1\r\n1\r\n"},
		[2]string{"HELLO", "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:" + strconv.FormatInt(s.ID, 10) + "\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"},
		[2]string{"HELLO 2", "*14\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:2\r\n$2\r\nid\r\n:" + strconv.FormatInt(s.ID, 10) + "\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"},
		[2]string{"GET nosuch", "$-1\r\n"},
		[2]string{"SHUTDOWN", "-ERR Errors trying to SHUTDOWN. Check logs.\r\n"},
	)
	if rep := run(s, ks, 0, "HELLO 2")[0]; !strings.Contains(rep, "$7\r\nversion\r\n$6\r\n7.0.15\r\n") {
		t.Errorf("HELLO 2 = %q", rep)
	}
	if rep := run(s, ks, 0, "CLIENT ID")[0]; rep != fmt.Sprintf(":%d\r\n", s.ID) {
		t.Errorf("CLIENT ID = %q, session %d", rep, s.ID)
	}
	run(s, ks, 0, "SET a 1", "SET b 2 PX 5000")
	info := run(s, ks, 0, "INFO")[0]
	for _, want := range []string{"# Server\r\n", "redis_version:7.0.15", "# Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=0\r\n", "connected_clients:1"} {
		if !strings.Contains(info, want) {
			t.Errorf("INFO lacks %q:\n%s", want, info)
		}
	}
	if info := run(s, ks, 0, "INFO keyspace")[0]; strings.Contains(info, "# Server") || !strings.Contains(info, "# Keyspace") {
		t.Errorf("INFO keyspace = %q", info)
	}
	// COMMAND replies one well-formed info array per command.
	rep := run(s, ks, 0, "COMMAND")[0]
	if n, err := replyLen([]byte(rep)); err != nil || n != len(rep) {
		t.Fatalf("COMMAND reply malformed at %d: %v", n, err)
	}
}

func TestCheck(t *testing.T) {
	n := NewNode()
	ks := keyspace.New()
	run(NewSession(n), ks, 0, "ACL SETUSER t on nopass ~{t}* +@all")
	s := NewSession(n)
	run(s, ks, 0, "AUTH t x")
	for _, tc := range []struct{ cmd, want string }{
		{"GET {t}a", ""}, {"GET b", "NOPERM this user has no permissions to access one of the keys used as arguments"},
		{"GET", "ERR wrong number of arguments for 'get' command"}, {"NOPE x", "ERR unknown command 'NOPE', with args beginning with: 'x' "},
		{"CLIENT NOPE", "ERR unknown subcommand 'NOPE'. Try CLIENT HELP."}, {"PING", ""},
	} {
		args, _ := resp.SplitArgs([]byte(tc.cmd), nil)
		if got := Check(s, args); got != tc.want {
			t.Errorf("Check(%q) = %q, want %q", tc.cmd, got, tc.want)
		}
	}
}

func TestQuitSetsClosing(t *testing.T) {
	s := NewSession(NewNode())
	if run(s, keyspace.New(), 0, "QUIT")[0] != "+OK\r\n" || !s.Closing {
		t.Fatal("QUIT did not reply OK and mark the session closing")
	}
}

func TestKeys(t *testing.T) {
	for _, tc := range []struct {
		cmd  string
		keys string
	}{
		{"GET a", "a"}, {"get a", "a"}, {"SET a v EX 10", "a"}, {"MGET a b c", "a b c"}, {"MSET a 1 b 2", "a b"},
		{"DEL a b", "a b"}, {"WATCH a b", "a b"}, {"GETRANGE a 0 1", "a"}, {"PING", ""}, {"NOSUCH a", ""},
		{"GET", ""}, {"GET a b", ""}, {"KEYS *", ""}, {"CLIENT SETNAME a", ""}, {"EXPIRE a 10 NX", "a"},
	} {
		args, _ := resp.SplitArgs([]byte(tc.cmd), nil)
		var got []string
		for _, k := range Keys(args, nil) {
			got = append(got, string(k))
		}
		if strings.Join(got, " ") != tc.keys {
			t.Errorf("Keys(%q) = %q, want %q", tc.cmd, got, tc.keys)
		}
	}
}

// TestTenantConfinement checks the ACL pattern that confines a tenant to
// its hash tag.
func TestTenantConfinement(t *testing.T) {
	n := NewNode()
	ks := keyspace.New()
	admin := NewSession(n)
	expect(t, admin, ks, [2]string{"ACL SETUSER acme on >pw ~{acme}* +@all", "+OK\r\n"}, [2]string{"SET {other}.k v", "+OK\r\n"})
	s := NewSession(n)
	const noperm = "-NOPERM this user has no permissions to access one of the keys used as arguments\r\n"
	expect(t, s, ks,
		[2]string{"AUTH acme nope", "-WRONGPASS invalid username-password pair or user is disabled.\r\n"},
		[2]string{"AUTH acme pw", "+OK\r\n"},
		[2]string{"SET {acme}.k v", "+OK\r\n"},
		[2]string{"GET {acme}.k", "$1\r\nv\r\n"},
		[2]string{"GET {other}.k", noperm},
		[2]string{"GET acme", noperm},
		[2]string{"MGET {acme}.k {other}.k", noperm},
		[2]string{"ACL WHOAMI", "$4\r\nacme\r\n"},
		[2]string{"KEYS *", "*1\r\n$8\r\n{acme}.k\r\n"},
		[2]string{"SCAN 0 COUNT 1000", "*2\r\n$1\r\n0\r\n*1\r\n$8\r\n{acme}.k\r\n"},
		// As in Redis, +@all includes ACL SETUSER and FLUSHALL, which key
		// patterns do not restrict: a tenant gets -@dangerous as well.
		[2]string{"ACL SETUSER acme -@dangerous", "+OK\r\n"},
		[2]string{"ACL SETUSER x", "-NOPERM this user has no permissions to run the 'acl|setuser' command\r\n"},
		[2]string{"FLUSHALL", "-NOPERM this user has no permissions to run the 'flushall' command\r\n"},
	)
	// Rules changed between queueing and EXEC are enforced at EXEC.
	expect(t, s, ks, [2]string{"MULTI", "+OK\r\n"}, [2]string{"GET {acme}.k", "+QUEUED\r\n"})
	expect(t, admin, ks, [2]string{"ACL SETUSER acme resetkeys ~{other}*", "+OK\r\n"})
	expect(t, s, ks, [2]string{"EXEC", "*1\r\n-NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: no permission to touch the specified keys\r\n"})
	expect(t, admin, ks, [2]string{"ACL DELUSER acme", ":1\r\n"})
	expect(t, s, ks, [2]string{"PING", "-NOPERM this user has no permissions to run the 'ping' command\r\n"})
}

func TestNoAuth(t *testing.T) {
	n := NewNode()
	ks := keyspace.New()
	expect(t, NewSession(n), ks, [2]string{"ACL SETUSER default resetpass >secret", "+OK\r\n"})
	s := NewSession(n)
	if s.Authenticated() {
		t.Fatal("new session authenticated although the default user has a password")
	}
	expect(t, s, ks,
		[2]string{"GET k", "-NOAUTH Authentication required.\r\n"},
		[2]string{"HELLO 2", "-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n"},
		[2]string{"AUTH wrong", "-WRONGPASS invalid username-password pair or user is disabled.\r\n"},
		[2]string{"AUTH secret", "+OK\r\n"},
		[2]string{"GET k", "$-1\r\n"},
	)
}

// TestMutationsReplay checks that the mutation records of writes rebuild
// the same keyspace when applied to an empty one.
func TestMutationsReplay(t *testing.T) {
	s, live, replay := NewSession(NewNode()), keyspace.New(), keyspace.New()
	now := int64(1_000_000)
	var muts []Mutation
	for _, l := range []string{
		"SET a 1", "SET b 2 EX 100", "INCR a", "INCRBY b 5", "INCRBYFLOAT f 0.1", "APPEND b xyz", "APPEND new abc",
		"SETRANGE new 5 Z", "MSET c 1 d 2 e 3", "DEL c", "EXPIRE d 50", "PEXPIREAT e 2000000", "PERSIST b",
		"GETDEL e", "SETEX g 10 v", "GETEX g PERSIST", "GETEX a EX 30", "EXPIRE a -1", "SET h v KEEPTTL",
		"SET d x KEEPTTL", "MSETNX i 1 j 2", "SETNX i 3", "PSETEX k 100 v", "GETSET k w", "UNLINK nope g",
		"MULTI", "SET m 1", "INCR m", "EXEC", "FLUSHALL", "SET after flush",
	} {
		args, _ := resp.SplitArgs([]byte(l), nil)
		_, muts = Exec(s, live, args, now, nil, muts[:0])
		for _, m := range muts {
			Apply(replay, m)
		}
		if a, b := dump(live, now), dump(replay, now); a != b {
			t.Fatalf("after %q: live and replayed keyspaces differ\nlive:   %s\nreplay: %s", l, a, b)
		}
		now += 7
	}
}

// dump describes the live keys of ks at now.
func dump(ks *keyspace.Keyspace, now int64) string {
	var out []string
	ks.Each(func(k, v []byte, exp int64) {
		if exp == 0 || exp > now {
			out = append(out, fmt.Sprintf("%q=%q@%d", k, v, exp))
		}
	})
	sort.Strings(out)
	return strings.Join(out, " ")
}

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pat, s string
		want   bool
	}{
		{"*", "", false}, {"", "", true}, {"", "a", false}, {"a*", "abc", true}, {"*c", "abc", true},
		{"a?c", "abc", true}, {"a?c", "ac", false}, {"[abc]", "b", true}, {"[^abc]", "b", false},
		{"[a-c]x", "bx", true}, {"[c-a]x", "bx", true}, {"\\*", "*", true}, {"\\*", "a", false},
		{"[", "a", false}, {"[^", "a", true}, {"a[", "a", false}, {"[\\]]", "]", true},
		{"*a*b*c*d*e*f*g*h*i*j*k*l*m*n*o*p*q*r*s*t*u*v*w*x*y*z*", strings.Repeat("a", 60), false},
		{"h*o", "hello", true}, {"h*o", "hellx", false}, {"{acme}*", "{acme}.k", true}, {"{acme}*", "x{acme}", false},
	} {
		if got := Match([]byte(tc.pat), []byte(tc.s), false); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.pat, tc.s, got, tc.want)
		}
	}
	if !Match([]byte("HELLO"), []byte("hello"), true) || Match([]byte("HELLO"), []byte("hello"), false) {
		t.Error("nocase handling wrong")
	}
}

func TestFloatFormatting(t *testing.T) {
	for _, tc := range []struct{ a, b, want string }{
		{"0", "0.1", "0.1"}, {"0.1", "0.2", "0.3"}, {"10.5", "0.1", "10.6"}, {"5.0e3", "2.0e2", "5200"},
		{"1", "-1", "0"}, {"-0", "-0", "0"}, {"0x10", "0", "16"}, {"1e-17", "0", "0.00000000000000001"},
		{"1e-18", "0", "0"}, {"3", "0.000000000000000005", "3"},
	} {
		a, ok1 := parseLongDouble([]byte(tc.a))
		b, ok2 := parseLongDouble([]byte(tc.b))
		if !ok1 || !ok2 {
			t.Fatalf("parse %q %q failed", tc.a, tc.b)
		}
		sum, ok := a.add(b)
		if got := string(sum.appendHuman(nil)); !ok || got != tc.want {
			t.Errorf("%s + %s = %q, want %q", tc.a, tc.b, got, tc.want)
		}
	}
}

// replyLen returns the length of the one RESP2 reply at the start of b.
func replyLen(b []byte) (int, error) {
	i := bytes.Index(b, []byte("\r\n"))
	if i < 1 {
		return 0, fmt.Errorf("no reply line in %q", b)
	}
	line := string(b[1:i])
	switch b[0] {
	case '+', '-':
		if strings.ContainsAny(line, "\r\n") {
			return 0, fmt.Errorf("newline inside %q", line)
		}
		return i + 2, nil
	case ':':
		if _, err := strconv.ParseInt(line, 10, 64); err != nil {
			return 0, err
		}
		return i + 2, nil
	case '$':
		n, err := strconv.Atoi(line)
		if err != nil || n < -1 {
			return 0, fmt.Errorf("bad bulk length %q", line)
		}
		if n == -1 {
			return i + 2, nil
		}
		end := i + 2 + n + 2
		if end > len(b) || string(b[end-2:end]) != "\r\n" {
			return 0, fmt.Errorf("bad bulk body")
		}
		return end, nil
	case '*':
		n, err := strconv.Atoi(line)
		if err != nil || n < -1 {
			return 0, fmt.Errorf("bad array length %q", line)
		}
		pos := i + 2
		for range n {
			l, err := replyLen(b[pos:])
			if err != nil {
				return 0, err
			}
			pos += l
		}
		return pos, nil
	}
	return 0, fmt.Errorf("unknown reply type %q", b[0])
}

// FuzzExec runs random command sequences: Exec must never panic, every
// reply must be exactly one well-formed RESP2 value (QUEUED inside MULTI
// included), and the mutation records must rebuild the live keyspace.
func FuzzExec(f *testing.F) {
	for _, s := range []string{
		"SET a 1\nINCR a\nGET a", "SET k v EX 10\nTTL k\nPERSIST k", "MULTI\nSET a b\nEXEC", "WATCH a\nSET a 1\nMULTI\nEXEC",
		"APPEND a xyz\nSETRANGE a 10 q\nGETRANGE a -3 -1", "INCRBYFLOAT f 1.5e3\nINCRBYFLOAT f -0.25",
		"MSET a 1 b 2\nKEYS *\nSCAN 0 MATCH a* COUNT 1", "SET a 1 PXAT 5\nGETEX a PX 100\nEXPIRE a 10 GT",
		"ACL SETUSER u on nopass ~x* +@all\nAUTH u p\nGET y", "FLUSHALL\nDBSIZE",
		"HSET h a 1 b 2\nHDEL h a\nHINCRBY h b 3\nSET h x\nSADD s 1 x\nSMOVE s t 1\nSINTERSTORE u s t\nEXPIRE t 5",
	} {
		f.Add([]byte(s))
	}
	names := make([]string, 0, len(table))
	for n := range table {
		names = append(names, n)
	}
	sort.Strings(names)
	f.Fuzz(func(t *testing.T, in []byte) {
		s, live, replay := NewSession(NewNode()), keyspace.New(), NewReplay(keyspace.New())
		now := int64(1000)
		var muts []Mutation
		for _, line := range bytes.Split(in, []byte("\n")) {
			args, ok := resp.SplitArgs(line, nil)
			if !ok || len(args) == 0 {
				continue
			}
			if len(args[0]) == 1 { // a one-byte name picks a real command
				args[0] = []byte(names[int(args[0][0])%len(names)])
			}
			var rep []byte
			rep, muts = Exec(s, live, args, now, nil, muts[:0])
			if blk, ok := s.TakeBlock(); ok {
				rep = append(rep, blk.TimeoutReply...) // no server here to park it
			}
			if n, err := replyLen(rep); err != nil || n != len(rep) {
				t.Fatalf("%q: reply %q is not one RESP value (%d of %d bytes, %v)", args, rep, n, len(rep), err)
			}
			for _, m := range muts {
				if err := replay.Apply(m); err != nil {
					t.Fatalf("%q: replay: %v", args, err)
				}
			}
			now += int64(len(line))
		}
		if a, b := dumpAll(live, now), dumpAll(replay.KS, now); a != b {
			t.Fatalf("live and replayed keyspaces differ\nlive:   %s\nreplay: %s", a, b)
		}
	})
}

// TestCrossLoopHelpers: the queue is visible, QueuedCheck reports a key the
// user lost access to with EXEC's text, ExecChecked runs a command without
// the session's MULTI queueing, and SetWatchDirty aborts EXEC.
func TestCrossLoopHelpers(t *testing.T) {
	n := NewNode()
	ks := keyspace.New()
	s := NewSession(n)
	run := func(args ...string) string {
		b := make([][]byte, len(args))
		for i, a := range args {
			b[i] = []byte(a)
		}
		out, _ := Exec(s, ks, b, 1, nil, nil)
		return string(out)
	}
	run("MULTI")
	run("SET", "a", "1")
	run("INCR", "a")
	if q := s.Queued(); len(q) != 2 || string(q[1].Args[0]) != "INCR" || q[1].Cmd.Name != "incr" || s.QueueAborted() {
		t.Fatalf("Queued = %v, aborted %v", q, s.QueueAborted())
	}
	out, _ := ExecChecked(s, ks, [][]byte{[]byte("SET"), []byte("b"), []byte("2")}, 1, nil, nil)
	if string(out) != "+OK\r\n" || !s.InMulti() {
		t.Fatalf("ExecChecked in MULTI = %q (in multi %v)", out, s.InMulti())
	}
	s.SetWatchDirty()
	if got := run("EXEC"); got != "*-1\r\n" {
		t.Fatalf("EXEC after SetWatchDirty = %q", got)
	}
	if got := run("GET", "a"); got != "$-1\r\n" {
		t.Fatalf("aborted EXEC applied: GET a = %q", got)
	}
	run("ACL", "SETUSER", "t", "on", "nopass", "~{t}*", "+@all")
	u := NewSession(n)
	if out, _ := Exec(u, ks, [][]byte{[]byte("AUTH"), []byte("t"), []byte("x")}, 1, nil, nil); string(out) != "+OK\r\n" {
		t.Fatalf("AUTH t = %q", out)
	}
	if msg := QueuedCheck(u, [][]byte{[]byte("GET"), []byte("{t}a")}); msg != "" {
		t.Fatalf("QueuedCheck allowed key = %q", msg)
	}
	if msg := QueuedCheck(u, [][]byte{[]byte("GET"), []byte("other")}); !strings.Contains(msg, "no permission to touch the specified keys") {
		t.Fatalf("QueuedCheck other key = %q", msg)
	}
}

func TestReadsValues(t *testing.T) {
	for _, tc := range []struct {
		args string
		want bool
	}{
		{"GET k", true}, {"APPEND k v", true}, {"INCR k", true}, {"EXPIRE k 10", true},
		{"SET k v", false}, {"SET k v EX 10 NX", false}, {"SET k v get", true}, {"SET k v PX 5 GET", true},
		{"MSET a 1 b 2", false}, {"DEL a b", false}, {"EXISTS a", false}, {"TTL a", false},
		{"SETNX a 1", false}, {"MGET a b", true}, {"NOSUCHCMD a", true},
	} {
		var args [][]byte
		for _, a := range strings.Fields(tc.args) {
			args = append(args, []byte(a))
		}
		if got := ReadsValues(args); got != tc.want {
			t.Errorf("ReadsValues(%s) = %v, want %v", tc.args, got, tc.want)
		}
	}
}

// COMMAND LIST filters as Redis 7.0 does, and refuses what it does not
// parse (it ignored FILTERBY and accepted anything before).
func TestCommandListFilterBy(t *testing.T) {
	s, ks := NewSession(NewNode()), keyspace.New()
	expect(t, s, ks,
		[2]string{"COMMAND LIST FILTERBY", "-ERR syntax error\r\n"},
		[2]string{"COMMAND LIST FILTERBY PATTERN", "-ERR syntax error\r\n"},
		[2]string{"COMMAND LIST FILTERBY FOO x", "-ERR syntax error\r\n"},
		[2]string{"COMMAND LIST FILTERBY PATTERN a b", "-ERR syntax error\r\n"},
		[2]string{"COMMAND LIST foo", "-ERR syntax error\r\n"},
		[2]string{"COMMAND LIST FILTERBY MODULE x", "*0\r\n"},
		[2]string{"COMMAND LIST FILTERBY ACLCAT nosuch", "*0\r\n"},
	)
	set := func(line string) map[string]bool {
		out := run(s, ks, 1000, line)[0]
		m := map[string]bool{}
		for _, f := range strings.Split(out, "\r\n") {
			if f != "" && f[0] != '*' && f[0] != '$' {
				m[f] = true
			}
		}
		return m
	}
	if got := set("COMMAND LIST FILTERBY ACLCAT TRANSACTION"); len(got) != 5 || !got["multi"] || !got["exec"] || !got["discard"] || !got["watch"] || !got["unwatch"] {
		t.Errorf("ACLCAT transaction = %v, want Redis's five", got)
	}
	got := set("COMMAND LIST FILTERBY PATTERN CONFIG*")
	if !got["config"] || !got["config|get"] || !got["config|set"] || got["get"] {
		t.Errorf("PATTERN CONFIG* = %v", got)
	}
	if all := set("COMMAND LIST"); !all["get"] || !all["client|setname"] {
		t.Errorf("COMMAND LIST misses commands or subcommands: %d names", len(all))
	}
}
