package command

import (
	"math"
	"math/bits"
)

// Bitmap commands on string values, as Redis 7.0's bitops.c. Every write
// stores the whole new value with OpSet, the record SET writes, keeping the
// key's expiry (BITOP replaces the destination and drops it, as setKey).
// BITOP's keys must share a loop: across loops it replies CROSSSLOT, as
// Redis Cluster does across slots.

func init() {
	def(nil, "setbit", 4, Write|DenyOOM, CatBitmap, 1, 1, 1, setbitCmd)
	def(nil, "getbit", 3, ReadOnly|Fast, CatBitmap, 1, 1, 1, getbitCmd)
	def(nil, "bitcount", -2, ReadOnly, CatBitmap, 1, 1, 1, bitcountCmd)
	def(nil, "bitpos", -3, ReadOnly, CatBitmap, 1, 1, 1, bitposCmd)
	def(nil, "bitop", -4, Write|DenyOOM, CatBitmap, 2, -1, 1, bitopCmd)
	def(nil, "bitfield", -2, Write|DenyOOM, CatBitmap, 1, 1, 1, bitfieldCmd)
	def(nil, "bitfield_ro", -2, ReadOnly|Fast, CatBitmap, 1, 1, 1, bitfieldCmd)
	def(nil, "lcs", -3, ReadOnly, str, 1, 2, 1, lcsCmd)
}

const errBitOffset = "ERR bit offset is not an integer or out of range"

// bitOffset is getBitOffsetFromArgument: "#n" (BITFIELD only) counts in
// units of width bits; an offset past proto-max-bulk-len bytes is refused.
func (c *call) bitOffset(arg []byte, hash bool, width int) (uint64, bool) {
	useHash := hash && width > 0 && len(arg) > 0 && arg[0] == '#'
	if useHash {
		arg = arg[1:]
	}
	off, ok := intArg(arg)
	if useHash {
		off *= int64(width) // wraps like C's
	}
	if !ok || off < 0 || off>>3 >= c.maxBulk() {
		c.err(errBitOffset)
		return 0, false
	}
	return uint64(off), true
}

// growValue returns a copy of key's value zero-padded to at least n bytes,
// its expiry, and whether the key existed (lookupStringForBitCommand).
func (c *call) growValue(key []byte, n uint64) (v []byte, at int64, found bool) {
	old, at, found := c.ks.Lookup(key, c.now)
	size := max(uint64(len(old)), n)
	v = make([]byte, size)
	copy(v, old)
	return v, at, found
}

// storeBits writes a bit command's new value through the path SET takes.
func (c *call) storeBits(key, v []byte, at int64) {
	c.ks.Set(key, v, at)
	c.mut(Mutation{Op: OpSet, Key: key, Val: v, ExpireAt: at})
}

func setbitCmd(c *call) {
	off, ok := c.bitOffset(c.args[2], false, 0)
	if !ok {
		return
	}
	on, ok := intArg(c.args[3])
	if !ok || on&^1 != 0 {
		c.err("ERR bit is not an integer or out of range")
		return
	}
	key := c.args[1]
	old, _, found := c.ks.Lookup(key, c.now)
	byteIdx, shift := off>>3, 7-off&7
	var prev int64
	if byteIdx < uint64(len(old)) {
		prev = int64(old[byteIdx]>>shift) & 1
	}
	if found && byteIdx < uint64(len(old)) && prev == on {
		c.int(prev) // nothing changes
		return
	}
	v, at, _ := c.growValue(key, byteIdx+1)
	v[byteIdx] = v[byteIdx]&^(1<<shift) | byte(on)<<shift
	c.storeBits(key, v, at)
	c.int(prev)
}

func getbitCmd(c *call) {
	off, ok := c.bitOffset(c.args[2], false, 0)
	if !ok {
		return
	}
	v, _ := c.ks.Get(c.args[1], c.now)
	if off>>3 >= uint64(len(v)) {
		c.int(0)
		return
	}
	c.int(int64(v[off>>3]>>(7-off&7)) & 1)
}

// bitRange converts BITCOUNT's and BITPOS's start and end (bytes or bits)
// into a byte range and the masks of the edge bits outside a bit range, as
// Redis does. end, when unset by the caller, is already the default.
type bitRange struct {
	start, end         int64
	firstMask, lastMsk byte
}

func makeBitRange(start, end, n int64, isBit bool) bitRange {
	total := n
	if isBit {
		total <<= 3
	}
	if start < 0 {
		start += total
	}
	if end < 0 {
		end += total
	}
	start, end = max(start, 0), max(end, 0)
	if end >= total {
		end = total - 1
	}
	r := bitRange{start: start, end: end}
	if isBit && start <= end {
		r.firstMask = ^byte((1 << (8 - start&7)) - 1)
		r.lastMsk = byte((1 << (7 - end&7)) - 1)
		r.start, r.end = start>>3, end>>3
	}
	return r
}

