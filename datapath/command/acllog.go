package command

import (
	"fmt"
	"hash/maphash"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/dorivo/dorivo/datapath/resp"
)

// ACL LOG, as Redis 7.0: failed authentications (reason auth) and commands
// or keys a user may not touch (reason command, key), newest first, at most
// aclLogMaxLen entries; an entry repeating the last 60 s of another (same
// reason, context, object and user) counts in it and moves to the front.
// The log is node-wide, an immutable snapshot behind an atomic pointer
// replaced by compare-and-swap: a loop recording an entry never waits.
//
// Failed authentications also count in AuthFailures (the
// dorivo_auth_failures_total metric), log one slog line a second at most,
// and, beyond Redis, slow the guesser down: past authFreeFailures failures
// of one connection or of one source address other than loopback (within
// authAddrWindowSec),
// each further failure's reply is held for an exponentially growing delay
// (AuthDelay), during which the connection's later requests wait unread.

const (
	aclLogMaxLen        = 128   // Redis's acllog-max-len default
	aclLogGroupMs       = 60000 // Redis's ACL_LOG_GROUPING_MAX_TIME_DELTA
	authFreeFailures    = 5     // failures answered at once
	authBaseDelayMs     = 10    // the first held reply's delay, doubled per failure
	authMaxDelayMs      = 10000 // the longest hold
	authAddrWindowSec   = 60    // an address's count restarts after this quiet time
	authAddrBuckets     = 4096  // per-address counters, by hash
	authLogIntervalSecs = 1     // one log line a second at most
)

type aclLogEntry struct {
	count                             int64
	reason, context, object, username string
	ctimeMs                           int64 // creation, or the last repetition
	clientInfo                        string
}

type aclLog struct{ entries []*aclLogEntry } // newest first

// authGuard is the node's state for failed authentications.
type authGuard struct {
	failures atomic.Uint64
	// addr holds per source address lastSec<<24 | count (hashed buckets:
	// two addresses may share one, which only makes both slower).
	addr     [authAddrBuckets]atomic.Uint64
	seed     maphash.Seed
	lastLog  atomic.Int64 // unix seconds of the last log line
	unlogged atomic.Uint64
	logger   atomic.Pointer[slog.Logger]
}

// AuthFailures counts failed AUTH and HELLO AUTH attempts since start.
func (n *Node) AuthFailures() uint64 { return n.auth.failures.Load() }

// SetLogger sets where the node logs (failed authentications).
func (n *Node) SetLogger(l *slog.Logger) { n.auth.logger.Store(l) }

func (n *Node) logger() *slog.Logger {
	if l := n.auth.logger.Load(); l != nil {
		return l
	}
	return slog.Default()
}

// TakeReplyDelay returns how long (ms) the server must hold the reply of
// the command just executed (a failed AUTH past the free attempts), and
// clears it.
func (s *Session) TakeReplyDelay() int64 {
	d := s.replyDelayMs
	s.replyDelayMs = 0
	return d
}

// authDelayMs is the hold for a reply after f failures in a row.
func authDelayMs(f uint64) int64 {
	if f <= authFreeFailures {
		return 0
	}
	shift := min(f-authFreeFailures-1, 20)
	return min(int64(authBaseDelayMs)<<shift, authMaxDelayMs)
}

// addrFailure counts a failure of the session's source address at nowMs
// and returns the address's failures in its window.
func (n *Node) addrFailure(addr string, nowMs int64) uint64 {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		addr = host
	}
	if ip, err := netip.ParseAddr(addr); err == nil && ip.IsLoopback() {
		return 0 // local processes: only their connections' own counts slow them
	}
	g := &n.auth
	b := &g.addr[maphash.String(g.seed, addr)%authAddrBuckets]
	sec := uint64(nowMs / 1000)
	for {
		old := b.Load()
		count := old & (1<<24 - 1)
		if sec-old>>24 > authAddrWindowSec || sec < old>>24 {
			count = 0
		}
		count = min(count+1, 1<<24-1)
		if b.CompareAndSwap(old, sec<<24|count) {
			return count
		}
	}
}

// authFailed records a failed authentication of user by s at c.now: ACL
// LOG, the counter, the log line and the delay of the reply.
func (c *call) authFailed(user []byte) {
	s, n := c.s, c.s.Node
	n.recordACL(c, "auth", "AUTH", string(user))
	total := n.auth.failures.Add(1)
	s.authFails++
	f := max(s.authFails, n.addrFailure(s.Addr, c.now))
	s.replyDelayMs = authDelayMs(f)
	g := &n.auth
	sec := c.now / 1000
	if last := g.lastLog.Load(); sec-last < authLogIntervalSecs || !g.lastLog.CompareAndSwap(last, sec) {
		g.unlogged.Add(1)
		return
	}
	n.logger().Warn("AUTH failed", "user", string(cstr(user)), "addr", s.Addr, "failures_total", total,
		"not_logged_since_last", g.unlogged.Swap(0), "reply_delay_ms", s.replyDelayMs)
}

