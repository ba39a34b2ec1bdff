package command

import (
	"fmt"
	"sort"
	"strings"
)

func init() {
	cn := CatConnection
	def(nil, "ping", -1, Fast, cn, 0, 0, 0, pingCmd)
	def(nil, "echo", 2, Loading|Stale|Fast, cn, 0, 0, 0, echoCmd)
	def(nil, "select", 2, Loading|Stale|Fast, cn, 0, 0, 0, selectCmd)
	def(nil, "quit", -1, NoAuth|NoScript|Loading|Stale|Fast|RunsInMulti, cn, 0, 0, 0, quitCmd)
	def(nil, "auth", -2, NoAuth|NoScript|Loading|Stale|Fast, cn, 0, 0, 0, authCmd)
	def(nil, "hello", -1, NoAuth|NoScript|Loading|Stale|Fast, cn, 0, 0, 0, helloCmd)
	def(nil, "info", -1, Loading|Stale, CatDangerous, 0, 0, 0, infoCmd)

	client := def(nil, "client", -2, 0, cn, 0, 0, 0, nil)
	def(client, "id", 2, NoScript|Loading|Stale, cn, 0, 0, 0, clientIDCmd)
	def(client, "getname", 2, NoScript|Loading|Stale, cn, 0, 0, 0, clientGetnameCmd)
	def(client, "setname", 3, NoScript|Loading|Stale, cn, 0, 0, 0, clientSetnameCmd)
	def(client, "info", 2, NoScript|Loading|Stale, cn, 0, 0, 0, clientInfoCmd)
	def(client, "help", 2, Loading|Stale, cn, 0, 0, 0, helpCmd)

	config := def(nil, "config", -2, 0, 0, 0, 0, 0, nil)
	def(config, "get", -3, Admin|NoScript|Loading|Stale, 0, 0, 0, 0, configGetCmd)
	def(config, "set", -4, Admin|NoScript|Loading|Stale|UsersWrite, 0, 0, 0, 0, configSetCmd)
	def(config, "resetstat", 2, Admin|NoScript|Loading|Stale, 0, 0, 0, 0, configResetstatCmd)
	def(config, "help", 2, Loading|Stale, 0, 0, 0, 0, helpCmd)

	command := def(nil, "command", -1, Loading|Stale, cn, 0, 0, 0, commandCmd)
	def(command, "count", 2, Loading|Stale, cn, 0, 0, 0, commandCountCmd)
	def(command, "docs", -2, Loading|Stale, cn, 0, 0, 0, commandDocsCmd)
	def(command, "info", -2, Loading|Stale, cn, 0, 0, 0, commandInfoCmd)
	def(command, "list", -2, Loading|Stale, cn, 0, 0, 0, commandListCmd)
	def(command, "getkeys", -4, Loading|Stale, cn, 0, 0, 0, commandGetkeysCmd)
	def(command, "help", 2, Loading|Stale, cn, 0, 0, 0, helpCmd)
}

func pingCmd(c *call) {
	switch len(c.args) {
	case 1:
		c.simple("PONG")
	case 2:
		c.bulk(c.args[1])
	default:
		c.err(arityError(c.cmd))
	}
}

func echoCmd(c *call) { c.bulk(c.args[1]) }

// selectCmd accepts only database 0: Dorivo has one keyspace per tenant
// tag, not numbered databases.
func selectCmd(c *call) {
	id, ok := intArg(c.args[1])
	if !ok {
		c.err(errNotInt)
		return
	}
	if id != int64(int32(id)) {
		c.err("ERR value is out of range, value must between -2147483648 and 2147483647")
		return
	}
	if id != 0 {
		c.err("ERR DB index is out of range")
		return
	}
	c.ok()
}

func quitCmd(c *call) {
	c.s.Closing = true
	c.ok()
}

func authCmd(c *call) {
	if len(c.args) > 3 {
		c.err(errSyntax)
		return
	}
	user, pass := []byte("default"), c.args[1]
	if len(c.args) == 2 {
		if u := c.s.Node.users.Load().get("default"); u != nil && u.NoPass {
			c.err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
			return
		}
	} else {
		user, pass = c.args[1], c.args[2]
	}
	if string(user) == PeerUser && c.s.authenticatePeer(pass) {
		c.s.authSucceeded()
		c.ok()
		return
	}
	if !c.s.authenticate(user, pass) {
		c.authFailed(user) // acllog.go: ACL LOG, counter, delay
		c.err("WRONGPASS invalid username-password pair or user is disabled.")
		return
	}
	c.s.authSucceeded()
	c.ok()
}