// bitUnit parses BYTE or BIT.
func (c *call) bitUnit(arg []byte) (isBit, ok bool) {
	switch {
	case eq(arg, "bit"):
		return true, true
	case eq(arg, "byte"):
		return false, true
	}
	c.err(errSyntax)
	return false, false
}

func popcount(b []byte) (n int64) {
	for _, x := range b {
		n += int64(bits.OnesCount8(x))
	}
	return n
}

func bitcountCmd(c *call) {
	v, found := c.ks.Get(c.args[1], c.now)
	if !found {
		c.int(0) // Redis 7.0 looks the key up before it parses the range
		return
	}
	var r bitRange
	switch len(c.args) {
	case 4, 5:
		start, ok1 := intArg(c.args[2])
		end, ok2 := intArg(c.args[3])
		if !ok1 || !ok2 {
			c.err(errNotInt)
			return
		}
		isBit := false
		if len(c.args) == 5 {
			var ok bool
			if isBit, ok = c.bitUnit(c.args[4]); !ok {
				return
			}
		}
		if start < 0 && end < 0 && start > end {
			c.int(0)
			return
		}
		r = makeBitRange(start, end, int64(len(v)), isBit)
	case 2:
		r = bitRange{start: 0, end: int64(len(v)) - 1}
	default:
		c.err(errSyntax)
		return
	}
	if r.start > r.end {
		c.int(0)
		return
	}
	n := popcount(v[r.start : r.end+1])
	if r.firstMask != 0 {
		n -= int64(bits.OnesCount8(v[r.start] & r.firstMask))
	}
	if r.lastMsk != 0 {
		n -= int64(bits.OnesCount8(v[r.end] & r.lastMsk))
	}
	c.int(n)
}

// bitpos is redisBitpos: the first bit equal to bit in b, -1 when there is
// no 1, len(b)*8 (the padding past the end) when there is no 0.
func bitpos(b []byte, bit int64) int64 {
	skip := byte(0)
	if bit == 0 {
		skip = 0xff
	}
	for i, x := range b {
		if x != skip {
			if bit == 0 {
				x = ^x
			}
			return int64(i)*8 + int64(bits.LeadingZeros8(x))
		}
	}
	if bit == 1 {
		return -1
	}
	return int64(len(b)) * 8
}

func bitposCmd(c *call) {
	bit, ok := intArg(c.args[2])
	if !ok {
		c.err(errNotInt)
		return
	}
	if bit != 0 && bit != 1 {
		c.err("ERR The bit argument must be 1 or 0.")
		return
	}
	v, found := c.ks.Get(c.args[1], c.now)
	if !found {
		c.int(-bit) // an infinite run of zeros
		return
	}
	n := int64(len(v))
	r := bitRange{start: 0, end: n - 1}
	endGiven := false
	switch len(c.args) {
	case 3:
	case 4, 5, 6:
		start, ok := intArg(c.args[3])
		if !ok {
			c.err(errNotInt)
			return
		}
		isBit := false
		if len(c.args) == 6 {
			if isBit, ok = c.bitUnit(c.args[5]); !ok {
				return
			}
		}
		end := n - 1
		if isBit {
			end = n<<3 + 7
		}
		if len(c.args) >= 5 {
			if end, ok = intArg(c.args[4]); !ok {
				c.err(errNotInt)
				return
			}
			endGiven = true
		}
		r = makeBitRange(start, end, n, isBit)
	default:
		c.err(errSyntax)
		return
	}
	if r.start > r.end {
		c.int(-1)
		return
	}
	c.int(bitposRange(v, bit, r, endGiven))
}

// bitposRange is the search of Redis's bitposCommand over a range whose
// edge bytes may be partial.
func bitposRange(v []byte, bit int64, r bitRange, endGiven bool) int64 {
	start, end := r.start, r.end
	nbytes := end - start + 1
	var pos int64
	edge := func(x, mask byte) byte {
		if bit == 1 {
			return x &^ mask
		}
		return x | mask
	}
	done := false
	if r.firstMask != 0 {
		t := edge(v[start], r.firstMask)
		if r.lastMsk != 0 && nbytes == 1 {
			t = edge(t, r.lastMsk)
		}
		pos = bitpos([]byte{t}, bit)
		if nbytes == 1 || pos != -1 && pos != 8 {
			done = true
		} else {
			start++
			nbytes--
		}
	}
	if !done {
		cur := nbytes
		if r.lastMsk != 0 {
			cur--
		}
		if cur > 0 {
			pos = bitpos(v[start:start+cur], bit)
			if nbytes == cur || pos != -1 && pos != cur<<3 {
				done = true
			} else {
				start += cur
				nbytes -= cur
			}
		}
	}
	if !done {
		pos = bitpos([]byte{edge(v[end], r.lastMsk)}, bit)
	}
	if endGiven && bit == 0 && pos == nbytes<<3 {
		return -1
	}
	if pos != -1 {
		pos += start << 3
	}
	return pos
}

