package command

import (
	"math"
	"strconv"
	"strings"

	"github.com/dorivo/dorivo/shardstore/slot"
)

func init() {
	ks := CatKeyspace
	def(nil, "del", -2, Write|NoValueRead|NoTouch, ks, 1, -1, 1, delCmd).split(MergeSum)
	def(nil, "unlink", -2, Write|Fast|NoValueRead|NoTouch, ks, 1, -1, 1, delCmd).split(MergeSum)
	def(nil, "exists", -2, ReadOnly|Fast|NoValueRead|NoTouch, ks, 1, -1, 1, existsCmd).split(MergeSum)
	def(nil, "randomkey", 1, ReadOnly, ks, 0, 0, 0, randomkeyCmd).broadcast(MergeRandom)
	def(nil, "type", 2, ReadOnly|Fast|NoValueRead|NoTouch, ks, 1, 1, 1, typeCmd)
	def(nil, "keys", 2, ReadOnly, ks|CatDangerous, 0, 0, 0, keysCmd).broadcast(MergeArray)
	def(nil, "scan", -2, ReadOnly, ks, 0, 0, 0, scanCmd).routed(RouteScan)
	def(nil, "dbsize", 1, ReadOnly|Fast, ks, 0, 0, 0, dbsizeCmd).broadcast(MergeSum)
	def(nil, "flushdb", -1, Write, ks|CatDangerous, 0, 0, 0, flushCmd).broadcast(MergeOK)
	def(nil, "flushall", -1, Write, ks|CatDangerous, 0, 0, 0, flushCmd).broadcast(MergeOK)
	def(nil, "expire", -3, Write|Fast, ks, 1, 1, 1, expireCmd)
	def(nil, "pexpire", -3, Write|Fast, ks, 1, 1, 1, expireCmd)
	def(nil, "expireat", -3, Write|Fast, ks, 1, 1, 1, expireCmd)
	def(nil, "pexpireat", -3, Write|Fast, ks, 1, 1, 1, expireCmd)
	def(nil, "ttl", 2, ReadOnly|Fast|NoValueRead|NoTouch, ks, 1, 1, 1, ttlCmd)
	def(nil, "pttl", 2, ReadOnly|Fast|NoValueRead|NoTouch, ks, 1, 1, 1, ttlCmd)
	def(nil, "expiretime", 2, ReadOnly|Fast|NoValueRead|NoTouch, ks, 1, 1, 1, ttlCmd)
	def(nil, "pexpiretime", 2, ReadOnly|Fast|NoValueRead|NoTouch, ks, 1, 1, 1, ttlCmd)
	def(nil, "persist", 2, Write|Fast, ks, 1, 1, 1, persistCmd)
}

func delCmd(c *call) {
	n := int64(0)
	for _, k := range c.args[1:] {
		if c.delKey(k) {
			n++
		}
	}
	c.int(n)
}

func existsCmd(c *call) {
	n := int64(0)
	for _, k := range c.args[1:] {
		if c.ks.Exists(k, c.now) {
			n++
		}
	}
	c.int(n)
}

// randomkeyCmd replies a random live key that the user may see (Dorivo
// lists only those, see keyFilter), or a null. On several loops each
// picks one of its own and the server picks one of theirs (MergeRandom).
func randomkeyCmd(c *call) {
	if k := c.randomKey(); k != nil {
		c.bulk(k)
		return
	}
	c.null()
}

// randomKey samples a few random positions of random slots, then, with a
// user that sees few of the keys, picks among the visible ones.
func (c *call) randomKey() []byte {
	if c.ks.Len() == 0 {
		return nil
	}
	visible := c.s.keyFilter()
	var found []byte
	for range 16 {
		s := uint16(c.rng().IntN(slot.Count))
		cursor := uint64(s) << 32 // the next non-empty slot's last key
		if n := c.ks.SlotLen(s); n > 0 {
			cursor |= uint64(1 + c.rng().IntN(n)) // its key at position p-1
		}
		if c.ks.Scan(cursor, 1, c.now, func(k, _ []byte) { found = k }) == 0 && found == nil {
			c.ks.Scan(0, 1, c.now, func(k, _ []byte) { found = k }) // wrapped around
		}
		if found != nil && visible(found) {
			return append([]byte(nil), found...)
		}
		found = nil
	}
	keys := c.visibleKeys()
	if len(keys) == 0 {
		return nil
	}
	return keys[c.rng().IntN(len(keys))]
}

