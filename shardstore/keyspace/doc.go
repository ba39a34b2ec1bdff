// Package keyspace holds the keys of one event loop: string values or
// collections (hashes, lists, sets, sorted sets; typed.go) with an optional
// absolute expiry, grouped by hash slot.
//
// A Keyspace has a single owner, the event loop whose slots it holds, so it
// has no locks; calling it from two goroutines at once is a bug.
//
// Layout (entry.go, index.go). Each key is one 32-byte entry in pages of
// entries addressed by a stable id, plus one allocation holding the key and
// its value together. One open-addressing table indexes every key by hash
// (8 bytes a bucket, linear probing, incremental doubling as Redis's
// rehash), so a lookup costs about what one Go map's does; an expiry is
// kept only for keys that have one. Per slot, a dense array of ids gives
// the slot-wide operations: DBSIZE and CLUSTER COUNTKEYSINSLOT are lengths,
// flushing a slot walks one array, and an idle slot costs an empty slice.
// The arrays also give SCAN a stable cursor, which a hash table cannot: the
// cursor is slot<<32|position and positions are visited in descending
// order. Deletion moves the last id of the slot into the hole, that is from
// a visited position to a lower one, so a key present for a whole scan is
// returned at least once, which is Redis's SCAN guarantee. A call passes
// over empty slots until it has COUNT keys or reaches the end.
//
// Time. Every call that can observe expiry takes now (unix milliseconds)
// from the caller instead of reading a clock: the loop reads the clock once
// per batch, and tests and log replay are deterministic.
//
// Expiry. A key whose expiry is at or before now is dead: reads do not see
// it and delete it (lazy expiry, as Redis's expireIfNeeded). The loop also
// calls ExpireStep from a timer; it samples keys with an expiry at random,
// as Redis's activeExpireCycle does, so memory is reclaimed for keys nobody
// reads, with bounded work per call. Keys with an expiry are kept in a dense
// array so that sampling is O(1) per key. Expiry deletions are not
// mutations of the durable state: expiry times are absolute, so a replica
// replaying the same writes sees the same live keys at the same time.
//
// Watches. WATCH registers a Watcher on keys; any write to a watched key,
// including its deletion by expiry, marks the watcher dirty, as Redis's
// touchWatchedKey does.
//
// Cold values. Keys and expiries always stay in memory; a value whose
// owner also keeps it on disk may be dropped by Evict (the key goes cold)
// to bound memory, and Fill brings it back; a collection goes cold too,
// keeping its metadata, and FillColl brings it back. See cold.go and
// typed.go.
//
// Values returned by the keyspace alias its memory and are valid until the
// next write to the Keyspace.
package keyspace
