package ring

import "sync/atomic"

// Doorbell wakes a consumer at most once per batch. Ring calls fn only on
// the transition from "no wakeup pending" to "pending"; the consumer calls
// Ack before it drains, re-arming the bell. One Doorbell may serve every ring
// a consumer reads, so a loop gets one wakeup however many peers wrote.
//
// Why no wakeup is lost: a producer publishes (tail store) before it reads
// the pending flag; the consumer clears the flag before it reads tails.
// With sequentially consistent atomics, either the producer sees the flag
// cleared and rings, or the consumer's tail read comes after the producer's
// publish and drains the item.
type Doorbell struct {
	_       pad
	pending atomic.Uint32
	rings   atomic.Uint64 // times fn was called, for stats and tests
	_       pad
	fn      func()
}

// NewDoorbell returns a doorbell that calls fn to wake the consumer. fn must
// be safe to call from any goroutine and must not block (gnet's
// EventLoop.Execute or Conn.Wake qualify; so does a non-blocking channel
// send).
func NewDoorbell(fn func()) *Doorbell { return &Doorbell{fn: fn} }

// Ring wakes the consumer unless a wakeup is already pending.
func (d *Doorbell) Ring() {
	if d.pending.Load() != 0 || !d.pending.CompareAndSwap(0, 1) {
		return
	}
	d.rings.Add(1)
	d.fn()
}

// Ack is called by the consumer when it starts draining; later rings wake
// it again.
func (d *Doorbell) Ack() { d.pending.Store(0) }

// Rings returns how many wakeups were actually delivered.
func (d *Doorbell) Rings() uint64 { return d.rings.Load() }