func typeCmd(c *call) {
	c.simple(c.ks.Kind(c.args[1], c.now).String())
}

func keysCmd(c *call) {
	pat := c.args[1]
	all := len(pat) == 1 && pat[0] == '*'
	// The count is known only at the end: collect the keys' bytes first.
	var keys [][]byte
	visible := c.s.keyFilter()
	c.ks.Each(func(key, _ []byte, exp int64) {
		if exp != 0 && exp <= c.now {
			return
		}
		if (all || Match(pat, key, false)) && visible(key) {
			keys = append(keys, key)
		}
	})
	c.array(len(keys))
	for _, k := range keys {
		c.bulk(k)
	}
}

// parseCursor parses a SCAN cursor like C's strtoul, as Redis does: leading
// '+' or '-' allowed (a negative value wraps), leading zeros allowed, no
// spaces, no trailing bytes, no overflow.
func parseCursor(b []byte) (uint64, bool) {
	if len(b) == 0 {
		return 0, true // strtoul("") is 0 with eptr at the end
	}
	if isSpace(b[0]) {
		return 0, false
	}
	neg := false
	s := b
	if s[0] == '+' || s[0] == '-' {
		neg = s[0] == '-'
		s = s[1:]
	}
	if len(s) == 0 {
		return 0, false // no digits: eptr stays at the start
	}
	var v uint64
	for _, ch := range s {
		if !isDigit(ch) {
			return 0, false
		}
		if v > (math.MaxUint64-uint64(ch-'0'))/10 {
			return 0, false // ERANGE
		}
		v = v*10 + uint64(ch-'0')
	}
	if neg {
		v = -v
	}
	return v, true
}

func scanCmd(c *call) {
	cursor, ok := parseCursor(c.args[1])
	if !ok {
		c.err("ERR invalid cursor")
		return
	}
	count := int64(10)
	var pat, typ []byte
	usePat := false
	for i := 2; i < len(c.args); {
		more := len(c.args) - i
		switch {
		case eq(c.args[i], "count") && more >= 2:
			n, ok := intArg(c.args[i+1])
			if !ok {
				c.err(errNotInt)
				return
			}
			if n < 1 {
				c.err(errSyntax)
				return
			}
			count = n
		case eq(c.args[i], "match") && more >= 2:
			pat = c.args[i+1]
			usePat = !(len(pat) == 1 && pat[0] == '*')
		case eq(c.args[i], "type") && more >= 2:
			typ = c.args[i+1]
		default:
			c.err(errSyntax)
			return
		}
		i += 2
	}
	var keys [][]byte
	visible := c.s.keyFilter()
	next := c.ks.Scan(cursor, int(min(count, math.MaxInt32)), c.now, func(key, _ []byte) {
		// TYPE compares names without case, as Redis 7.0's strcasecmp: an
		// unknown name matches nothing.
		typeOK := typ == nil || strings.EqualFold(string(typ), c.ks.TypeOf(key).String())
		if typeOK && (!usePat || Match(pat, key, false)) && visible(key) {
			keys = append(keys, key)
		}
	})
	c.array(2)
	var buf [20]byte
	c.bulk(strconv.AppendUint(buf[:0], next, 10))
	c.array(len(keys))
	for _, k := range keys {
		c.bulk(k)
	}
}

// dbsizeCmd counts the keys; for a user confined to key patterns (a
// tenant), only the keys it may touch.
func dbsizeCmd(c *call) {
	if c.s.allKeys() {
		c.int(int64(c.ks.Len()))
		return
	}
	c.int(int64(len(c.visibleKeys())))
}