// authSucceeded ends the connection's run of failures.
func (s *Session) authSucceeded() { s.authFails = 0 }

// aclContext is Redis's ACL LOG context of the session's command.
func (s *Session) aclContext() string {
	if s.multi || s.inExec {
		return "multi"
	}
	return "toplevel"
}

// recordACL adds an ACL LOG entry, or counts it in a recent equal one.
func (n *Node) recordACL(c *call, reason, object, username string) {
	e := &aclLogEntry{count: 1, reason: reason, context: c.s.aclContext(), object: object, username: username,
		ctimeMs: c.now, clientInfo: aclClientInfo(c)}
	for {
		old := n.aclLog.Load()
		next := &aclLog{entries: make([]*aclLogEntry, 0, aclLogMaxLen)}
		ne := e
		var rest []*aclLogEntry
		if old != nil {
			rest = old.entries
			for i, o := range rest {
				if o.reason == e.reason && o.context == e.context && o.object == e.object &&
					o.username == e.username && e.ctimeMs-o.ctimeMs < aclLogGroupMs {
					merged := *e
					merged.count = o.count + 1
					ne = &merged
					rest = append(append([]*aclLogEntry(nil), rest[:i]...), rest[i+1:]...)
					break
				}
			}
		}
		next.entries = append(next.entries, ne)
		next.entries = append(next.entries, rest[:min(len(rest), aclLogMaxLen-1)]...)
		if n.aclLog.CompareAndSwap(old, next) {
			return
		}
	}
}

// noteDenied logs a command refused by the user's permissions (msg is
// permission's NOPERM error).
func (c *call) noteDenied(cmd *Cmd, args [][]byte, msg string) {
	u := c.s.userEntry()
	if cmd == nil || !strings.HasPrefix(msg, "NOPERM") || cmd.Flags&NoAuth != 0 {
		return
	}
	if msg != errNoPermKey || u == nil {
		c.s.Node.recordACL(c, "command", cmd.Name, c.s.user)
		return
	}
	last := cmd.Last
	if last < 0 {
		last += len(args)
	}
	for i := cmd.First; i <= last && i < len(args); i += cmd.Step {
		ok := false
		for _, p := range u.KeyPatterns {
			if Match([]byte(p), args[i], false) {
				ok = true
				break
			}
		}
		if !ok {
			c.s.Node.recordACL(c, "key", string(args[i]), c.s.user)
			return
		}
	}
}

// NoteRejected records in ACL LOG a request that a server refused with
// msg from CheckReq (its own reply), as Exec would have.
func NoteRejected(s *Session, r Req, msg string, now int64) {
	c := &call{s: s, now: now, cmd: r.Cmd, args: r.Args}
	c.noteDenied(r.Cmd, r.Args, msg)
}

// aclClientInfo is the client-info of an ACL LOG entry: the session as
// CLIENT INFO describes it, with the command being run.
func aclClientInfo(c *call) string {
	name := ""
	if c.cmd != nil {
		name = c.cmd.Name
	}
	return fmt.Sprintf("id=%d addr=%s name=%s db=0 multi=%d cmd=%s user=%s resp=%d",
		c.s.ID, c.s.Addr, c.s.Name, c.multiLen(), name, c.s.user, map[bool]int{false: 2, true: 3}[c.s.resp3])
}

func aclLogCmd(c *call) {
	n := c.s.Node
	count := int64(10)
	switch {
	case len(c.args) == 3 && eq(c.args[2], "reset"):
		n.aclLog.Store(nil)
		c.ok()
		return
	case len(c.args) == 3:
		v, ok := intArg(c.args[2])
		if !ok {
			c.err(errNotInt)
			return
		}
		count = max(v, 0)
	case len(c.args) > 3:
		c.err("ERR unknown subcommand or wrong number of arguments for '" + string(cstr(c.args[1])) + "'. Try " + strings.ToUpper(string(cstr(c.args[0]))) + " HELP.")
		return
	}
	var entries []*aclLogEntry
	if l := n.aclLog.Load(); l != nil {
		entries = l.entries[:min(int64(len(l.entries)), count)]
	}
	c.array(len(entries))
	for _, e := range entries {
		c.dst = resp.AppendMap(c.dst, 7, c.s.resp3)
		c.bulkStr("count")
		c.int(e.count)
		for _, kv := range [][2]string{{"reason", e.reason}, {"context", e.context}, {"object", e.object}, {"username", e.username}} {
			c.bulkStr(kv[0])
			c.bulkStr(kv[1])
		}
		c.bulkStr("age-seconds")
		c.dst = resp.AppendDouble(c.dst, strconv.FormatFloat(float64(c.now-e.ctimeMs)/1000, 'g', 17, 64), c.s.resp3)
		c.bulkStr("client-info")
		c.bulkStr(e.clientInfo)
	}
}
