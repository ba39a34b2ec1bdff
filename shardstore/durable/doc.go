// Package durable is the node's durable shard store: one pebble database per
// node holding every shard's raft log, raft HardState and applied state, with
// every shard (a contiguous range of hash slots) run as a go.etcd.io/raft/v3
// RawNode group.
//
// # Write path
//
// Propose never blocks and never does I/O on the caller's goroutine (an event
// loop). It enqueues onto a bounded queue; when that is full the proposal is
// refused at once with ErrOverloaded (the caller answers the client with an
// error, as Redis does under OOM, instead of stalling a loop). One driver
// goroutine owns all RawNodes. Each cycle it drains the queue, steps every
// shard's proposals as one MsgProp, collects Ready from all shards and writes
// the entries and HardStates of ALL shards, together with the application of
// their committed entries and applied indexes, in one pebble batch committed
// with one fsync: many writes and shards share one fsync (group commit).
// Applying inside the same batch is write-behind in the raft sense: the
// entries being applied were synced in an earlier cycle (or are synced by this
// very batch), and the log remains the source of truth on restart. done fires
// after the batch that applied the entry is committed, so a Get after done
// sees the write.
//
// # Key layout
//
// Modeled on CockroachDB's (pkg/keys): store-local keys, range-ID-local keys
// (here shard-local) split into unreplicated raft state and replicated state,
// then user data. Integers are big-endian so keys sort numerically.
//
//	key                                          value                           written
//	\x01s layout                  /meta/layout   version(1) shards(4)            Open
//	\x01i <shard:4> u rftl <index:8>  /raftlog/<shard>/<index>
//	                                             crc32c(4) raftpb.Entry(proto)   raft batch, synced
//	\x01i <shard:4> u rfth        /hardstate/<shard>
//	                                             raftpb.HardState(proto)         raft batch
//	\x01i <shard:4> u rftt        /truncated/<shard>
//	                                             index(8) term(8)                apply batch on log truncation
//	\x01i <shard:4> r rask        /applied/<shard>
//	                                             index(8) raftpb.ConfState(proto) apply batch
//	\x02 <slot:2> <key>           /data/<slot>/<key>
//	                                             expireAtMs(8, 0=none) value     apply batch
//
// User data is keyed by hash slot, not by shard: which shard owns a slot is a
// property of the layout, not of the data. Opening with a different Shards
// count therefore loses nothing: Open first replays every old group's log to
// its end into the slot-keyed data, then drops the old groups' raft state and
// starts fresh groups for the new slot ranges (see Open). With replication
// this becomes a membership change plus snapshot of the slot span.
//
// # Storage choice
//
// raft.Storage is a raft.MemoryStorage fronted by pebble: every entry and
// HardState is written to pebble before it is appended to the MemoryStorage,
// and Open rebuilds the MemoryStorage from pebble. raft calls Storage on the
// driver's hot path (Term, Entries) and MemoryStorage answers those from
// memory without I/O; its memory stays bounded because the log is truncated
// (pebble range delete plus MemoryStorage.Compact) once more than
// Options.LogKeepEntries applied entries accumulate.
//
// # Recovery and corruption
//
// Every log entry carries its own CRC32C. On Open an undecodable LAST entry
// of a shard's log is a torn tail: it is deleted and a warning is logged.
// An undecodable entry anywhere else, a gap, or an entry whose index does not
// match its key stops Open with an error naming the shard and index: the
// store never skips log entries silently.
//
// # Disk full
//
// The pebble FS is wrapped so that a write failing with ENOSPC is retried
// (with backoff) until it succeeds, instead of surfacing to pebble, whose
// commit pipeline treats WAL write errors as fatal. While a write is stalled
// the store reports the disk error (DiskError), new proposals fail at once
// with an error wrapping it, reads keep working, and proposals already in the
// stalled batch are acknowledged once space is back: nothing is acknowledged
// before it is synced and nothing acknowledged is lost. Other I/O errors,
// notably a failed fsync (whose page-cache state Linux does not define), stay
// fatal in pebble: the process exits and restart replays the log.
//
// # Expiry
//
// Values carry an absolute expiry (Unix ms). Get and Scan hide expired keys
// and queue them for deletion by the driver, which re-checks the key before
// deleting it so a newer write is never removed. That deletion is local, not
// a log entry: with replicas, expiry should travel through the log as a DEL,
// as Redis replicates expirations.
//
// # Read cache
//
// Get reads through a ristretto cache bounded by Options.CacheBytes.
// Ristretto's Set is asynchronous and may drop, and a fill can race with a
// write, so every cached entry carries the store's apply sequence read before
// the pebble read, and a table of per-key-hash last-write sequences rejects
// any entry older than the key's last write. A stale fill may land in the
// cache, but it is never served. The datapath reads the store only for the
// values its loops dropped to stay within their memory budget
// (datapath/server cold.go); every other read is served from the loops.
package durable
