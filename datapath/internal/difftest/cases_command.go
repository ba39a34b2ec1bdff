package difftest

import (
	"sort"

	"github.com/dorivo/dorivo/datapath/command"
)

// The COMMAND cases. COMMAND INFO and COMMAND DOCS of each command Dorivo
// implements (and of each of its subcommands) must be Redis's, in both
// protocols, with the subcommands compared in any order: Redis lists them
// in its dictionary's order, which changes from one process to the next.
//
// The replies about every command (COMMAND, COMMAND INFO and COMMAND DOCS
// without names, COMMAND LIST) cover only the commands Dorivo implements,
// a subset of Redis's: they are compared as subsets, and COMMAND LIST
// FILTERBY PATTERN exactly for patterns whose commands Dorivo all has.
// COMMAND COUNT is Dorivo's number of commands, not Redis's, and is not
// compared (datapath/command's tests check it against the table).
func init() { Cases = append(Cases, append(CommandCases(), objectCases...)...) }

// objectCases are RANDOMKEY (with at most one key: which one is random),
// and OBJECT IDLETIME and FREQ: idle seconds (within a second: the clocks
// tick apart), and the errors of the maxmemory policies.
var objectCases = []Case{
	{"randomkey", []Step{
		X("RANDOMKEY"), X("RANDOMKEY", "x"), X("SET", "only", "1"), X("RANDOMKEY"), X("randomkey"),
		X("DEL", "only"), X("RANDOMKEY"), X("RPUSH", "l", "a"), X("RANDOMKEY"),
	}},
	{"object idletime freq", []Step{
		X("SET", "k", "v"), X("RPUSH", "l", "a"), N("OBJECT", "IDLETIME", "k"), N("object", "idletime", "l"),
		X("OBJECT", "IDLETIME", "nosuch"), X("OBJECT", "FREQ", "k"), X("OBJECT", "FREQ", "nosuch"),
		X("CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"), X("OBJECT", "IDLETIME", "k"),
		X("OBJECT", "IDLETIME", "nosuch"), X("OBJECT", "FREQ", "nosuch"),
		// LFU counters: LFU_INIT_VAL for a new key, +1 surely on its first
		// access (later ones are random); not for NOTOUCH commands.
		X("SET", "f", "hello"), X("OBJECT", "FREQ", "f"), X("GET", "f"), X("OBJECT", "FREQ", "f"),
		X("RPUSH", "fl", "a"), X("OBJECT", "FREQ", "fl"), X("EXISTS", "fl"), X("TYPE", "fl"), X("OBJECT", "FREQ", "fl"),
		X("LLEN", "fl"), X("OBJECT", "FREQ", "fl"), X("CONFIG", "SET", "maxmemory-policy", "volatile-lfu"),
		X("OBJECT", "IDLETIME", "l"), X("CONFIG", "SET", "maxmemory-policy", "allkeys-lru"), N("OBJECT", "IDLETIME", "k"),
		X("CONFIG", "SET", "maxmemory-policy", "noeviction"), X("OBJECT", "IDLETIME"), X("OBJECT", "IDLETIME", "k", "x"),
	}},
}

// CommandCases are the COMMAND cases (in Cases too).
func CommandCases() []Case {
	var info, docs []Step
	for _, cmd := range command.Commands() {
		names := []string{cmd.Name}
		var subs []string
		for s := range cmd.Subs {
			subs = append(subs, cmd.Name+"|"+s)
		}
		sort.Strings(subs)
		for _, n := range append(names, subs...) {
			info = append(info, Step{Args: []string{"COMMAND", "INFO", n}, Cmp: Described})
			docs = append(docs, Step{Args: []string{"COMMAND", "DOCS", n}, Cmp: Described})
		}
	}
	d := func(args ...string) Step { return Step{Args: args, Cmp: Described} }
	ds := func(args ...string) Step { return Step{Args: args, Cmp: DescribedSubset} }
	sub := func(args ...string) Step { return Step{Args: args, Cmp: Subset} }
	return []Case{
		{"command info of every command", info},
		{"command docs of every command", docs},
		{"command info docs mixed", []Step{
			d("COMMAND", "INFO", "GET", "nosuch", "Client|Id", "client|nosuch", "get|x", "SET"),
			d("COMMAND", "INFO", "client|tracking"), d("command", "info", "CONFIG"),
			d("COMMAND", "DOCS", "get", "nosuch", "Client|Id", "client|nosuch", "mset"),
			d("COMMAND", "DOCS", "nosuch"), d("COMMAND", "DOCS", "acl", "function"),
		}},
		{"command all", []Step{
			ds("COMMAND"), ds("COMMAND", "INFO"), ds("COMMAND", "DOCS"),
			sub("COMMAND", "LIST"), sub("COMMAND", "LIST", "FILTERBY", "ACLCAT", "write"),
			sub("COMMAND", "LIST", "FILTERBY", "ACLCAT", "keyspace"), sub("COMMAND", "LIST", "FILTERBY", "PATTERN", "*"),
			U("COMMAND", "LIST", "FILTERBY", "PATTERN", "z*"), U("COMMAND", "LIST", "FILTERBY", "PATTERN", "h*"),
			U("COMMAND", "LIST", "FILTERBY", "PATTERN", "z*range*"), sub("COMMAND", "LIST", "FILTERBY", "ACLCAT", "sortedset"),
			U("COMMAND", "LIST", "FILTERBY", "ACLCAT", "hash"),
		}},
	}
}
