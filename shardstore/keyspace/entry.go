package keyspace

import (
	"math"
	"slices"
	"unsafe"
)

// entry is one key: 40 bytes (32 before lru), plus one allocation holding
// the key and its value (kv).
//
// kv is laid out as the key's length (uvarint), the key, then the value's
// vlen bytes, with room for vcap bytes of value in all. A free entry has
// kv == nil.
//
// Typed values (hashes, lists, sets, sorted sets) will fit without changing
// this layout: vcap == typedCap marks an entry whose kv points to a Go
// object of the kind in vlen (its first field the key), not to bytes; the
// GC traces kv either way, as it is an unsafe.Pointer.
type entry struct {
	kv    unsafe.Pointer
	stamp uint64 // Keyspace.Stamp at the last write
	vlen  uint32
	vcap  uint32
	// pos holds the position in the slot's order (bits 0-29) and the cold
	// and ref bits (cold.go); in a free entry, the next free id + 1.
	pos uint32
	vi  int32 // index in Keyspace.vol, -1 without an expiry
	// lru is the caller's clock (seconds) at the key's last access, 0
	// before any (MarkAccess, OBJECT IDLETIME).
	lru uint32
}

const (
	posMask = 1<<30 - 1
	fCold   = 1 << 30 // the value is not in memory
	fRef    = 1 << 31 // the value was used since the clock hand passed
	// typedCap is reserved in vcap for typed values (see entry).
	typedCap = math.MaxUint32
	// maxValue is the largest string value an entry holds.
	maxValue = typedCap - 1<<16
)

func (e *entry) at() uint32     { return e.pos & posMask }
func (e *entry) setAt(p uint32) { e.pos = e.pos&^posMask | p }
func (e *entry) isCold() bool   { return e.pos&fCold != 0 }

// hdr returns the key's length and the offset of the key in kv.
func (e *entry) hdr() (klen, off uintptr) {
	for shift := uintptr(0); ; shift += 7 {
		b := *(*byte)(unsafe.Add(e.kv, off))
		off++
		klen |= uintptr(b&0x7f) << shift
		if b < 0x80 {
			return klen, off
		}
	}
}

// key returns the key, aliasing kv.
func (e *entry) key() []byte {
	klen, off := e.hdr()
	return unsafe.Slice((*byte)(unsafe.Add(e.kv, off)), klen)
}

// keyIs reports whether e's key is key.
func (e *entry) keyIs(key []byte) bool {
	klen, off := e.hdr()
	return int(klen) == len(key) && unsafe.String((*byte)(unsafe.Add(e.kv, off)), klen) == string(key)
}

// val returns the value held (empty for a cold entry), aliasing kv, with
// its capacity limited to its length.
func (e *entry) val() []byte {
	klen, off := e.hdr()
	return unsafe.Slice((*byte)(unsafe.Add(e.kv, off+klen)), e.vlen)
}

// room returns the value's whole capacity, aliasing kv.
func (e *entry) room() []byte {
	klen, off := e.hdr()
	return unsafe.Slice((*byte)(unsafe.Add(e.kv, off+klen)), e.vcap)[:e.vlen]
}

// store gives e a new allocation holding key and val, with room for at
// least vroom bytes of value (rounded up to the allocator's size class),
// and returns the change in value capacity.
func (e *entry) store(key, val []byte, vroom int) int64 {
	vroom = max(vroom, len(val))
	if vroom > maxValue {
		panic("keyspace: value of 4 GiB or more")
	}
	var h [10]byte
	n := 0
	for k := uint64(len(key)); ; k >>= 7 {
		if k < 0x80 {
			h[n] = byte(k)
			n++
			break
		}
		h[n] = byte(k) | 0x80
		n++
	}
	buf := slices.Grow([]byte(nil), n+len(key)+vroom)
	buf = append(append(append(buf, h[:n]...), key...), val...)
	old := e.vcap
	e.kv = unsafe.Pointer(unsafe.SliceData(buf))
	e.vlen = uint32(len(val))
	e.vcap = uint32(min(cap(buf)-n-len(key), maxValue))
	return int64(e.vcap) - int64(old)
}

// setVal replaces the value with val, in place when its capacity fits
// val without wasting much, and returns the change in value capacity.
func (e *entry) setVal(val []byte) int64 {
	if c := int(e.vcap); c >= len(val) && c <= 2*len(val)+64 {
		e.vlen = uint32(copy(e.room()[:len(val)], val))
		return 0
	}
	return e.store(e.key(), val, len(val))
}

// MarkAccess records that key was accessed at clock, the caller's coarse
// clock in seconds, for OBJECT IDLETIME (Redis's LRU clock). It does
// nothing for a missing key.
func (ks *Keyspace) MarkAccess(key []byte, clock uint32) {
	if id, ok := ks.lookup(key); ok {
		ks.ent(id).lru = clock
	}
}

// LastAccess returns the clock of key's last MarkAccess, 0 when there was
// none since it was written by a load or a replay, and whether key exists.
func (ks *Keyspace) LastAccess(key []byte) (clock uint32, ok bool) {
	id, ok := ks.lookup(key)
	if !ok {
		return 0, false
	}
	return ks.ent(id).lru, true
}
