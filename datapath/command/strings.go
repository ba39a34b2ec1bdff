package command

import (
	"math"

	"github.com/dorivo/dorivo/shardstore/keyspace"
)

// Flags of SET and GETEX, as parseExtendedStringArgumentsOrReply's.
const (
	setNX = 1 << iota
	setXX
	setGet
	setKeepTTL
	setPersist
	setEX
	setPX
	setEXAT
	setPXAT
)

// parseSetOptions parses SET's (isSet) or GETEX's options from args[from:]
// exactly as Redis 7.0's parseExtendedStringArgumentsOrReply, returning the
// flags and the expire argument, or ok == false after replying.
func (c *call) parseSetOptions(from int, isSet bool) (flags int, expire []byte, ok bool) {
	args := c.args
	for j := from; j < len(args); j++ {
		opt := args[j]
		hasNext := j < len(args)-1
		const ttl = setEX | setPX | setEXAT | setPXAT
		switch {
		case eq(opt, "nx") && flags&setXX == 0 && isSet:
			flags |= setNX
		case eq(opt, "xx") && flags&setNX == 0 && isSet:
			flags |= setXX
		case eq(opt, "get") && isSet:
			flags |= setGet
		case eq(opt, "keepttl") && flags&(setPersist|ttl) == 0 && isSet:
			flags |= setKeepTTL
		case eq(opt, "persist") && !isSet && flags&(ttl|setKeepTTL) == 0:
			flags |= setPersist
		case eq(opt, "ex") && flags&(setKeepTTL|setPersist|setEXAT|setPX|setPXAT) == 0 && hasNext:
			flags |= setEX
			expire = args[j+1]
			j++
		case eq(opt, "px") && flags&(setKeepTTL|setPersist|setEX|setEXAT|setPXAT) == 0 && hasNext:
			flags |= setPX
			expire = args[j+1]
			j++
		case eq(opt, "exat") && flags&(setKeepTTL|setPersist|setEX|setPX|setPXAT) == 0 && hasNext:
			flags |= setEXAT
			expire = args[j+1]
			j++
		case eq(opt, "pxat") && flags&(setKeepTTL|setPersist|setEX|setEXAT|setPX) == 0 && hasNext:
			flags |= setPXAT
			expire = args[j+1]
			j++
		default:
			c.err(errSyntax)
			return 0, nil, false
		}
	}
	return flags, expire, true
}

// expireAt converts an expire argument to an absolute unix ms time like
// Redis's getExpireMillisecondsOrReply; ok is false after replying.
func (c *call) expireAt(arg []byte, flags int) (int64, bool) {
	ms, ok := intArg(arg)
	if !ok {
		c.err(errNotInt)
		return 0, false
	}
	seconds := flags&(setEX|setEXAT) != 0
	if ms <= 0 || seconds && ms > math.MaxInt64/1000 {
		c.err(c.invalidExpire())
		return 0, false
	}
	if seconds {
		ms *= 1000
	}
	if flags&(setEX|setPX) != 0 {
		ms += c.now // wraps on overflow like C, caught below
	}
	if ms <= 0 {
		c.err(c.invalidExpire())
		return 0, false
	}
	return ms, true
}

func (c *call) invalidExpire() string {
	return "ERR invalid expire time in '" + c.cmd.Name + "' command"
}

func getCmd(c *call) {
	if c.notString(c.args[1]) {
		return
	}
	if v, ok := c.ks.Get(c.args[1], c.now); ok {
		c.bulk(v)
	} else {
		c.null()
	}
}

func setCmd(c *call) {
	flags, expire, ok := c.parseSetOptions(3, true)
	if !ok {
		return
	}
	c.set(flags, c.args[1], c.args[2], expire, false)
}

// set is Redis's setGenericCommand. intReply replies :1/:0 (SETNX) instead
// of +OK/null.
func (c *call) set(flags int, key, val, expire []byte, intReply bool) {
	var at int64
	if expire != nil {
		var ok bool
		if at, ok = c.expireAt(expire, flags); !ok {
			return
		}
	}
	// Only SET ... GET reads the old value: the others work on a cold key
	// (see ReadsValues).
	var old []byte
	if flags&setGet != 0 && c.notString(key) {
		return
	}
	oldAt, found := c.ks.Expiry(key, c.now)
	if flags&setGet != 0 {
		old, _ = c.ks.Get(key, c.now)
	}
	if flags&setGet != 0 {
		if found {
			c.bulk(old)
		} else {
			c.null()
		}
	}
	if flags&setNX != 0 && found || flags&setXX != 0 && !found {
		if flags&setGet == 0 {
			if intReply {
				c.int(0)
			} else {
				c.null()
			}
		}
		return
	}
	if flags&setKeepTTL != 0 && found {
		at = oldAt
	}
	c.dropColl(key)
	c.ks.Set(key, val, at)
	c.mut(Mutation{Op: OpSet, Key: key, Val: val, ExpireAt: at})
	if flags&setGet == 0 {
		if intReply {
			c.int(1)
		} else {
			c.ok()
		}
	}
}