func bitopCmd(c *call) {
	op := c.args[1]
	var kind byte
	switch {
	case eq(op, "and"), eq(op, "or"), eq(op, "xor"), eq(op, "not"):
		kind = lower(op[0])
	default:
		c.err(errSyntax)
		return
	}
	if kind == 'n' && len(c.args) != 4 {
		c.err("ERR BITOP NOT must be called with a single source key.")
		return
	}
	srcs := make([][]byte, 0, len(c.args)-3)
	maxLen := 0
	for _, k := range c.args[3:] {
		v, _ := c.ks.Get(k, c.now)
		srcs = append(srcs, v)
		maxLen = max(maxLen, len(v))
	}
	dest := c.args[2]
	if maxLen == 0 {
		if c.ks.Delete(dest, c.now) {
			c.mut(Mutation{Op: OpDel, Key: dest})
		}
		c.int(0)
		return
	}
	out := make([]byte, maxLen)
	at := func(s []byte, j int) byte {
		if j < len(s) {
			return s[j]
		}
		return 0
	}
	for j := range out {
		x := at(srcs[0], j)
		if kind == 'n' {
			x = ^x
		}
		for _, s := range srcs[1:] {
			switch kind {
			case 'a':
				x &= at(s, j)
			case 'o':
				x |= at(s, j)
			case 'x':
				x ^= at(s, j)
			}
		}
		out[j] = x
	}
	c.storeBits(dest, out, 0) // setKey: the destination loses its expiry
	c.int(int64(maxLen))
}

// Overflow behaviours of BITFIELD.
const (
	ovWrap = iota
	ovSat
	ovFail
)

type bitfieldOp struct {
	get    bool
	incr   bool
	signed bool
	width  int
	off    uint64
	val    int64
	ov     int
}

// bitfieldType parses i1..i64 or u1..u63 (getBitfieldTypeFromArgument).
func (c *call) bitfieldType(arg []byte) (signed bool, width int, ok bool) {
	const msg = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is."
	arg = cstr(arg)
	if len(arg) == 0 || arg[0] != 'i' && arg[0] != 'u' {
		c.err(msg)
		return false, 0, false
	}
	signed = arg[0] == 'i'
	n, ok := intArg(arg[1:])
	if !ok || n < 1 || signed && n > 64 || !signed && n > 63 {
		c.err(msg)
		return false, 0, false
	}
	return signed, int(n), true
}

// parseBitfield parses BITFIELD's operations; ok is false after replying.
func (c *call) parseBitfield() (ops []bitfieldOp, readOnly bool, highest uint64, ok bool) {
	ov := ovWrap
	readOnly = true
	for j := 2; j < len(c.args); j++ {
		more := len(c.args) - j - 1
		sub := c.args[j]
		var o bitfieldOp
		switch {
		case eq(sub, "get") && more >= 2:
			o.get = true
		case eq(sub, "set") && more >= 3:
		case eq(sub, "incrby") && more >= 3:
			o.incr = true
		case eq(sub, "overflow") && more >= 1:
			j++
			switch {
			case eq(c.args[j], "wrap"):
				ov = ovWrap
			case eq(c.args[j], "sat"):
				ov = ovSat
			case eq(c.args[j], "fail"):
				ov = ovFail
			default:
				c.err("ERR Invalid OVERFLOW type specified")
				return nil, false, 0, false
			}
			continue
		default:
			c.err(errSyntax)
			return nil, false, 0, false
		}
		if o.signed, o.width, ok = c.bitfieldType(c.args[j+1]); !ok {
			return nil, false, 0, false
		}
		if o.off, ok = c.bitOffset(c.args[j+2], true, o.width); !ok {
			return nil, false, 0, false
		}
		if !o.get {
			readOnly = false
			highest = max(highest, o.off+uint64(o.width)-1)
			if o.val, ok = intArg(c.args[j+3]); !ok {
				c.err(errNotInt)
				return nil, false, 0, false
			}
			j++
		}
		o.ov = ov
		ops = append(ops, o)
		j += 2
	}
	return ops, readOnly, highest, true
}

func getUnsignedBits(p []byte, off uint64, width int) uint64 {
	var v uint64
	for range width {
		v = v<<1 | uint64(p[off>>3]>>(7-off&7))&1
		off++
	}
	return v
}

func getSignedBits(p []byte, off uint64, width int) int64 {
	v := getUnsignedBits(p, off, width)
	if width < 64 && v&(1<<(width-1)) != 0 {
		v |= math.MaxUint64 << width
	}
	return int64(v)
}

