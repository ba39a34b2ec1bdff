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
// Boundedness is the point: a full ring is backpressure, and nothing is
// dropped or queued without bound. The loops never find a ring full: a
// loop sends a request only while it holds a credit for the peer, so the
// reply ring always has room (datapath/core). A producer that cannot count
// credits can park instead (Ring.Park) and have its own doorbell rung by
// the consumer as soon as slots free up.
//
// Memory ordering: the producer writes a slot, then stores tail (release);
// the consumer loads tail (acquire) before reading slots, then stores head
// after it is done with them, which hands the slots back. Go's sync/atomic
// operations are sequentially consistent, which the doorbell protocol below
// relies on.
package ring
