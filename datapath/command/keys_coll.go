package command

import (
	"strings"

	"github.com/dorivo/dorivo/shardstore/collection"
	"github.com/dorivo/dorivo/shardstore/keyspace"
)

// TOUCH, RENAME, RENAMENX, COPY, OBJECT and MEMORY USAGE, for every type.
// RENAME and COPY take keys on one loop (CROSSSLOT otherwise, as Redis
// Cluster for different slots). A renamed or copied collection is written
// whole under its new key: its records are keyed by the user key.

func init() {
	ks := CatKeyspace
	def(nil, "touch", -2, ReadOnly|Fast|NoValueRead, ks, 1, -1, 1, existsCmd).split(MergeSum)
	def(nil, "rename", 3, Write, ks, 1, 2, 1, renameCmd)
	def(nil, "renamenx", 3, Write|Fast, ks, 1, 2, 1, renameCmd)
	def(nil, "copy", -3, Write|DenyOOM, ks, 1, 2, 1, copyCmd)
	obj := def(nil, "object", -2, 0, ks, 0, 0, 0, nil)
	def(obj, "encoding", 3, ReadOnly|NoTouch, ks, 2, 2, 1, objectCmd)
	def(obj, "refcount", 3, ReadOnly|NoTouch, ks, 2, 2, 1, objectCmd)
	def(obj, "freq", 3, ReadOnly|NoTouch, ks, 2, 2, 1, objectCmd)
	def(obj, "idletime", 3, ReadOnly|NoTouch, ks, 2, 2, 1, objectCmd)
	mem := def(nil, "memory", -2, 0, 0, 0, 0, 0, nil)
	usage := def(mem, "usage", -3, ReadOnly|NoTouch, 0, 2, 2, 1, memoryUsageCmd)
	usage.Cats &^= CatKeyspace // @read @slow only, as in Redis
}

func renameCmd(c *call) {
	src, dst := c.args[1], c.args[2]
	nx := c.cmd.Name == "renamenx"
	if !c.ks.Exists(src, c.now) {
		c.err("ERR no such key")
		return
	}
	if string(src) == string(dst) {
		if nx {
			c.int(0)
		} else {
			c.ok()
		}
		return
	}
	if nx && c.ks.Exists(dst, c.now) {
		c.int(0)
		return
	}
	c.copyKey(src, dst, true)
	if nx {
		c.int(1)
	} else {
		c.ok()
	}
}

func copyCmd(c *call) {
	src, dst := c.args[1], c.args[2]
	replace := false
	for i := 3; i < len(c.args); i++ {
		switch {
		case eq(c.args[i], "replace"):
			replace = true
		case eq(c.args[i], "db") && i+1 < len(c.args):
			i++
			db, ok := intArg(c.args[i])
			if !ok {
				c.err(errNotInt)
				return
			}
			if db != 0 {
				c.err("ERR DB index is out of range")
				return
			}
		default:
			c.err(errSyntax)
			return
		}
	}
	if string(src) == string(dst) {
		c.err("ERR source and destination objects are the same")
		return
	}
	if !c.ks.Exists(src, c.now) || !replace && c.ks.Exists(dst, c.now) {
		c.int(0)
		return
	}
	c.copyKey(src, dst, false)
	c.int(1)
}

// copyKey writes live src's value and expiry under dst, replacing dst;
// move deletes src after.
func (c *call) copyKey(src, dst []byte, move bool) {
	exp, _ := c.ks.Expiry(src, c.now)
	co, kind := c.ks.CollKind(src, c.now)
	if kind == keyspace.KindString {
		v, _ := c.ks.Get(src, c.now)
		v = append([]byte(nil), v...) // src's memory may go with its deletion
		c.delKey(dst)
		c.ks.Set(dst, v, exp)
		c.mut(Mutation{Op: OpSet, Key: dst, Val: v, ExpireAt: exp})
	} else {
		v := co.V
		if !move {
			v = cloneColl(co)
		}
		c.delKey(dst)
		c.writeWhole(dst, co.Meta.Type, v)
		if exp != 0 {
			c.setExpire(dst, exp)
		}
	}
	if move {
		c.delKey(src)
	}
}

// writeWhole stores v as a new collection under key and records every
// element.
func (c *call) writeWhole(key []byte, t collection.Type, v any) {
	nc := c.newColl(key, t)
	nc.V = v
	m := &nc.Meta
	switch x := v.(type) {
	case *collection.Hash:
		for f := range x.All() {
			c.recs(key, collection.HashSet(key, m, x, []byte(f), true)...)
		}
	case *collection.Set:
		for _, mb := range x.Members() {
			c.recs(key, collection.SetAdd(key, m, []byte(mb))...)
		}
	case *collection.ZSet:
		for _, e := range x.All() {
			c.recs(key, collection.ZSetPut(key, m, []byte(e.Member), false, 0, e.Score)...)
		}
	case *collection.List:
		all := x.All()
		vals := make([][]byte, len(all))
		for i, e := range all {
			vals[i] = []byte(e)
		}
		c.recs(key, collection.ListPush(key, m, false, vals)...)
	}
	c.changed(key, nc)
}

