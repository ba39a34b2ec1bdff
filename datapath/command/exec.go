package command

import (
	"strings"
	"time"

	"github.com/dorivo/dorivo/datapath/resp"
	"github.com/dorivo/dorivo/shardstore/keyspace"
)

// Error replies shared by many commands, Redis 7.0's exact texts.
const (
	errSyntax     = "ERR syntax error"
	errNotInt     = "ERR value is not an integer or out of range"
	errNotFloat   = "ERR value is not a valid float"
	errOverflow   = "ERR increment or decrement would overflow"
	errNoAuth     = "NOAUTH Authentication required."
	errExecAbort  = "EXECABORT Transaction discarded because of previous errors."
	errNoPermKey  = "NOPERM this user has no permissions to access one of the keys used as arguments"
	errStrTooLong = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
)

// call is the state of one command execution. It lives in the Session and
// is reused, so that executing a command does not allocate.
type call struct {
	s    *Session
	ks   *keyspace.Keyspace
	cmd  *Cmd
	args [][]byte
	now  int64
	dst  []byte
	muts []Mutation
	// mayBlock: a blocking command may block (not inside EXEC nor a
	// cross-loop transaction's part, where it replies as on a timeout).
	mayBlock bool
}

func (c *call) ok() { c.dst = resp.AppendOK(c.dst) }
func (c *call) err(msg string) {
	c.dst = resp.AppendError(c.dst, msg)
	c.s.Node.countError(msg)
}
func (c *call) int(n int64)      { c.dst = resp.AppendInt(c.dst, n) }
func (c *call) bulk(b []byte)    { c.dst = resp.AppendBulk(c.dst, b) }
func (c *call) null()            { c.dst = resp.AppendNil(c.dst, c.s.resp3) }
func (c *call) simple(s string)  { c.dst = resp.AppendSimple(c.dst, s) }
func (c *call) array(n int)      { c.dst = resp.AppendArray(c.dst, n) }
func (c *call) bulkStr(s string) { c.dst = resp.AppendBulkString(c.dst, s) }

// The replies whose type RESP3 (HELLO 3) tells apart; in RESP2 they fall
// back to arrays, bulk strings and $-1/*-1, as in Redis.
func (c *call) nullArray()        { c.dst = resp.AppendNilArray(c.dst, c.s.resp3) }
func (c *call) mapLen(n int)      { c.dst = resp.AppendMap(c.dst, n, c.s.resp3) }
func (c *call) setLen(n int)      { c.dst = resp.AppendSet(c.dst, n, c.s.resp3) }
func (c *call) verbatim(s string) { c.dst = resp.AppendVerbatim(c.dst, s, c.s.resp3) }

// mut records a change of durable state.
func (c *call) mut(m Mutation) { c.muts = append(c.muts, m) }

// Exec runs the request args for session s against ks, whose loop must own
// every key of the request, at time now (unix ms). It appends the reply to
// dst and the mutation records of its writes to muts. Inside MULTI it
// queues the command instead and replies +QUEUED.
func Exec(s *Session, ks *keyspace.Keyspace, args [][]byte, now int64, dst []byte, muts []Mutation) ([]byte, []Mutation) {
	return ExecReq(s, ks, Resolve(args), now, dst, muts)
}

// ExecReq is Exec of a request already resolved.
func ExecReq(s *Session, ks *keyspace.Keyspace, r Req, now int64, dst []byte, muts []Mutation) ([]byte, []Mutation) {
	c := &s.c
	*c = call{s: s, ks: ks, args: r.Args, now: now, dst: dst, muts: muts, mayBlock: true}
	c.dispatch(r)
	dst, muts = c.dst, c.muts
	*c = call{s: s}
	return dst, muts
}

// Check returns the error Exec would reply for args before running it
// (unknown command, wrong arity, authentication, ACL), or "" when it would
// run. It changes nothing. A server forwarding a request to the loop owning
// its keys runs Check on the connection's own loop first: the owner
// executes with a session of its own, which must not decide permissions.
func Check(s *Session, args [][]byte) string { return CheckReq(s, Resolve(args)) }

// CheckReq is Check of a request already resolved.
func CheckReq(s *Session, r Req) string {
	_, msg := check(s, r)
	return msg
}

func check(s *Session, r Req) (*Cmd, string) {
	cmd, unknownSub, args := r.Cmd, r.UnknownSub, r.Args
	switch {
	case cmd == nil && unknownSub:
		return nil, unknownSubcommand(args)
	case cmd == nil:
		return nil, unknownCommand(args)
	case !cmd.arityOK(len(args)):
		return cmd, arityError(cmd)
	case !s.authenticated && cmd.Flags&NoAuth == 0:
		return cmd, errNoAuth
	case s.multi && cmd.Flags&NoMulti != 0:
		return cmd, "ERR Command not allowed inside a transaction"
	}
	return cmd, s.permission(cmd, args)
}

