// Package ring holds the bounded single-producer single-consumer rings that
// carry work between Dorivo's event loops, and the doorbell that wakes a
// consumer loop.
//
// Why not gnet's EventLoop.Execute: it enqueues into a lock-free MPMC linked
// list that allocates a node (plus a closure) per call and writes an eventfd
// when the target is idle. A loop that forwards every pipelined request
// would pay that per request. A Ring has fixed-size slots of a value type,
// so a handoff is two atomic operations and no allocation, and the producer
// publishes a whole batch (Stage ... Flush) before it rings the doorbell
// once. The Doorbell coalesces: while a wakeup is pending and not yet
// acknowledged by the consumer, further rings are free.
//
// Boundedness is the point: a full ring is backpressure. A producer that
// finds no room parks (Ring.Park) and gets its own doorbell rung by the
// consumer as soon as the consumer frees slots, so nothing is dropped and no
// queue grows without bound.
//
// Memory ordering: the producer writes a slot, then stores tail (release);
// the consumer loads tail (acquire) before reading slots, then stores head
// after it is done with them, which hands the slots back. Go's sync/atomic
// operations are sequentially consistent, which the doorbell protocol below
// relies on.
package ring
