package command

import (
	"strconv"
	"strings"
	"sync/atomic"
)

// CLIENT subcommands that need the connections (LIST, KILL, INFO, REPLY,
// PAUSE, UNPAUSE, NO-EVICT) are defined here with RouteClient: the
// server runs them (datapath/core, client.go) with the parsers below, so
// their errors are Redis's. Inside MULTI they are queued like any command
// and EXEC runs them here, where only the session is known: LIST and KILL
// are refused there (clientNeedsServer), INFO describes the session alone.

func init() {
	client := table["client"]
	cn := CatConnection
	def(client, "list", -2, Admin|NoScript|Loading|Stale, cn, 0, 0, 0, clientNeedsServer).routed(RouteClient)
	def(client, "kill", -3, Admin|NoScript|Loading|Stale, cn, 0, 0, 0, clientNeedsServer).routed(RouteClient)
	def(client, "reply", 3, NoScript|Loading|Stale, cn, 0, 0, 0, clientNeedsServer).routed(RouteClient)
	def(client, "no-evict", 3, Admin|NoScript|Loading|Stale, cn, 0, 0, 0, clientNoEvictCmd)
	def(client, "pause", -3, Admin|NoScript|Loading|Stale, cn, 0, 0, 0, clientPauseCmd)
	def(client, "unpause", 2, Admin|NoScript|Loading|Stale, cn, 0, 0, 0, clientUnpauseCmd)
	client.Subs["info"].routed(RouteClient)
}

func clientNeedsServer(c *call) {
	c.err("ERR " + strings.ToUpper(c.cmd.Name) + " is not supported inside MULTI by Dorivo")
}

func clientNoEvictCmd(c *call) {
	switch strings.ToLower(string(c.args[2])) {
	case "on", "off":
		c.ok() // Dorivo never evicts clients (client memory is bounded by pausing)
	default:
		c.err("ERR syntax error")
	}
}

// pause is CLIENT PAUSE's state, shared by the node's loops.
type pause struct {
	until atomic.Int64 // unix ms; 0: not paused
	all   atomic.Bool  // ALL (every command) rather than WRITE
}

// Paused reports whether CLIENT PAUSE holds a command with flags at now
// (unix ms): every command under ALL, writes under WRITE.
func (n *Node) Paused(cmd *Cmd, now int64) bool {
	if now >= n.pause.until.Load() || cmd == nil {
		return false
	}
	return n.pause.all.Load() || cmd.Flags&Write != 0
}

func clientPauseCmd(c *call) {
	if len(c.args) > 4 {
		// Redis's addReplySubcommandSyntaxError, the subcommand as given
		c.err("ERR unknown subcommand or wrong number of arguments for '" + string(cstr(c.args[1])) + "'. Try CLIENT HELP.")
		return
	}
	ms, err := strconv.ParseInt(string(c.args[2]), 10, 64)
	if err != nil {
		c.err("ERR timeout is not an integer or out of range")
		return
	}
	all := true
	if len(c.args) == 4 {
		switch strings.ToLower(string(c.args[3])) {
		case "write":
			all = false
		case "all":
		default:
			c.err("ERR CLIENT PAUSE mode must be WRITE or ALL")
			return
		}
	}
	if ms < 0 {
		c.err("ERR timeout is negative")
		return
	}
	p := &c.s.Node.pause
	// As in Redis, a pause never ends earlier than one already set, and
	// ALL wins over WRITE while both would hold.
	if end := c.now + ms; end > p.until.Load() {
		p.until.Store(end)
	}
	if all || c.now >= p.until.Load() {
		p.all.Store(all)
	}
	c.ok()
}

func clientUnpauseCmd(c *call) {
	c.s.Node.pause.until.Store(0)
	c.ok()
}

// ClientFilter is CLIENT KILL's (and LIST's) choice of clients.
type ClientFilter struct {
	// Old is the old form CLIENT KILL addr: OK or "No such client".
	Old     bool
	IDs     []int64
	Addr    string
	LAddr   string
	User    string
	SkipMe  bool
	NoMatch bool // TYPE master, replica or pubsub: no Dorivo client has it
}

// Match reports whether a client with these attributes is chosen.
func (f *ClientFilter) Match(id int64, addr, laddr, user string) bool {
	if f.NoMatch || f.Addr != "" && f.Addr != addr || f.LAddr != "" && f.LAddr != laddr || f.User != "" && f.User != user {
		return false
	}
	if len(f.IDs) == 0 {
		return true
	}
	for _, x := range f.IDs {
		if x == id {
			return true
		}
	}
	return false
}

// clientType parses a client type: ok false is Redis's unknown type.
func clientType(t []byte) (noMatch bool, ok bool) {
	switch strings.ToLower(string(t)) {
	case "normal":
		return false, true
	case "master", "replica", "slave", "pubsub":
		return true, true
	}
	return false, false
}

// ParseClientKill parses CLIENT KILL's arguments (args[0] is CLIENT), as
// Redis 7.0 does; msg is Redis's error.
func ParseClientKill(s *Session, args [][]byte) (f ClientFilter, msg string) {
	if len(args) == 3 {
		return ClientFilter{Old: true, Addr: string(args[2])}, ""
	}
	f.SkipMe = true
	for i := 2; i < len(args); i += 2 {
		if i+1 >= len(args) {
			return f, "ERR syntax error"
		}
		v := args[i+1]
		switch strings.ToLower(string(args[i])) {
		case "id":
			id, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil || id <= 0 {
				return f, "ERR client-id should be greater than 0"
			}
			f.IDs = append(f.IDs, id)
		case "type":
			nm, ok := clientType(v)
			if !ok {
				return f, "ERR Unknown client type '" + string(v) + "'"
			}
			f.NoMatch = f.NoMatch || nm
		case "addr":
			f.Addr = string(v)
		case "laddr":
			f.LAddr = string(v)
		case "user":
			if s.Node.users.Load().get(string(v)) == nil {
				return f, "ERR No such user '" + string(v) + "'"
			}
			f.User = string(v)
		case "skipme":
			switch strings.ToLower(string(v)) {
			case "yes":
				f.SkipMe = true
			case "no":
				f.SkipMe = false
			default:
				return f, "ERR syntax error"
			}
		default:
			return f, "ERR syntax error"
		}
	}
	return f, ""
}

// ParseClientList parses CLIENT LIST, CLIENT LIST TYPE t or CLIENT LIST
// ID id [id ...], the forms Redis 7.0 has (TYPE and ID do not combine).
func ParseClientList(args [][]byte) (f ClientFilter, msg string) {
	switch {
	case len(args) == 2:
	case len(args) == 4 && strings.EqualFold(string(args[2]), "type"):
		nm, ok := clientType(args[3])
		if !ok {
			return f, "ERR Unknown client type '" + string(args[3]) + "'"
		}
		f.NoMatch = nm
	case len(args) > 3 && strings.EqualFold(string(args[2]), "id"):
		for _, a := range args[3:] {
			id, err := strconv.ParseInt(string(a), 10, 64)
			if err != nil {
				return f, "ERR Invalid client ID"
			}
			f.IDs = append(f.IDs, id)
		}
		if f.IDs == nil {
			f.NoMatch = true
		}
	default:
		return f, "ERR syntax error"
	}
	return f, ""
}

// MultiLen is the number of queued commands, -1 outside MULTI (CLIENT
// INFO's multi).
func (s *Session) MultiLen() int {
	if !s.multi {
		return -1
	}
	return len(s.queue)
}
