// Package shed mirrors the agent's circuit breakers and its event loops'
// load into where requests are shed: the kernel's slot_shed map, which XDP
// reads for every datagram (bpf/dorivo.c answers a shed slot UNAVAILABLE by
// itself), and the loops' core.ShedBoard, from which each loop takes its own
// copy (TCP gets -TRYAGAIN, writes are refused while the disk breaker is
// open).
//
// A Mirror has sources: breakers, each shedding a set of slots for a reason
// (the disk breaker sheds writes everywhere; a shard leader's breaker, once
// replication exists, sheds that shard's slots), and loops marked
// overloaded by a LoadMonitor. Breaker listeners only queue the transition
// and wake the Mirror's goroutine, which logs it, polls the breakers (an
// idle breaker leaves Open only when polled), recomputes every slot's entry
// and writes the entries that changed, in one batch, outside any lock the
// datapath takes. The retry-after of an entry is fixed when it is written:
// the breaker's remaining open wait, or the overload hold.
//
// The disk breaker (NewDiskBreaker) is fed with each raft log fsync's
// duration and error by ObserveSyncs, a wrapper of the store's filesystem,
// so the store itself needs no hook. Without replication there is no
// other replica to hand leadership to, so while it is open writes fail fast
// and reads go on; leadership transfer comes with the replication issue.
package shed
