package ring

import (
	"fmt"
	"math/bits"
	"sync/atomic"
)

// cacheLine is the padding unit that keeps the producer's and the consumer's
// hot fields on different cache lines (no false sharing). 128 covers the
// adjacent-line prefetcher of x86 and the 128-byte lines of some arm64 parts.
const cacheLine = 128

type pad [cacheLine]byte

// Ring is a bounded SPSC queue of T. Exactly one goroutine (or one event
// loop) may call the producer methods (Stage, Flush, Push, PushBatch, Park,
// Free) and exactly one the consumer methods (Peek, Pop, PopBatch, Release,
// Len). The slot array is allocated once; items are copied by value.
type Ring[T any] struct {
	_ pad
	// Producer-owned line.
	tail       atomic.Uint64 // next slot the producer publishes
	staged     uint64        // next slot the producer writes (>= tail)
	cachedHead uint64        // producer's last view of head
	_          pad
	// Consumer-owned line.
	head atomic.Uint64 // next slot the consumer reads
	_    pad
	// Producer parked on a full ring: set by Park, cleared by the consumer
	// when it frees slots (it then rings space).
	parked atomic.Uint32
	_      pad

	mask  uint64
	slots []T
	bell  *Doorbell // rung after Flush: wakes the consumer
	space *Doorbell // rung when a parked producer may continue
}

// New returns a ring with capacity rounded up to a power of two (at least 2).
// bell is rung when items are published (it wakes the consumer); space is
// rung when a parked producer may push again. Either may be nil for a
// consumer or producer that polls.
func New[T any](capacity int, bell, space *Doorbell) (*Ring[T], error) {
	if capacity < 1 || capacity > 1<<30 {
		return nil, fmt.Errorf("ring: capacity %d out of range 1..2^30", capacity)
	}
	n := uint64(1) << bits.Len64(uint64(capacity-1))
	if n < 2 {
		n = 2
	}
	return &Ring[T]{mask: n - 1, slots: make([]T, n), bell: bell, space: space}, nil
}

// Cap is the number of slots.
func (r *Ring[T]) Cap() int { return len(r.slots) }

// Free returns how many more items the producer can stage right now. It may
// under-count (the consumer may have freed more since); never over-counts.
func (r *Ring[T]) Free() int {
	free := uint64(len(r.slots)) - (r.staged - r.cachedHead)
	if free == 0 {
		r.cachedHead = r.head.Load()
		free = uint64(len(r.slots)) - (r.staged - r.cachedHead)
	}
	return int(free)
}

// Stage writes v into the next slot without publishing it. It returns false
// when the ring is full. Staged items become visible to the consumer, in
// order, at the next Flush.
func (r *Ring[T]) Stage(v *T) bool {
	if r.staged-r.cachedHead == uint64(len(r.slots)) {
		r.cachedHead = r.head.Load()
		if r.staged-r.cachedHead == uint64(len(r.slots)) {
			return false
		}
	}
	r.slots[r.staged&r.mask] = *v
	r.staged++
	return true
}

// StageSlot returns a pointer to the next free slot to fill in place, or nil
// when the ring is full. The slot holds whatever was there before (the
// consumer's last view of it): overwrite every field. Commit it with
// Staged(); this avoids copying large slot types twice.
func (r *Ring[T]) StageSlot() *T {
	if r.staged-r.cachedHead == uint64(len(r.slots)) {
		r.cachedHead = r.head.Load()
		if r.staged-r.cachedHead == uint64(len(r.slots)) {
			return nil
		}
	}
	return &r.slots[r.staged&r.mask]
}

// Staged commits the slot returned by the last StageSlot.
func (r *Ring[T]) Staged() { r.staged++ }

// Pending reports whether items were staged since the last Flush.
func (r *Ring[T]) Pending() bool { return r.staged != r.tail.Load() }

// Flush publishes every staged item and rings the consumer's doorbell once
// (coalesced with any wakeup still pending).
func (r *Ring[T]) Flush() {
	if r.staged == r.tail.Load() {
		return
	}
	r.tail.Store(r.staged)
	if r.bell != nil {
		r.bell.Ring()
	}
}

// Push stages and flushes one item.
func (r *Ring[T]) Push(v T) bool {
	if !r.Stage(&v) {
		return false
	}
	r.Flush()
	return true
}

// PushBatch stages as many of vs as fit, flushes once, and returns how many
// were pushed.
func (r *Ring[T]) PushBatch(vs []T) int {
	n := 0
	for i := range vs {
		if !r.Stage(&vs[i]) {
			break
		}
		n++
	}
	r.Flush()
	return n
}

// Park registers the producer for a space doorbell. It returns true when the
// producer is parked (the space doorbell will ring once the consumer frees a
// slot) and false when room appeared meanwhile, in which case the producer
// should simply retry. Checking again after setting the flag closes the race
// with a consumer that freed slots just before the flag was set.
func (r *Ring[T]) Park() bool {
	r.parked.Store(1)
	if r.Free() > 0 {
		r.parked.Store(0)
		return false
	}
	return true
}

// Len returns how many published items the consumer can read. It always
// loads tail: a consumer that drains after Doorbell.Ack must see every item
// published before the producer read the cleared flag.
func (r *Ring[T]) Len() int {
	return int(r.tail.Load() - r.head.Load())
}

// Peek returns a pointer to the i-th readable item (0 = oldest), valid until
// the consumer releases it. i must be < Len().
func (r *Ring[T]) Peek(i int) *T {
	return &r.slots[(r.head.Load()+uint64(i))&r.mask]
}

// Release hands the n oldest items back to the producer, and rings the
// producer's space doorbell if it is parked.
func (r *Ring[T]) Release(n int) {
	if n <= 0 {
		return
	}
	r.head.Store(r.head.Load() + uint64(n))
	if r.parked.Load() != 0 && r.parked.CompareAndSwap(1, 0) && r.space != nil {
		r.space.Ring()
	}
}

// Pop removes and returns the oldest item.
func (r *Ring[T]) Pop() (v T, ok bool) {
	if r.Len() == 0 {
		return v, false
	}
	p := r.Peek(0)
	v = *p
	var zero T
	*p = zero // drop references held by the slot
	r.Release(1)
	return v, true
}

// PopBatch moves up to len(dst) items into dst, releases them with one head
// store, and returns how many it moved.
func (r *Ring[T]) PopBatch(dst []T) int {
	n := min(r.Len(), len(dst))
	h := r.head.Load()
	var zero T
	for i := range n {
		p := &r.slots[(h+uint64(i))&r.mask]
		dst[i] = *p
		*p = zero
	}
	r.Release(n)
	return n
}