func setBits(p []byte, off uint64, width int, v uint64) {
	for j := range width {
		b := byte(v>>(width-1-j)) & 1
		i, shift := off>>3, 7-off&7
		p[i] = p[i]&^(1<<shift) | b<<shift
		off++
	}
}

// unsignedOverflow is checkUnsignedBitfieldOverflow: whether value+incr
// leaves width bits, and the value to store instead (wrapped or saturated).
func unsignedOverflow(value uint64, incr int64, width, ov int) (bool, uint64) {
	maxv := uint64(1)<<width - 1
	maxIncr, minIncr := int64(maxv-value), -int64(value)
	var limit uint64
	switch {
	case value > maxv || incr > 0 && incr > maxIncr:
		limit = maxv
	case incr < 0 && incr < minIncr:
		limit = 0
	default:
		return false, 0
	}
	if ov == ovWrap {
		limit = (value + uint64(incr)) &^ (math.MaxUint64 << width)
	}
	return true, limit
}

// signedOverflow is checkSignedBitfieldOverflow.
func signedOverflow(value, incr int64, width, ov int) (bool, int64) {
	maxv := int64(math.MaxInt64)
	if width < 64 {
		maxv = 1<<(width-1) - 1
	}
	minv := -maxv - 1
	maxIncr, minIncr := int64(uint64(maxv)-uint64(value)), minv-value
	var limit int64
	switch {
	case value > maxv || width != 64 && incr > maxIncr || value >= 0 && incr > 0 && incr > maxIncr:
		limit = maxv
	case value < minv || width != 64 && incr < minIncr || value < 0 && incr < 0 && incr < minIncr:
		limit = minv
	default:
		return false, 0
	}
	if ov == ovWrap {
		s := uint64(value) + uint64(incr)
		if width < 64 {
			mask := uint64(math.MaxUint64) << width
			if s&(1<<(width-1)) != 0 {
				s |= mask
			} else {
				s &^= mask
			}
		}
		limit = int64(s)
	}
	return true, limit
}

func bitfieldCmd(c *call) {
	ops, readOnly, highest, ok := c.parseBitfield()
	if !ok {
		return
	}
	key := c.args[1]
	if readOnly {
		v, _ := c.ks.Get(key, c.now)
		c.array(len(ops))
		for _, o := range ops {
			c.bitfieldGet(v, o)
		}
		return
	}
	if c.cmd.Name == "bitfield_ro" {
		c.err("ERR BITFIELD_RO only supports the GET subcommand")
		return
	}
	old, _, _ := c.ks.Lookup(key, c.now)
	v, at, found := c.growValue(key, highest>>3+1)
	c.array(len(ops))
	for _, o := range ops {
		c.bitfieldOp(v, o)
	}
	if !found || string(v) != string(old) {
		c.storeBits(key, v, at)
	}
}

// bitfieldGet replies a GET of BITFIELD, reading a zero-padded copy of the
// (up to 9) bytes the field spans: it may lie past the value's end.
func (c *call) bitfieldGet(v []byte, o bitfieldOp) {
	var buf [9]byte
	b := o.off >> 3
	if b < uint64(len(v)) {
		copy(buf[:], v[b:])
	}
	if o.signed {
		c.int(getSignedBits(buf[:], o.off-b*8, o.width))
	} else {
		c.int(int64(getUnsignedBits(buf[:], o.off-b*8, o.width)))
	}
}

// bitfieldOp runs one operation of BITFIELD on v, long enough for it.
func (c *call) bitfieldOp(v []byte, o bitfieldOp) {
	if o.get {
		c.bitfieldGet(v, o)
		return
	}
	if o.signed {
		old := getSignedBits(v, o.off, o.width)
		nv, ret := o.val, old
		var over bool
		var lim int64
		if o.incr {
			over, lim = signedOverflow(old, o.val, o.width, o.ov)
			nv = old + o.val
			if over {
				nv = lim
			}
			ret = nv
		} else if over, lim = signedOverflow(nv, 0, o.width, o.ov); over {
			nv = lim
		}
		if over && o.ov == ovFail {
			c.null()
			return
		}
		c.int(ret)
		setBits(v, o.off, o.width, uint64(nv))
		return
	}
	old := getUnsignedBits(v, o.off, o.width)
	nv, ret := uint64(o.val), old
	var over bool
	var lim uint64
	if o.incr {
		nv = old + uint64(o.val)
		if over, lim = unsignedOverflow(old, o.val, o.width, o.ov); over {
			nv = lim
		}
		ret = nv
	} else if over, lim = unsignedOverflow(nv, 0, o.width, o.ov); over {
		nv = lim
	}
	if over && o.ov == ovFail {
		c.null()
		return
	}
	c.int(int64(ret))
	setBits(v, o.off, o.width, nv)
}