// dispatch is Redis's processCommand: lookup, arity, authentication, ACL,
// then queueing inside MULTI or execution.
func (c *call) dispatch(r Req) {
	s, args := c.s, c.args
	cmd, msg := check(s, r)
	c.cmd = cmd
	if msg != "" {
		c.noteDenied(cmd, args, msg) // acllog.go
		c.reject(msg)
		if cmd != nil {
			s.stats.of(cmd).rejected.Add(1)
		}
		return
	}
	if s.multi && cmd.Flags&RunsInMulti == 0 {
		s.queue = append(s.queue, Req{Args: cloneArgs(args), Cmd: cmd})
		c.simple("QUEUED")
		return
	}
	c.run(cmd)
}

// timeSample: one command in timeSample of a session is timed, and its
// time counts timeSample times. Reading the clock costs 150-500 ns on a
// VM (BenchmarkNow in stats_test.go), more than a GET; INFO's usec is an
// unbiased estimate instead.
const timeSample = 16

// run executes cmd, counting it in INFO commandstats: a call, its time
// (sampled), and a failure when its reply is an error.
func (c *call) run(cmd *Cmd) {
	start := len(c.dst)
	s := c.s
	s.ticks++
	timed := s.ticks%timeSample == 1
	var t0 time.Time
	if timed {
		t0 = time.Now()
	}
	cmd.run(c)
	if (cmd.First != 0 || cmd.numKeysArg != 0) && cmd.Flags&NoTouch == 0 {
		c.touchKeys(cmd)
	}
	st := s.stats.of(cmd)
	st.calls.Add(1)
	if timed {
		st.nanos.Add(timeSample * uint64(time.Since(t0)))
	}
	if len(c.dst) > start && c.dst[start] == '-' {
		st.failed.Add(1)
	}
}

// reject replies an error for a command refused before execution; inside
// MULTI it also dooms the transaction, as Redis's rejectCommand does.
func (c *call) reject(msg string) {
	if c.s.multi {
		c.s.multiErr = true
	}
	if c.cmd != nil && c.cmd.Name == "exec" {
		// Redis's execCommandAbort: a rejected EXEC discards the transaction.
		c.s.discard()
		c.err("EXECABORT Transaction discarded because of: " + strings.TrimPrefix(msg, "ERR "))
		return
	}
	c.err(msg)
}

func cloneArgs(args [][]byte) [][]byte {
	n := 0
	for _, a := range args {
		n += len(a)
	}
	buf := make([]byte, 0, n)
	out := make([][]byte, len(args))
	for i, a := range args {
		buf = append(buf, a...)
		out[i] = buf[len(buf)-len(a) : len(buf) : len(buf)]
	}
	return out
}

// cstr is b as C's %s sees it: up to the first NUL.
func cstr(b []byte) []byte {
	for i, c := range b {
		if c == 0 {
			return b[:i]
		}
	}
	return b
}

func trunc(b []byte, n int) []byte {
	b = cstr(b)
	if len(b) > n {
		return b[:n]
	}
	return b
}

func unknownCommand(args [][]byte) string {
	msg := []byte("ERR unknown command '")
	msg = append(msg, trunc(args[0], 128)...)
	msg = append(msg, "', with args beginning with: "...)
	n := 0 // length of the args part, capped at 128 like Redis
	for i := 1; i < len(args) && n < 128; i++ {
		a := trunc(args[i], 128-n)
		msg = append(msg, '\'')
		msg = append(msg, a...)
		msg = append(msg, "' "...)
		n += len(a) + 3
	}
	return string(msg)
}

func unknownSubcommand(args [][]byte) string {
	msg := []byte("ERR unknown subcommand '")
	msg = append(msg, trunc(args[1], 128)...)
	msg = append(msg, "'. Try "...)
	for _, b := range cstr(args[0]) {
		if b >= 'a' && b <= 'z' {
			b -= 'a' - 'A'
		}
		msg = append(msg, b)
	}
	msg = append(msg, " HELP."...)
	return string(msg)
}

func arityError(cmd *Cmd) string {
	return "ERR wrong number of arguments for '" + cmd.Name + "' command"
}

// eq reports whether b equals the lowercase word w, ignoring case.
func eq(b []byte, w string) bool {
	if len(b) != len(w) {
		return false
	}
	for i := range len(b) {
		if lower(b[i]) != w[i] {
			return false
		}
	}
	return true
}

// intArg parses an integer argument like Redis's getLongLongFromObject.
func intArg(b []byte) (int64, bool) { return resp.ParseInt(b) }