// flushCmd deletes every key; for a user confined to key patterns (a
// tenant), only the keys it may touch, one by one, so that a tenant can
// never destroy another tenant's data.
func flushCmd(c *call) {
	if len(c.args) == 2 && !eq(c.args[1], "sync") && !eq(c.args[1], "async") || len(c.args) > 2 {
		c.err(errSyntax)
		return
	}
	if !c.s.allKeys() {
		for _, k := range c.visibleKeys() {
			c.delKey(k)
		}
		c.ok()
		return
	}
	c.ks.Flush()
	c.mut(Mutation{Op: OpFlush})
	c.ok()
}

// visibleKeys returns the live keys the session's user may touch (copies:
// the caller may delete them).
func (c *call) visibleKeys() [][]byte {
	visible := c.s.keyFilter()
	var keys [][]byte
	c.ks.Each(func(key, _ []byte, exp int64) {
		if (exp == 0 || exp > c.now) && visible(key) {
			keys = append(keys, append([]byte(nil), key...))
		}
	})
	return keys
}

// Options of the EXPIRE family.
const (
	expNX = 1 << iota
	expXX
	expGT
	expLT
)

// expireCmd is Redis 7.0's expireGenericCommand.
func expireCmd(c *call) {
	name := c.cmd.Name
	seconds := name == "expire" || name == "expireat"
	var base int64
	if name == "expire" || name == "pexpire" {
		base = c.now
	}
	flags := 0
	for _, opt := range c.args[3:] {
		switch {
		case eq(opt, "nx"):
			flags |= expNX
		case eq(opt, "xx"):
			flags |= expXX
		case eq(opt, "gt"):
			flags |= expGT
		case eq(opt, "lt"):
			flags |= expLT
		default:
			c.err("ERR Unsupported option " + string(cstr(opt)))
			return
		}
	}
	if flags&expNX != 0 && flags&(expXX|expGT|expLT) != 0 {
		c.err("ERR NX and XX, GT or LT options at the same time are not compatible")
		return
	}
	if flags&expGT != 0 && flags&expLT != 0 {
		c.err("ERR GT and LT options at the same time are not compatible")
		return
	}
	when, ok := intArg(c.args[2])
	if !ok {
		c.err(errNotInt)
		return
	}
	if seconds {
		if when > math.MaxInt64/1000 || when < math.MinInt64/1000 {
			c.err(c.invalidExpire())
			return
		}
		when *= 1000
	}
	if when > math.MaxInt64-base {
		c.err(c.invalidExpire())
		return
	}
	when += base
	key := c.args[1]
	cur, found := c.ks.Expiry(key, c.now)
	if !found {
		c.int(0)
		return
	}
	switch {
	case flags&expNX != 0 && cur != 0,
		flags&expXX != 0 && cur == 0,
		flags&expGT != 0 && (cur == 0 || when <= cur),
		flags&expLT != 0 && cur != 0 && when >= cur:
		c.int(0)
		return
	}
	if when <= c.now {
		c.delKey(key)
	} else {
		c.setExpire(key, when)
	}
	c.int(1)
}

func ttlCmd(c *call) {
	name := c.cmd.Name
	ms := name == "pttl" || name == "pexpiretime"
	abs := name == "expiretime" || name == "pexpiretime"
	at, found := c.ks.Expiry(c.args[1], c.now)
	if !found {
		c.int(-2)
		return
	}
	if at == 0 {
		c.int(-1)
		return
	}
	ttl := at
	if !abs {
		ttl = max(at-c.now, 0)
	}
	if !ms {
		ttl = (ttl + 500) / 1000
	}
	c.int(ttl)
}

func persistCmd(c *call) {
	key := c.args[1]
	at, found := c.ks.Expiry(key, c.now)
	if !found || at == 0 {
		c.int(0)
		return
	}
	c.setExpire(key, 0)
	c.int(1)
}
