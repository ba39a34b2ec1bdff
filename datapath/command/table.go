package command

import (
	"strings"
)

// Flags describe a command, as Redis's command flags do.
type Flags uint32

const (
	Write    Flags = 1 << iota // changes the keyspace
	ReadOnly                   // reads the keyspace only
	Admin                      // administrative (CONFIG, ACL, FLUSH*)
	Fast                       // O(1) or O(log n)
	NoAuth                     // allowed before authentication
	NoMulti                    // refused inside MULTI
	NoScript                   // refused in scripts
	Loading                    // allowed while loading
	Stale                      // allowed on a stale replica
	DenyOOM                    // refused when out of memory
)

var flagNames = []struct {
	f    Flags
	name string
}{
	{Write, "write"}, {ReadOnly, "readonly"}, {DenyOOM, "denyoom"}, {Admin, "admin"},
	{NoScript, "noscript"}, {Loading, "loading"}, {Stale, "stale"}, {NoAuth, "no_auth"},
	{Fast, "fast"}, {NoMulti, "no_multi"},
}

// Category is a set of ACL categories (@read, @write, ...).
type Category uint32

const (
	CatKeyspace Category = 1 << iota
	CatRead
	CatWrite
	CatString
	CatFast
	CatSlow
	CatAdmin
	CatDangerous
	CatConnection
	CatTransaction
	CatAll Category = 1<<iota - 1
)

var categoryNames = []struct {
	c    Category
	name string
}{
	{CatKeyspace, "keyspace"}, {CatRead, "read"}, {CatWrite, "write"}, {CatString, "string"},
	{CatFast, "fast"}, {CatSlow, "slow"}, {CatAdmin, "admin"}, {CatDangerous, "dangerous"},
	{CatConnection, "connection"}, {CatTransaction, "transaction"},
}

// Cmd is one command or subcommand.
type Cmd struct {
	// Name is the lowercase full name: "get", or "client|setname" for a
	// subcommand, as Redis names it in errors.
	Name string
	// Arity is the number of arguments including the name: n exactly, or
	// at least -n when negative.
	Arity int
	Flags Flags
	Cats  Category
	// First, Last and Step locate the keys: args[First], args[First+Step],
	// ... up to args[Last]; a negative Last counts from the end (-1 is the
	// last argument). First == 0 means no keys.
	First, Last, Step int
	// Subs are the subcommands of a container command (CLIENT, CONFIG, ...).
	Subs map[string]*Cmd
	// id is the command's index in the ACL command bitmap.
	id  int
	run func(c *call)
}

// table maps lowercase command names to commands.
var table = map[string]*Cmd{}

// cmds lists every command and subcommand, indexed by Cmd.id.
var cmds []*Cmd

func def(parent *Cmd, name string, arity int, flags Flags, cats Category, first, last, step int, run func(*call)) *Cmd {
	c := &Cmd{Name: name, Arity: arity, Flags: flags, Cats: cats, First: first, Last: last, Step: step, run: run, id: len(cmds)}
	if flags&Write != 0 {
		c.Cats |= CatWrite
	}
	if flags&ReadOnly != 0 {
		c.Cats |= CatRead
	}
	if flags&Admin != 0 {
		c.Cats |= CatAdmin | CatDangerous
	}
	if flags&Fast != 0 {
		c.Cats |= CatFast
	} else {
		c.Cats |= CatSlow
	}
	if first != 0 {
		c.Cats |= CatKeyspace
	}
	cmds = append(cmds, c)
	if parent == nil {
		table[name] = c
	} else {
		c.Name = parent.Name + "|" + name
		if parent.Subs == nil {
			parent.Subs = map[string]*Cmd{}
		}
		parent.Subs[name] = c
		c.Cats |= parent.Cats &^ (CatFast | CatSlow)
	}
	return c
}

// lowerInto lowercases b into buf, returning nil when b does not fit.
func lowerInto(buf []byte, b []byte) []byte {
	if len(b) > len(buf) {
		return nil
	}
	for i, c := range b {
		buf[i] = lower(c)
	}
	return buf[:len(b)]
}

// Lookup returns the command args names, resolving a container's
// subcommand, or nil. sub reports a container whose subcommand is unknown.
func Lookup(args [][]byte) (cmd *Cmd, unknownSub bool) {
	if len(args) == 0 {
		return nil, false
	}
	var buf [32]byte
	name := lowerInto(buf[:], args[0])
	if name == nil {
		return nil, false
	}
	cmd = table[string(name)]
	if cmd == nil || cmd.Subs == nil || len(args) < 2 {
		return cmd, false
	}
	name = lowerInto(buf[:], args[1])
	if sub := cmd.Subs[string(name)]; name != nil && sub != nil {
		return sub, false
	}
	return nil, true
}

