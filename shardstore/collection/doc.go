// Package collection holds the values of Redis's collection types —
// Hash, List, Set and ZSet (sorted set) — with Redis 7.0.15's semantics,
// encoding names and thresholds, and their durable record layout.
//
// The structures are plain single-threaded values for one loop to own;
// they take []byte arguments (copied when kept) and return strings. They
// parse no commands: ParseScore, ParseScoreRange, ParseLexRange,
// ParseInt, RangeBounds and FormatScore give the command layer Redis's
// number and range rules and reply text.
//
// # Encodings
//
// OBJECT ENCODING follows Redis 7.0 defaults and converts one way only: a
// hash is "listpack" (insertion order kept, deletion O(n)) up to 512
// fields (redis-server's built-in default, not redis.conf's 128) of ≤ 64 bytes, then "hashtable"; a set is "intset" (sorted
// integers) up to 512 canonical integers, then "hashtable"; a sorted set
// is "listpack" up to 128 members of ≤ 64 bytes, then "skiplist"; every
// list is "quicklist" (7.0 has no listpack lists). MemoryUsage is an
// estimate from slice capacities and string lengths, not an allocator's
// count.
//
// # Durable layout
//
// A collection is stored Kvrocks-style, as one metadata record plus one
// record per element, so that a small change writes only what changed:
//
//	'm' key                                   → Meta (type, version, expiry, size; lists: head, tail)
//	'e' len(key)₄ key version₈ field          → seq₈ value    (hash; format 1: value)
//	'e' len(key)₄ key version₈ member         → ""            (set)
//	'e' len(key)₄ key version₈ member         → score₈        (sorted set)
//	's' len(key)₄ key version₈ score₈ member  → ""            (sorted set, ordered score index)
//	'e' len(key)₄ key version₈ seq₈           → element       (list)
//
// A hash field's seq₈ is its insertion sequence, which loading sorts by so
// that a listpack's field order survives (Meta.Ordered, metadata format
// 2; hashes of format 1 store the bare value and load in field order).
// Integers are big-endian; score₈ in the index is ScoreBits, whose byte
// order is the numeric order. A list's elements take sequence numbers
// between the metadata's Head and Tail (both starting at 2^63), so LPUSH
// decrements Head and RPUSH increments Tail without moving anything; LSET
// writes one record; LINSERT and LREM rewrite only the elements after the
// change (ListRewrite). HashSet, SetAdd, ZSetPut, ListPush and the other
// mutation functions turn one change into its Records and keep the Meta
// up to date; nothing here writes to a store.
//
// Deleting a collection (Drop) deletes its metadata record and, as one
// range deletion per prefix, its version's element and score records:
// O(1) records whatever its size. Element records carry the version of the
// life they belong to, and those whose metadata is gone or names another
// version are garbage (IsGarbage), never read. A new life of the key must
// get a higher version, such as the raft index of the write creating it.
//
// A cold collection is brought back by reading its metadata record, then
// scanning the key range [ElemPrefix(key, version),
// PrefixEnd(ElemPrefix(key, version))) and handing the records, in key
// order, to LoadHash, LoadSet, LoadZSet or LoadList, which check them
// against the metadata's version and size. The score index is for ranged
// reads of a sorted set left on disk; loading does not need it.
package collection
