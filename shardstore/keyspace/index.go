package keyspace

import (
	"hash/maphash"
	"math/bits"
)

// The index maps a key to its entry id: one open-addressing table with
// linear probing. A bucket is a uint64: the key's 32-bit hash tag in the
// high half and id+1 in the low half; 0 is empty. A key's home bucket is
// derived from its tag alone (Fibonacci hashing), so deletion can shift
// later buckets back (no tombstones) and growth can rehash without the keys.
//
// Invariant (linear probing): every bucket from a key's home to the bucket
// holding it is occupied.
//
// Growth doubles the table (above a load of 3/4) and shrinking halves it
// (below 1/8) incrementally, as Redis's rehashing does: the old table stays and each insert, delete and ExpireStep moves a few of its
// runs of occupied buckets into the new one, so no request pays for a
// whole rehash. A run moves whole, and migration stops only at an empty
// bucket, so the unmigrated part of the old table keeps the invariant.
// Lookups probe the new table, then the old one.

// minIndex is the smallest table, a power of two.
const minIndex = 16

// Migration work, in old buckets, per write and per ExpireStep.
const (
	migrateWrite  = 16
	migrateExpire = 1024
)

// hashKey returns key's 32-bit tag.
func (ks *Keyspace) hashKey(key []byte) uint32 {
	h := maphash.Bytes(ks.seed, key) & ks.hashMask
	return uint32(h ^ h>>32)
}

// homeOf returns the home bucket of tag t in tab (len a power of two).
func homeOf(t uint32, tab []uint64) uint32 {
	return (t * 0x9E3779B9) >> bits.LeadingZeros32(uint32(len(tab)-1))
}

// probe returns the id of key, with tag t, in tab.
func (ks *Keyspace) probe(tab []uint64, t uint32, key []byte) (uint32, bool) {
	mask := uint32(len(tab) - 1)
	for p := homeOf(t, tab); ; p = (p + 1) & mask {
		b := tab[p]
		if b == 0 {
			return 0, false
		}
		if uint32(b>>32) == t {
			if id := uint32(b) - 1; ks.ent(id).keyIs(key) {
				return id, true
			}
		}
	}
}

// lookup returns key's entry id.
func (ks *Keyspace) lookup(key []byte) (uint32, bool) {
	t := ks.hashKey(key)
	if id, ok := ks.probe(ks.cur, t, key); ok || ks.old == nil {
		return id, ok
	}
	return ks.probe(ks.old, t, key)
}

// putBucket stores b in the first free bucket from its home.
func putBucket(tab []uint64, b uint64) {
	mask := uint32(len(tab) - 1)
	p := homeOf(uint32(b>>32), tab)
	for tab[p] != 0 {
		p = (p + 1) & mask
	}
	tab[p] = b
}

// indexAdd indexes id under tag t; the key must not be indexed.
func (ks *Keyspace) indexAdd(t, id uint32) {
	if ks.old != nil {
		ks.migrate(migrateWrite)
	}
	if (ks.n+1)*4 > len(ks.cur)*3 { // load above 3/4
		ks.resize(2 * len(ks.cur))
	}
	putBucket(ks.cur, uint64(t)<<32|uint64(id+1))
}

// indexDel removes id, indexed under tag t.
func (ks *Keyspace) indexDel(t, id uint32) {
	if !delBucket(ks.cur, uint64(t)<<32|uint64(id+1)) && (ks.old == nil || !delBucket(ks.old, uint64(t)<<32|uint64(id+1))) {
		panic("keyspace: index lost an entry")
	}
	if ks.old != nil {
		ks.migrate(migrateWrite)
	} else if len(ks.cur) > minIndex && ks.n*8 < len(ks.cur) { // load below 1/8
		ks.resize(len(ks.cur) / 2)
	}
}

// delBucket removes bucket b from tab, shifting the buckets after it back
// where their home allows, and reports whether b was there.
func delBucket(tab []uint64, b uint64) bool {
	mask := uint32(len(tab) - 1)
	p := homeOf(uint32(b>>32), tab)
	for tab[p] != b {
		if tab[p] == 0 {
			return false
		}
		p = (p + 1) & mask
	}
	for {
		tab[p] = 0
		q := p
		for {
			q = (q + 1) & mask
			c := tab[q]
			if c == 0 {
				return true
			}
			// c may fill p unless its home h lies cyclically in (p, q].
			h := homeOf(uint32(c>>32), tab)
			if q > p && (h <= p || h > q) || q < p && h <= p && h > q {
				tab[p] = c
				p = q
				break
			}
		}
	}
}

// resize starts moving the index into a table of size buckets (a power
// of two, with room for every key at a load of at most 1/2).
func (ks *Keyspace) resize(size int) {
	if ks.old != nil {
		ks.migrate(len(ks.old)) // finish the previous resize first
	}
	old := ks.cur
	ks.cur = make([]uint64, size)
	ks.old = old
	ks.migAt = 0
	for old[ks.migAt] != 0 { // start at an empty bucket; the load is below 1
		ks.migAt++
	}
	ks.migLeft = len(old)
}

// migrate moves about steps buckets of the old table into the new one,
// stopping only before an empty bucket.
func (ks *Keyspace) migrate(steps int) {
	old := ks.old
	mask := uint32(len(old) - 1)
	for ; ks.migLeft > 0; ks.migLeft-- {
		b := old[ks.migAt]
		if b == 0 && steps <= 0 {
			return
		}
		if b != 0 {
			putBucket(ks.cur, b)
			old[ks.migAt] = 0
		}
		steps--
		ks.migAt = (ks.migAt + 1) & mask
	}
	ks.old = nil
}
