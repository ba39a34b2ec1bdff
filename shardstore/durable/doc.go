// Package durable is the node's durable shard store: every shard (a
// contiguous range of hash slots) is a go.etcd.io/raft/v3 RawNode group, its
// raft log lives in a segmented, checksummed log of the store's own
// (<dir>/raftlog), and the applied state lives in one pebble database run
// without its WAL. Each write reaches the disk once, as a log record.
//
// # Write path
//
// Propose never blocks and never does I/O on the caller's goroutine (an event
// loop). It enqueues onto a bounded queue; when QueueSize proposals are
// waiting (queued, or in the record being collected while another syncs) it
// is refused at once with ErrOverloaded (the caller answers the client with an
// error, as Redis does under OOM, instead of stalling a loop). One driver
// goroutine owns all RawNodes and runs raft's AsyncStorageWrites protocol:
// every shard's MsgStorageAppend (entries, term and vote) goes into one log
// record, handed to a syncer goroutine that writes it and fdatasyncs it,
// one record at a time; while it syncs, the driver collects the next record
// from the proposals that keep arriving (group commit, pipelined). Once a
// record is synced its responses tell raft, the entries commit, and the
// driver applies them (MsgStorageApply) in one pebble batch, memtable only,
// and calls done. A Get after done sees the write.
//
// # Layout
//
// Log segments <dir>/raftlog/<index:016x>.log (wal.go): a header with the
// log generation and a random salt, then 8-byte aligned records
// crc32c(salt, length, seq, payload) length seq payload; a payload is the
// shard blocks of one driver batch (logbatch.go). Segments are zero-filled
// ahead of the records, so most fdatasyncs cover data, not file size. The
// first record of every segment carries every shard's HardState.
//
// pebble keys, modeled on CockroachDB's (pkg/keys); integers big-endian:
//
//	\x01s layout                  version(1)=2 shards(4) log generation(8)
//	\x01s cluster                 the applied cluster layout (clusterlayout.go), JSON
//	\x01i <shard:4> r rask        /applied/<shard>: index(8) term(8) raftpb.ConfState
//	\x01u users                   the ACL user table (acl.go): generation(8) aclfile text
//	\x02 <slot:2> <key>           /data/<slot>/<key>: expireAtMs(8, 0=none) value
//	\x03 <slot:2> <record key>    a collection's record (collection.go): value
//
// User data is keyed by hash slot, not by shard: which shard owns a slot is a
// property of the layout, not of the data. Opening with a different Shards
// count therefore loses nothing: Open first replays every old group's log to
// its end into the slot-keyed data, flushes pebble, then writes a layout with
// fresh groups for the new slot ranges and a new log generation (segments of
// another generation are obsolete and removed). Layout version 1 (raft log
// inside pebble) is refused with an error.
//
// After the shards' groups comes one more, the layout group (wire ID
// LayoutGroup, clusterlayout.go): its log holds the cluster layout, which
// shards hold which slots on which voters and who should lead each.
//
// # Why it is safe
//
// Nothing is acknowledged before its log record is synced. pebble loses its
// memtables in a crash (no WAL), so its applied index on disk may be behind
// the log, never ahead: applies only follow syncs. Open replays the log from
// pebble's applied index. A segment is removed only after pebble has
// flushed past it (logtrunc.go: read the applied indexes, Flush, then remove
// the segments whose entries are all at or below them), so the entries a
// crash takes from pebble are always still in the log. Open ends with a
// flush and a new segment, and removes the older ones.
//
// raft.Storage is a raft.MemoryStorage holding the entries after pebble's
// applied index, filled as records are synced; it is compacted in memory
// once more than Options.LogKeepEntries applied entries accumulate.
//
// # Recovery and corruption
//
// The syncer writes record N only once record N-1 is synced, so a crash can
// tear at most the last record. Reading the log (logrecover.go), a position
// holding no valid record with the expected seq is the end of the log, or a
// torn tail when bytes are there: cut, with a warning naming file and offset,
// counted in Stats.TornTails. If any valid record with a greater seq follows
// it (in that segment, salt-checked, or in a later segment), the damaged
// record was synced: Open fails with one line naming the file, the offset
// and the shard entries that would be lost. Options.TruncateCorrupt cuts the
// log there instead and reports the entries dropped (Stats.DroppedEntries).
// The limit: damage to the very last synced record (nothing after it) cannot
// be told from a torn write, and is cut as one.
//
// A damaged sstable is an error from Open, Get or Scan, never a panic: the
// store recovers pebble's panics at its boundary and replaces pebble's
// default corruption handler (which exits) with a log line. A second store
// on a locked dir fails naming the LOCK file.
//
// # Disk full
//
// The FS under pebble and the raft log is wrapped so that a write failing
// with ENOSPC is retried (with backoff) until it succeeds, instead of
// surfacing (a half-written record or a failed pebble flush cannot be
// reported as "not written"). While a write is stalled
// the store reports the disk error (DiskError), new proposals fail at once
// with an error wrapping it, reads keep working, and proposals already in the
// stalled batch are acknowledged once space is back: nothing is acknowledged
// before it is synced and nothing acknowledged is lost. Other I/O errors,
// notably a failed fsync of the log (whose page-cache state Linux does not
// define), stop the write path for good (every proposal fails, reads keep
// working) until a restart replays the log; pebble still treats its own
// failed syncs as fatal.
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