func setnxCmd(c *call)  { c.set(setNX, c.args[1], c.args[2], nil, true) }
func setexCmd(c *call)  { c.set(setEX, c.args[1], c.args[3], c.args[2], false) }
func psetexCmd(c *call) { c.set(setPX, c.args[1], c.args[3], c.args[2], false) }

func getsetCmd(c *call) { c.set(setGet, c.args[1], c.args[2], nil, false) }

func getdelCmd(c *call) {
	if c.notString(c.args[1]) {
		return
	}
	v, ok := c.ks.Get(c.args[1], c.now)
	if !ok {
		c.null()
		return
	}
	c.bulk(v)
	c.ks.Delete(c.args[1], c.now)
	c.mut(Mutation{Op: OpDel, Key: c.args[1]})
}

func getexCmd(c *call) {
	flags, expire, ok := c.parseSetOptions(2, false)
	if !ok {
		return
	}
	key := c.args[1]
	if c.notString(key) {
		return
	}
	v, _, found := c.ks.Lookup(key, c.now)
	if !found {
		c.null()
		return
	}
	var at int64
	if expire != nil {
		if at, ok = c.expireAt(expire, flags); !ok {
			return
		}
	}
	c.bulk(v)
	switch {
	case flags&(setEXAT|setPXAT) != 0 && at <= c.now:
		c.ks.Delete(key, c.now)
		c.mut(Mutation{Op: OpDel, Key: key})
	case expire != nil:
		c.ks.SetExpire(key, at, c.now)
		c.mut(Mutation{Op: OpExpire, Key: key, ExpireAt: at})
	case flags&setPersist != 0:
		if _, oldAt, _ := c.ks.Lookup(key, c.now); oldAt != 0 {
			c.ks.SetExpire(key, 0, c.now)
			c.mut(Mutation{Op: OpExpire, Key: key})
		}
	}
}

func mgetCmd(c *call) {
	c.array(len(c.args) - 1)
	for _, k := range c.args[1:] {
		if c.ks.HasColls() && c.ks.Kind(k, c.now) > keyspace.KindString {
			c.null() // MGET replies nil for a key of another type
		} else if v, ok := c.ks.Get(k, c.now); ok {
			c.bulk(v)
		} else {
			c.null()
		}
	}
}

func msetCmd(c *call) {
	if len(c.args)%2 == 0 {
		c.err(arityError(c.cmd))
		return
	}
	for i := 1; i < len(c.args); i += 2 {
		c.dropColl(c.args[i])
		c.ks.Set(c.args[i], c.args[i+1], 0)
		c.mut(Mutation{Op: OpSet, Key: c.args[i], Val: c.args[i+1]})
	}
	c.ok()
}

func msetnxCmd(c *call) {
	if len(c.args)%2 == 0 {
		c.err(arityError(c.cmd))
		return
	}
	for i := 1; i < len(c.args); i += 2 {
		if c.ks.Exists(c.args[i], c.now) {
			c.int(0)
			return
		}
	}
	for i := 1; i < len(c.args); i += 2 {
		c.dropColl(c.args[i])
		c.ks.Set(c.args[i], c.args[i+1], 0)
		c.mut(Mutation{Op: OpSet, Key: c.args[i], Val: c.args[i+1]})
	}
	c.int(1)
}

// setKeepTTL stores the result of a read-modify-write command, keeping
// the key's expiry, and records it.
func (c *call) setKeepTTL(key, val []byte, at int64) {
	c.ks.Set(key, val, at)
	stored, _ := c.ks.Get(key, c.now)
	c.mut(Mutation{Op: OpSet, Key: key, Val: stored, ExpireAt: at})
}

func (c *call) incrBy(incr int64) {
	key := c.args[1]
	if c.notString(key) {
		return
	}
	v, at, found := c.ks.Lookup(key, c.now)
	var old int64
	if found {
		var ok bool
		if old, ok = intArg(v); !ok {
			c.err(errNotInt)
			return
		}
	}
	if incr < 0 && old < 0 && incr < math.MinInt64-old || incr > 0 && old > 0 && incr > math.MaxInt64-old {
		c.err(errOverflow)
		return
	}
	n := old + incr
	var buf [20]byte
	c.setKeepTTL(key, appendInt(buf[:0], n), at)
	c.int(n)
}