// helloCmd is HELLO [protover [AUTH user pass] [SETNAME name]]: 2 or 3
// switch the connection's protocol once the options are accepted.
func helloCmd(c *call) {
	next, ver := 1, int64(0)
	if len(c.args) >= 2 {
		var ok bool
		if ver, ok = intArg(c.args[1]); !ok {
			c.err("ERR Protocol version is not an integer or out of range")
			return
		}
		if ver < 2 || ver > 3 {
			c.err("NOPROTO unsupported protocol version")
			return
		}
		next++
	}
	var user, pass, name []byte
	for j := next; j < len(c.args); j++ {
		more := len(c.args) - 1 - j
		switch {
		case eq(c.args[j], "auth") && more >= 2:
			user, pass = c.args[j+1], c.args[j+2]
			j += 2
		case eq(c.args[j], "setname") && more >= 1:
			name = c.args[j+1]
			j++
		default:
			c.err("ERR Syntax error in HELLO option '" + string(cstr(c.args[j])) + "'")
			return
		}
	}
	if user != nil {
		if !c.s.authenticate(user, pass) {
			c.authFailed(user)
			c.err("WRONGPASS invalid username-password pair or user is disabled.")
			return
		}
		c.s.authSucceeded()
	}
	if !c.s.authenticated {
		c.err("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
		return
	}
	if name != nil && !c.setName(name) {
		return
	}
	if ver != 0 {
		c.s.resp3 = ver == 3
	}
	proto := int64(2)
	if c.s.resp3 {
		proto = 3
	}
	c.mapLen(7)
	c.bulkStr("server")
	c.bulkStr("redis")
	c.bulkStr("version")
	c.bulkStr(RedisVersion)
	c.bulkStr("proto")
	c.int(proto)
	c.bulkStr("id")
	c.int(c.s.ID)
	c.bulkStr("mode")
	c.bulkStr("standalone")
	c.bulkStr("role")
	c.bulkStr("master")
	c.bulkStr("modules")
	c.array(0)
}

// RedisVersion is the Redis version whose behaviour Dorivo reproduces and
// reports to clients that check it.
const RedisVersion = "7.0.15"

func clientIDCmd(c *call)      { c.int(c.s.ID) }
func clientGetnameCmd(c *call) { c.nullableBulk(c.s.Name) }

func (c *call) nullableBulk(b []byte) {
	if b == nil {
		c.null()
	} else {
		c.bulk(b)
	}
}

func clientSetnameCmd(c *call) {
	if c.setName(c.args[2]) {
		c.ok()
	}
}

// setName is Redis's clientSetName: an empty name clears it; names with
// spaces or non-printable bytes are refused.
func (c *call) setName(name []byte) bool {
	if len(name) == 0 {
		c.s.Name = nil
		return true
	}
	for _, b := range name {
		if b < '!' || b > '~' {
			c.err("ERR Client names cannot contain spaces, newlines or special characters.")
			return false
		}
	}
	c.s.Name = append(c.s.Name[:0:0], name...)
	return true
}

func clientInfoCmd(c *call) {
	proto := 2
	if c.s.resp3 {
		proto = 3
	}
	c.verbatim(fmt.Sprintf("id=%d addr=%s name=%s db=0 multi=%d user=%s resp=%d\n",
		c.s.ID, c.s.Addr, c.s.Name, c.multiLen(), c.s.user, proto))
}

func (c *call) multiLen() int {
	if !c.s.multi {
		return -1
	}
	return len(c.s.queue)
}

func helpCmd(c *call) {
	name := strings.ToUpper(strings.SplitN(c.cmd.Name, "|", 2)[0])
	lines := []string{name + " <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"}
	var subs []string
	for n := range table[strings.ToLower(name)].Subs {
		subs = append(subs, strings.ToUpper(n))
	}
	sort.Strings(subs)
	lines = append(lines, subs...)
	c.array(len(lines))
	for _, l := range lines {
		c.simple(l)
	}
}

// COMMAND, COMMAND INFO and COMMAND DOCS reply redis-server 7.0's own
// descriptions of the commands Dorivo implements (cmdinfo_gen.go, written
// by internal/gencmdinfo); a command Redis does not have is described from
// its table entry. A container's description lists all of Redis's
// subcommands, as Redis does, Dorivo's or not.

func commandCmd(c *call) {
	all := Commands()
	c.array(len(all))
	for _, cmd := range all {
		c.commandInfo(cmd.Name)
	}
}

// commandInfo writes the COMMAND INFO entry of the command or subcommand
// fullname ("get", "client|id"), or a null when Dorivo does not know it.
func (c *call) commandInfo(fullname string) {
	if d := describe(fullname); d != nil {
		c.dst = append(c.dst, d.info[b2i(c.s.resp3)]...)
		return
	}
	cmd := entry(fullname)
	if cmd == nil {
		c.null()
		return
	}
	c.entryInfo(cmd)
}

// entry returns the table entry of fullname ("get", "client|id"), or nil.
func entry(fullname string) *Cmd {
	name, sub, isSub := strings.Cut(fullname, "|")
	cmd := table[name]
	if cmd == nil || !isSub {
		return cmd
	}
	return cmd.Subs[sub]
}

// entryInfo describes a command Redis does not have from its table entry.
func (c *call) entryInfo(cmd *Cmd) {
	c.array(10)
	c.bulkStr(cmd.Name)
	c.int(int64(cmd.Arity))
	var flags []string
	for _, f := range flagNames {
		if cmd.Flags&f.f != 0 {
			flags = append(flags, f.name)
		}
	}
	c.setLen(len(flags))
	for _, f := range flags {
		c.simple(f)
	}
	c.int(int64(cmd.First))
	c.int(int64(cmd.Last))
	c.int(int64(cmd.Step))
	var cats []string
	for _, cat := range categoryNames {
		if cmd.Cats&cat.c != 0 {
			cats = append(cats, "@"+cat.name)
		}
	}
	c.setLen(len(cats))
	for _, cat := range cats {
		c.simple(cat)
	}
	c.setLen(0) // tips
	c.keySpecs(cmd)
	var subs []*Cmd
	for _, s := range cmd.Subs {
		subs = append(subs, s)
	}
	sort.Slice(subs, func(i, j int) bool { return subs[i].Name < subs[j].Name })
	c.array(len(subs))
	for _, s := range subs {
		c.entryInfo(s)
	}
}

func commandCountCmd(c *call) { c.int(int64(len(Commands()))) }

// commandDocsCmd is COMMAND DOCS [name ...]: a map of each known name (all
// commands when none is given) to Redis's documentation of it.
func commandDocsCmd(c *call) {
	var names []string
	if len(c.args) == 2 {
		for _, cmd := range Commands() {
			names = append(names, cmd.Name)
		}
	} else {
		for _, a := range c.args[2:] {
			names = append(names, string(a))
		}
	}
	var found []*cmdDesc
	for _, n := range names {
		if d := describe(n); d != nil && d.docs[0] != nil {
			found = append(found, d)
		}
	}
	c.mapLen(len(found))
	for _, d := range found {
		c.bulkStr(d.name)
		c.dst = append(c.dst, d.docs[b2i(c.s.resp3)]...)
	}
}

// keySpecs describes the command's key positions as one Redis 7.0 key
// specification (begin_search index, find_keys range), flagged RW or RO
// with Redis's access flags for a write or a read.
func (c *call) keySpecs(cmd *Cmd) {
	if cmd.First == 0 {
		c.array(0)
		return
	}
	c.array(1)
	c.mapLen(3)
	c.bulkStr("flags")
	switch {
	case cmd.Flags&Write != 0:
		c.setLen(2)
		c.simple("RW")
		c.simple("update")
	default:
		c.setLen(2)
		c.simple("RO")
		c.simple("access")
	}
	c.bulkStr("begin_search")
	c.mapLen(2)
	c.bulkStr("type")
	c.bulkStr("index")
	c.bulkStr("spec")
	c.mapLen(1)
	c.bulkStr("index")
	c.int(int64(cmd.First))
	c.bulkStr("find_keys")
	c.mapLen(2)
	c.bulkStr("type")
	c.bulkStr("range")
	c.bulkStr("spec")
	c.mapLen(3)
	last := cmd.Last
	if last > 0 {
		last -= cmd.First
	}
	c.bulkStr("lastkey")
	c.int(int64(last))
	c.bulkStr("keystep")
	c.int(int64(cmd.Step))
	c.bulkStr("limit")
	c.int(0)
}

// commandInfoCmd is COMMAND INFO [name ...]: every command's entry when no
// name is given, as COMMAND.
func commandInfoCmd(c *call) {
	if len(c.args) == 2 {
		commandCmd(c)
		return
	}
	c.array(len(c.args) - 2)
	for _, name := range c.args[2:] {
		c.commandInfo(strings.ToLower(string(name)))
	}
}

// commandListCmd is COMMAND LIST [FILTERBY MODULE name | ACLCAT category |
// PATTERN pattern]: every command and subcommand name, as Redis 7.0 lists
// them. There are no modules, and an unknown category matches nothing.
func commandListCmd(c *call) {
	match := func(*Cmd) bool { return true }
	switch {
	case len(c.args) == 2:
	case len(c.args) == 5 && eq(c.args[2], "filterby"):
		arg := c.args[4]
		switch {
		case eq(c.args[3], "module"):
			match = func(*Cmd) bool { return false }
		case eq(c.args[3], "aclcat"):
			cat, ok := categoryByName(strings.ToLower(string(arg)))
			match = func(cmd *Cmd) bool { return ok && cmd.Cats&cat != 0 }
		case eq(c.args[3], "pattern"):
			match = func(cmd *Cmd) bool { return Match(arg, []byte(cmd.Name), true) }
		default:
			c.err(errSyntax)
			return
		}
	default:
		c.err(errSyntax)
		return
	}
	var names []string
	for _, cmd := range cmds {
		if match(cmd) {
			names = append(names, cmd.Name)
		}
	}
	c.array(len(names))
	for _, n := range names {
		c.bulkStr(n)
	}
}

func commandGetkeysCmd(c *call) {
	args := c.args[2:]
	cmd, _ := Lookup(args)
	if cmd == nil {
		c.err("ERR Invalid command specified")
		return
	}
	if !cmd.arityOK(len(args)) {
		c.err("ERR Invalid number of arguments specified for command")
		return
	}
	keys := cmd.keys(args, nil)
	if len(keys) == 0 {
		c.err("ERR The command has no key arguments")
		return
	}
	c.array(len(keys))
	for _, k := range keys {
		c.bulk(k)
	}
}
