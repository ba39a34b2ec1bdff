package command

import (
	"slices"
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
	// Not Redis flags (COMMAND INFO does not list them): what a server
	// needs to route and run the command.
	NoValueRead // never reads a key's value, only its existence and expiry
	RunsInMulti // runs at once inside MULTI instead of being queued
	Blocking    // may block the client until a key is written (BLPOP...)
	UsersWrite  // may change the user table, which shard 0's log stores (Req.WritesUsers)
	// NoTouch: running it is no access to its keys for OBJECT IDLETIME
	// (Redis's LOOKUP_NOTOUCH: EXISTS, TYPE, TTL, OBJECT...).
	NoTouch
)

var flagNames = []struct {
	f    Flags
	name string
}{
	{Write, "write"}, {ReadOnly, "readonly"}, {DenyOOM, "denyoom"}, {Admin, "admin"},
	{NoScript, "noscript"}, {Loading, "loading"}, {Stale, "stale"}, {NoAuth, "no_auth"},
	{Fast, "fast"}, {NoMulti, "no_multi"},
}

// typeCats are the categories of data types, and transactions.
const typeCats = CatString | CatSet | CatSortedSet | CatList | CatHash | CatBitmap | CatHyperLogLog |
	CatGeo | CatStream | CatTransaction

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
	// Redis 7.0's other categories, for ACL rules and ACL CAT; the data
	// type categories belong to the commands of those types.
	CatSet
	CatSortedSet
	CatList
	CatHash
	CatBitmap
	CatHyperLogLog
	CatGeo
	CatStream
	CatPubsub
	CatBlocking
	CatScripting
	CatAll Category = 1<<iota - 1
)

var categoryNames = []struct {
	c    Category
	name string
}{
	// Redis 7.0.15's order (ACL CAT, COMMAND INFO).
	{CatKeyspace, "keyspace"}, {CatRead, "read"}, {CatWrite, "write"}, {CatSet, "set"},
	{CatSortedSet, "sortedset"}, {CatList, "list"}, {CatHash, "hash"}, {CatString, "string"},
	{CatBitmap, "bitmap"}, {CatHyperLogLog, "hyperloglog"}, {CatGeo, "geo"}, {CatStream, "stream"},
	{CatPubsub, "pubsub"}, {CatAdmin, "admin"}, {CatFast, "fast"}, {CatSlow, "slow"},
	{CatBlocking, "blocking"}, {CatDangerous, "dangerous"}, {CatConnection, "connection"},
	{CatTransaction, "transaction"}, {CatScripting, "scripting"},
}

// Route says how a server spreading keys over event loops (or nodes) runs
// a command; it reads this, never the command's name.
type Route uint8

const (
	// RouteKeys runs the command on the loop owning its keys (any loop when
	// it has none); keys spanning loops get CROSSSLOT.
	RouteKeys Route = iota
	// RouteSplit runs a multi-key command whose keys span loops as one
	// atomic command: each owner runs its keys' part (Step arguments per
	// key), and the parts' replies merge by Merge.
	RouteSplit
	// RouteBroadcast runs the command on every loop (when its arity is
	// right) and merges the replies by Merge.
	RouteBroadcast
	// RouteScan runs on the loop owning the slot of its cursor.
	RouteScan
	// RouteExec, RouteDiscard, RouteWatch and RouteUnwatch are the
	// transaction commands, whose state the server keeps across loops.
	RouteExec
	RouteDiscard
	RouteWatch
	RouteUnwatch
	// RouteClient is a CLIENT subcommand that the server runs itself: it
	// knows the connections (datapath/core, client.go). The command
	// package checks it (CheckReq) and parses its arguments (conn_client.go).
	RouteClient
)

// Merge says how the replies of a command's parts on several loops become
// its reply.
type Merge uint8