// Keys appends args's key arguments to dst, by the key positions of its
// command. Unknown commands and commands with the wrong arity have no keys.
func Keys(args [][]byte, dst [][]byte) [][]byte {
	cmd, _ := Lookup(args)
	if cmd == nil || !cmd.arityOK(len(args)) {
		return dst
	}
	return cmd.keys(args, dst)
}

func (cmd *Cmd) arityOK(n int) bool {
	return cmd.Arity > 0 && n == cmd.Arity || cmd.Arity < 0 && n >= -cmd.Arity
}

func (cmd *Cmd) keys(args [][]byte, dst [][]byte) [][]byte {
	if cmd.First == 0 {
		return dst
	}
	last := cmd.Last
	if last < 0 {
		last += len(args)
	}
	for i := cmd.First; i <= last && i < len(args); i += cmd.Step {
		dst = append(dst, args[i])
	}
	return dst
}

// blind are the commands that never read the current value of a key, only
// whether it exists and its expiry (SET only without its GET option).
var blind = map[string]bool{
	"del": true, "unlink": true, "exists": true, "type": true,
	"ttl": true, "pttl": true, "expiretime": true, "pexpiretime": true,
	"set": true, "setnx": true, "setex": true, "psetex": true, "mset": true, "msetnx": true,
}

// ReadsValues reports whether the command in args may read the current
// value of one of its keys. A server that keeps some values on disk only
// (a cold key, see keyspace.Keyspace.IsCold) must bring them back before
// running such a command; the others run on cold keys as they are.
func ReadsValues(args [][]byte) bool {
	cmd, _ := Lookup(args)
	if cmd == nil || !blind[cmd.Name] {
		return true
	}
	if cmd.Name == "set" {
		for _, a := range args[3:] {
			if strings.EqualFold(string(a), "get") {
				return true
			}
		}
	}
	return false
}

// Commands returns every top-level command, for COMMAND and tests.
func Commands() []*Cmd {
	var out []*Cmd
	for _, c := range cmds {
		if !strings.Contains(c.Name, "|") {
			out = append(out, c)
		}
	}
	return out
}

const (
	str  = CatString
	conn = CatConnection
	tx   = CatTransaction
)

func init() {
	def(nil, "get", 2, ReadOnly|Fast, str, 1, 1, 1, getCmd)
	def(nil, "set", -3, Write|DenyOOM, str, 1, 1, 1, setCmd)
	def(nil, "setnx", 3, Write|DenyOOM|Fast, str, 1, 1, 1, setnxCmd)
	def(nil, "setex", 4, Write|DenyOOM, str, 1, 1, 1, setexCmd)
	def(nil, "psetex", 4, Write|DenyOOM, str, 1, 1, 1, psetexCmd)
	def(nil, "getdel", 2, Write|Fast, str, 1, 1, 1, getdelCmd)
	def(nil, "getex", -2, Write|Fast, str, 1, 1, 1, getexCmd)
	def(nil, "getset", 3, Write|DenyOOM|Fast, str, 1, 1, 1, getsetCmd)
	def(nil, "mget", -2, ReadOnly|Fast, str, 1, -1, 1, mgetCmd)
	def(nil, "mset", -3, Write|DenyOOM, str, 1, -1, 2, msetCmd)
	def(nil, "msetnx", -3, Write|DenyOOM, str, 1, -1, 2, msetnxCmd)
	def(nil, "incr", 2, Write|DenyOOM|Fast, str, 1, 1, 1, incrCmd)
	def(nil, "decr", 2, Write|DenyOOM|Fast, str, 1, 1, 1, decrCmd)
	def(nil, "incrby", 3, Write|DenyOOM|Fast, str, 1, 1, 1, incrbyCmd)
	def(nil, "decrby", 3, Write|DenyOOM|Fast, str, 1, 1, 1, decrbyCmd)
	def(nil, "incrbyfloat", 3, Write|DenyOOM|Fast, str, 1, 1, 1, incrbyfloatCmd)
	def(nil, "append", 3, Write|DenyOOM|Fast, str, 1, 1, 1, appendCmd)
	def(nil, "strlen", 2, ReadOnly|Fast, str, 1, 1, 1, strlenCmd)
	def(nil, "getrange", 4, ReadOnly, str, 1, 1, 1, getrangeCmd)
	def(nil, "substr", 4, ReadOnly, str, 1, 1, 1, getrangeCmd)
	def(nil, "setrange", 4, Write|DenyOOM, str, 1, 1, 1, setrangeCmd)
}