// cloneColl returns a copy of co's value (COPY).
func cloneColl(co *keyspace.Coll) any {
	switch x := co.V.(type) {
	case *collection.Hash:
		h := collection.NewHash()
		for f, v := range x.All() {
			h.Set([]byte(f), []byte(v))
		}
		return h
	case *collection.Set:
		return collection.FromMembers(x.Members())
	case *collection.ZSet:
		return collection.FromEntries(x.All())
	case *collection.List:
		l := collection.NewList()
		for _, e := range x.All() {
			l.PushRight([]byte(e))
		}
		return l
	}
	return nil
}

// stringEncoding is OBJECT ENCODING of a string value, by its content:
// "int" for a canonical integer, "embstr" up to 44 bytes, else "raw".
// (Redis also keeps "raw" for a short string APPEND or SETRANGE wrote;
// Dorivo does not track that.)
func stringEncoding(v []byte) string {
	if _, ok := collection.ParseInt(v); ok {
		return "int"
	}
	if len(v) <= 44 {
		return "embstr"
	}
	return "raw"
}

func objectCmd(c *call) {
	key := c.args[2]
	co, kind := c.ks.CollKind(key, c.now)
	if kind == keyspace.KindNone {
		c.nil3()
		return
	}
	switch c.cmd.Name {
	case "object|encoding":
		if kind == keyspace.KindString {
			v, _ := c.ks.Get(key, c.now)
			c.bulkStr(stringEncoding(v))
			return
		}
		c.bulkStr(collEncoding(co))
	case "object|refcount":
		if kind == keyspace.KindString {
			// Redis shares the integers 0..9999 (OBJ_SHARED_REFCOUNT).
			v, _ := c.ks.Get(key, c.now)
			if n, ok := collection.ParseInt(v); ok && n >= 0 && n < 10000 {
				c.int(2147483647)
				return
			}
		}
		c.int(1)
	case "object|freq":
		c.objectFreq(key) // lfu.go
	case "object|idletime":
		if lfuPolicy(c.s.Node.Config()) {
			c.err("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")
			return
		}
		c.int(idleSeconds(c.ks, key, c.now))
	}
}

// lfuPolicy reports an LFU maxmemory-policy (allkeys-lfu, volatile-lfu),
// under which Redis tracks access frequency instead of idle time.
func lfuPolicy(cfg *Config) bool { return strings.HasSuffix(cfg.MaxmemoryPolicy, "-lfu") }

// lruClock is the access clock of OBJECT IDLETIME at now (unix ms): whole
// seconds, as Redis's LRU clock (LRU_CLOCK_RESOLUTION 1000 ms).
func lruClock(now int64) uint32 { return uint32(now / 1000) }

// idleSeconds is how long key went without access, 0 when it had none
// since it was loaded.
func idleSeconds(ks *keyspace.Keyspace, key []byte, now int64) int64 {
	at, _ := ks.LastAccess(key)
	if at == 0 {
		return 0
	}
	return max(0, int64(lruClock(now))-int64(at))
}

// touchKeys records an access to each key of the command just run, as
// Redis's lookupKey does for commands without LOOKUP_NOTOUCH: its LRU
// clock, or its LFU counter under an LFU policy (lfu.go).
func (c *call) touchKeys(cmd *Cmd) {
	var buf [8][]byte
	lfu := lfuPolicy(c.s.Node.Config())
	clock := lruClock(c.now)
	for _, k := range cmd.keys(c.args, buf[:0]) {
		if lfu {
			c.lfuTouch(c.ks, k)
		} else {
			c.ks.MarkAccess(k, clock)
		}
	}
}

func collEncoding(co *keyspace.Coll) string {
	switch x := co.V.(type) {
	case *collection.Hash:
		return x.Encoding()
	case *collection.Set:
		return x.Encoding()
	case *collection.ZSet:
		return x.Encoding()
	case *collection.List:
		return x.Encoding()
	}
	return ""
}

// memoryUsageCmd estimates a key's bytes (MEMORY USAGE key [SAMPLES n]):
// the key, the entry, and the value (collection.MemoryUsage for a
// collection). Dorivo's numbers, not Redis's allocator's.
func memoryUsageCmd(c *call) {
	if len(c.args) == 5 && eq(c.args[3], "samples") {
		if _, ok := intArg(c.args[4]); !ok {
			c.err(errNotInt)
			return
		}
	} else if len(c.args) != 3 {
		c.err(errSyntax)
		return
	}
	key := c.args[2]
	co, kind := c.ks.CollKind(key, c.now)
	n := 0
	switch kind {
	case keyspace.KindNone:
		c.nil3()
		return
	case keyspace.KindString:
		v, _ := c.ks.Get(key, c.now)
		n = 32 + len(key) + len(v)
	default:
		n = 32 + len(key) + collUsage(co)
	}
	c.int(int64(n))
}

func collUsage(co *keyspace.Coll) int {
	switch x := co.V.(type) {
	case *collection.Hash:
		return x.MemoryUsage()
	case *collection.Set:
		return x.MemoryUsage()
	case *collection.ZSet:
		return x.MemoryUsage()
	case *collection.List:
		return x.MemoryUsage()
	}
	return 0
}
