package ring

import (
	"fmt"
	"math/bits"
	"sync/atomic"
)

// Arena is the byte storage that travels beside a Ring: the producer copies
// a message's variable-length bytes (request arguments, reply bytes) into
// the arena and puts the slice in the ring slot; the consumer frees them in
// the same FIFO order by publishing the end position of the last message it
// is done with. Allocation is a pointer bump, so a handoff allocates nothing
// on the heap.
//
// Positions are virtual and only grow; position p lives at buf[p&mask]. An
// allocation never wraps: when it does not fit before the end of the buffer,
// the producer skips to the start, wasting the tail.
type Arena struct {
	_    pad
	tail uint64 // producer: next free position
	_    pad
	head atomic.Uint64 // consumer: everything before it is free
	_    pad
	mask uint64
	buf  []byte
}

// NewArena returns an arena of size bytes rounded up to a power of two.
func NewArena(size int) (*Arena, error) {
	if size < 64 || size > 1<<40 {
		return nil, fmt.Errorf("ring: arena size %d out of range 64..2^40", size)
	}
	n := uint64(1) << bits.Len64(uint64(size-1))
	return &Arena{mask: n - 1, buf: make([]byte, n)}, nil
}

// Size is the arena's capacity in bytes.
func (a *Arena) Size() int { return len(a.buf) }

// Alloc reserves n bytes and returns them with the end position to hand to
// Free once the consumer is done with them. ok is false when the bytes do
// not fit now. Any n <= Size()/2 fits in an empty arena.
func (a *Arena) Alloc(n int) (b []byte, end uint64, ok bool) {
	size := uint64(len(a.buf))
	un := uint64(n)
	if un > size {
		return nil, 0, false
	}
	pos := a.tail
	if off := pos & a.mask; off+un > size {
		pos += size - off // skip the tail end
	}
	if pos+un-a.head.Load() > size {
		return nil, 0, false
	}
	a.tail = pos + un
	off := pos & a.mask
	return a.buf[off : off+un : off+un], pos + un, true
}

// Free is called by the consumer: every allocation ending at or before end
// is free again.
func (a *Arena) Free(end uint64) {
	if end > a.head.Load() {
		a.head.Store(end)
	}
}

// Mark returns the producer's current position: Free(Mark()) on the
// consumer side after a message that carried no bytes keeps freeing in
// order.
func (a *Arena) Mark() uint64 { return a.tail }

// Fits reports whether Alloc(n) would succeed now. Only the consumer frees,
// so a true answer stays true until the producer allocates.
func (a *Arena) Fits(n int) bool {
	size := uint64(len(a.buf))
	un := uint64(n)
	if un > size {
		return false
	}
	pos := a.tail
	if off := pos & a.mask; off+un > size {
		pos += size - off
	}
	return pos+un-a.head.Load() <= size
}