func incrCmd(c *call) { c.incrBy(1) }
func decrCmd(c *call) { c.incrBy(-1) }

func incrbyCmd(c *call) {
	n, ok := intArg(c.args[2])
	if !ok {
		c.err(errNotInt)
		return
	}
	c.incrBy(n)
}

func decrbyCmd(c *call) {
	n, ok := intArg(c.args[2])
	if !ok {
		c.err(errNotInt)
		return
	}
	if n == math.MinInt64 {
		c.err("ERR decrement would overflow")
		return
	}
	c.incrBy(-n)
}

func incrbyfloatCmd(c *call) {
	key := c.args[1]
	if c.notString(key) {
		return
	}
	v, at, found := c.ks.Lookup(key, c.now)
	var cur ldouble
	if found {
		var ok bool
		if cur, ok = parseLongDouble(v); !ok {
			c.err(errNotFloat)
			return
		}
	}
	incr, ok := parseLongDouble(c.args[2])
	if !ok {
		c.err(errNotFloat)
		return
	}
	sum, finite := cur.add(incr)
	if !finite {
		c.err("ERR increment would produce NaN or Infinity")
		return
	}
	out := sum.appendHuman(nil)
	c.setKeepTTL(key, out, at)
	c.bulk(out)
}

func (c *call) maxBulk() int64 { return c.s.Node.Config().ProtoMaxBulkLen }

func appendCmd(c *call) {
	key, data := c.args[1], c.args[2]
	if c.notString(key) {
		return
	}
	v, at, found := c.ks.Lookup(key, c.now)
	if found && int64(len(v))+int64(len(data)) > c.maxBulk() {
		c.err(errStrTooLong)
		return
	}
	nv := c.ks.Append(key, data, c.now)
	c.mut(Mutation{Op: OpSet, Key: key, Val: nv, ExpireAt: at})
	c.int(int64(len(nv)))
}

func strlenCmd(c *call) {
	if c.notString(c.args[1]) {
		return
	}
	v, _ := c.ks.Get(c.args[1], c.now)
	c.int(int64(len(v)))
}

func getrangeCmd(c *call) {
	start, ok := intArg(c.args[2])
	if !ok {
		c.err(errNotInt)
		return
	}
	end, ok := intArg(c.args[3])
	if !ok {
		c.err(errNotInt)
		return
	}
	if c.notString(c.args[1]) {
		return
	}
	v, found := c.ks.Get(c.args[1], c.now)
	if !found {
		c.bulk(nil)
		return
	}
	n := int64(len(v))
	if start < 0 && end < 0 && start > end {
		c.bulk(nil)
		return
	}
	if start < 0 {
		start += n
	}
	if end < 0 {
		end += n
	}
	start, end = max(start, 0), max(end, 0)
	if end >= n {
		end = n - 1
	}
	if start > end || n == 0 {
		c.bulk(nil)
		return
	}
	c.bulk(v[start : end+1])
}

func setrangeCmd(c *call) {
	key, data := c.args[1], c.args[3]
	off, ok := intArg(c.args[2])
	if !ok {
		c.err(errNotInt)
		return
	}
	if off < 0 {
		c.err("ERR offset is out of range")
		return
	}
	if c.notString(key) {
		return
	}
	v, at, found := c.ks.Lookup(key, c.now)
	if len(data) == 0 {
		c.int(int64(len(v)))
		return
	}
	if off+int64(len(data)) > c.maxBulk() || off+int64(len(data)) < 0 {
		c.err(errStrTooLong)
		return
	}
	if !found {
		at = 0
	}
	nv := c.ks.SetRange(key, int(off), data, c.now)
	c.mut(Mutation{Op: OpSet, Key: key, Val: nv, ExpireAt: at})
	c.int(int64(len(nv)))
}

func appendInt(dst []byte, n int64) []byte {
	if n == 0 {
		return append(dst, '0')
	}
	var b [20]byte
	i := len(b)
	u := uint64(n)
	if n < 0 {
		u = uint64(-n)
	}
	for u > 0 {
		i--
		b[i] = byte('0' + u%10)
		u /= 10
	}
	if n < 0 {
		dst = append(dst, '-')
	}
	return append(dst, b[i:]...)
}
