package command

import (
	"strconv"
	"time"
)

// Server commands with nothing to do in Dorivo, answered as Redis answers
// them so that clients and tools that send them work: persistence is the
// store's (every write synced before its reply, with a durable store),
// scripting does not exist yet (no function libraries), and a client may
// not stop a node other tenants use (SHUTDOWN is the operator's SIGTERM).

func init() {
	def(nil, "time", 1, Loading|Stale|Fast, 0, 0, 0, 0, timeCmd)
	def(nil, "save", 1, Admin|NoScript|NoMulti, 0, 0, 0, 0, saveCmd)
	def(nil, "bgsave", -1, Admin|NoScript, 0, 0, 0, 0, bgsaveCmd)
	def(nil, "lastsave", 1, Loading|Stale|Fast, CatAdmin|CatDangerous, 0, 0, 0, lastsaveCmd)
	def(nil, "shutdown", -1, Admin|NoScript|Loading|Stale|NoMulti, 0, 0, 0, 0, shutdownCmd)

	function := def(nil, "function", -2, 0, CatScripting, 0, 0, 0, nil)
	def(function, "flush", -2, Write|NoScript, 0, 0, 0, 0, functionFlushCmd)
	def(function, "list", -2, NoScript, 0, 0, 0, 0, functionListCmd)
	def(function, "help", 2, Loading|Stale, 0, 0, 0, 0, helpCmd)
}

// timeCmd replies the wall clock's seconds and microseconds; c.now has
// milliseconds only.
func timeCmd(c *call) {
	t := time.Now()
	var buf [20]byte
	c.array(2)
	c.bulk(strconv.AppendInt(buf[:0], t.Unix(), 10))
	c.bulk(strconv.AppendInt(buf[:0], int64(t.Nanosecond()/1000), 10))
}

func saveCmd(c *call) { c.ok() }

func bgsaveCmd(c *call) {
	if len(c.args) > 2 || len(c.args) == 2 && !eq(c.args[1], "schedule") {
		c.err(errSyntax)
		return
	}
	c.simple("Background saving started")
}

// lastsaveCmd: with a durable store every acknowledged write is saved, so
// the last save is now; without one, nothing was ever saved since start.
func lastsaveCmd(c *call) {
	n := c.s.Node
	if n.Config().Durable {
		c.int(c.now / 1000)
		return
	}
	c.int(n.StartMs / 1000)
}

func shutdownCmd(c *call) { c.err("ERR Errors trying to SHUTDOWN. Check logs.") }

func functionFlushCmd(c *call) {
	switch {
	case len(c.args) > 3:
		c.err("ERR unknown subcommand or wrong number of arguments for 'FLUSH'. Try FUNCTION HELP.")
	case len(c.args) == 3 && !eq(c.args[2], "sync") && !eq(c.args[2], "async"):
		c.err("ERR FUNCTION FLUSH only supports SYNC|ASYNC option")
	default:
		c.ok()
	}
}

// functionListCmd is FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE] over
// an empty set of libraries.
func functionListCmd(c *call) {
	var withCode, named bool
	for j := 2; j < len(c.args); j++ {
		switch a := c.args[j]; {
		case eq(a, "withcode") && !withCode:
			withCode = true
		case eq(a, "libraryname") && !named:
			if j == len(c.args)-1 {
				c.err("ERR library name argument was not given")
				return
			}
			named = true
			j++
		default:
			c.err("ERR Unknown argument " + string(cstr(a)))
			return
		}
	}
	c.array(0)
}