const (
	MergeNone  Merge = iota
	MergeSum         // integers added (DEL, EXISTS, DBSIZE)
	MergeOK          // +OK when every part said +OK (MSET, FLUSHALL)
	MergeArray       // arrays concatenated (KEYS)
	MergeByKey       // the parts' arrays interleaved in key order (MGET)
	// MergeAll is all or nothing: :1 when every part wrote, else :0 and
	// none did (MSETNX). Its meaning needs every loop's answer before any
	// loop writes, so inside a cross-loop MULTI it is refused (CROSSSLOT).
	MergeAll
	// MergeRandom is one of the parts' non-null replies, at random, or a
	// null when every part is one (RANDOMKEY).
	MergeRandom
)

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
	// numKeysArg, when not 0, is the index of a numkeys argument
	// (SINTERCARD, ZUNION, LMPOP...): that many keys follow it, after the
	// keys First..Last locate.
	numKeysArg int
	// Route and Merge say how a server runs it across loops.
	Route Route
	Merge Merge
	// Subs are the subcommands of a container command (CLIENT, CONFIG, ...).
	Subs map[string]*Cmd
	// subCats, of a container, are the categories its subcommands get; the
	// container itself is only @slow, as in Redis.
	subCats Category
	// readsValueIf, for a NoValueRead command, reports the arguments with
	// which it does read a value after all (SET ... GET).
	readsValueIf func(args [][]byte) bool
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
	if flags&Blocking != 0 {
		c.Cats |= CatBlocking
	}
	if flags&Fast != 0 {
		c.Cats |= CatFast
	} else {
		c.Cats |= CatSlow
	}
	// Redis's @keyspace is the generic key commands (DEL, EXPIRE, ...):
	// a keyed command of a data type or of transactions is not in it.
	if first != 0 && cats&typeCats == 0 {
		c.Cats |= CatKeyspace
	}
	if run == nil {
		c.subCats, c.Cats = c.Cats, CatSlow
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
		c.Cats |= parent.subCats &^ (CatFast | CatSlow)
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

// Lookup returns the command that args names, resolving a container's
// subcommand, or nil; unknownSub reports a container whose subcommand is
// unknown.
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
func Keys(args [][]byte, dst [][]byte) [][]byte { return Resolve(args).Keys(dst) }

// ArityOK reports whether n arguments (the name included) fit the arity.
func (cmd *Cmd) ArityOK(n int) bool { return cmd.arityOK(n) }

func (cmd *Cmd) arityOK(n int) bool {
	return cmd.Arity > 0 && n == cmd.Arity || cmd.Arity < 0 && n >= -cmd.Arity
}

func (cmd *Cmd) keys(args [][]byte, dst [][]byte) [][]byte {
	if cmd.numKeysArg != 0 {
		dst = cmd.fixedKeys(args, dst)
		return numberedKeys(args, cmd.numKeysArg, dst)
	}
	return cmd.fixedKeys(args, dst)
}

// numberedKeys appends the keys after the numkeys argument args[at]: none
// when it is not a count the arguments can hold (the command's own error).
func numberedKeys(args [][]byte, at int, dst [][]byte) [][]byte {
	if at >= len(args) {
		return dst
	}
	n, ok := intArg(args[at])
	if !ok || n <= 0 || n > int64(len(args)-at-1) {
		return dst
	}
	return append(dst, args[at+1:at+1+int(n)]...)
}

// numKeysAt marks cmd as taking a numkeys argument at args[i].
func (cmd *Cmd) numKeysAt(i int) *Cmd { cmd.numKeysArg = i; return cmd }

func (cmd *Cmd) fixedKeys(args [][]byte, dst [][]byte) [][]byte {
	if cmd.First == 0 {
		return dst
	}
	last := cmd.Last
	if last < 0 {
		last += len(args)
	}
	last = min(last, len(args)-1)
	if last < cmd.First {
		return dst
	}
	dst = slices.Grow(dst, (last-cmd.First)/cmd.Step+1) // once: DEL and MSET take a million keys
	for i := cmd.First; i <= last; i += cmd.Step {
		dst = append(dst, args[i])
	}
	return dst
}

// ReadsValues reports whether the command in args may read the current
// value of one of its keys. A server that keeps some values on disk only
// (a cold key, see keyspace.Keyspace.IsCold) must bring them back before
// running such a command; the others run on cold keys as they are.
func ReadsValues(args [][]byte) bool { return Resolve(args).ReadsValues() }

// Req is a request resolved against the table once, when it is parsed; the
// server passes it along instead of looking its name up again.
type Req struct {
	Args [][]byte
	// Cmd is nil for an unknown command; UnknownSub then says it is a
	// known container with an unknown subcommand.
	Cmd        *Cmd
	UnknownSub bool
}

// Resolve looks args's command up.
func Resolve(args [][]byte) Req {
	cmd, sub := Lookup(args)
	return Req{Args: args, Cmd: cmd, UnknownSub: sub}
}

// Keys appends the request's key arguments to dst (none for an unknown
// command or a wrong arity).
func (r Req) Keys(dst [][]byte) [][]byte {
	if r.Cmd == nil || !r.Cmd.arityOK(len(r.Args)) {
		return dst
	}
	return r.Cmd.keys(r.Args, dst)
}

// ReadsValues reports whether the request may read the current value of
// one of its keys (see ReadsValues).
func (r Req) ReadsValues() bool {
	c := r.Cmd
	if c == nil || c.Flags&NoValueRead == 0 {
		return true
	}
	return c.readsValueIf != nil && c.readsValueIf(r.Args)
}

// Is reports whether the request runs cmd's route (nil-safe).
func (r Req) Is(route Route) bool { return r.Cmd != nil && r.Cmd.Route == route }

// split marks cmd as RouteSplit with merge m.
func (cmd *Cmd) split(m Merge) *Cmd { cmd.Route, cmd.Merge = RouteSplit, m; return cmd }

// broadcast marks cmd as RouteBroadcast with merge m.
func (cmd *Cmd) broadcast(m Merge) *Cmd { cmd.Route, cmd.Merge = RouteBroadcast, m; return cmd }

// routed sets cmd's route.
func (cmd *Cmd) routed(r Route) *Cmd { cmd.Route = r; return cmd }

// readsValueWhen marks a NoValueRead command that reads a value when
// f(args) says so.
func (cmd *Cmd) readsValueWhen(f func(args [][]byte) bool) *Cmd { cmd.readsValueIf = f; return cmd }

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
	def(nil, "set", -3, Write|DenyOOM|NoValueRead, str, 1, 1, 1, setCmd).readsValueWhen(setWithGet)
	def(nil, "setnx", 3, Write|DenyOOM|Fast|NoValueRead, str, 1, 1, 1, setnxCmd)
	def(nil, "setex", 4, Write|DenyOOM|NoValueRead, str, 1, 1, 1, setexCmd)
	def(nil, "psetex", 4, Write|DenyOOM|NoValueRead, str, 1, 1, 1, psetexCmd)
	def(nil, "getdel", 2, Write|Fast, str, 1, 1, 1, getdelCmd)
	def(nil, "getex", -2, Write|Fast, str, 1, 1, 1, getexCmd)
	def(nil, "getset", 3, Write|DenyOOM|Fast, str, 1, 1, 1, getsetCmd)
	def(nil, "mget", -2, ReadOnly|Fast, str, 1, -1, 1, mgetCmd).split(MergeByKey)
	def(nil, "mset", -3, Write|DenyOOM|NoValueRead, str, 1, -1, 2, msetCmd).split(MergeOK)
	def(nil, "msetnx", -3, Write|DenyOOM|NoValueRead, str, 1, -1, 2, msetnxCmd).split(MergeAll)
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

// setWithGet reports SET's GET option, with which SET reads the old value.
func setWithGet(args [][]byte) bool {
	for _, a := range args[min(3, len(args)):] {
		if strings.EqualFold(string(a), "get") {
			return true
		}
	}
	return false
}
