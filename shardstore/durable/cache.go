package durable

import (
	"fmt"
	"hash/maphash"
	"sync/atomic"

	"github.com/dgraph-io/ristretto/v2"
)

// cacheEntry is one cached read: the value (or its absence) and the store's
// apply sequence loaded before the pebble read that produced it.
type cacheEntry struct {
	value []byte
	exp   int64
	found bool
	seq   uint64
}

// cacheEntryOverhead approximates the bytes ristretto and the entry itself
// hold beyond key and value, so CacheBytes bounds real memory.
const cacheEntryOverhead = 96

// writeSeqBuckets is the size of the last-write table. A collision only
// makes a fresh entry look stale (an extra miss), never the reverse.
const writeSeqBuckets = 1 << 14

// readCache is the ristretto read cache with stale-fill protection.
//
// The driver, the only writer of data keys, bumps applySeq once per committed
// apply batch and, before publishing the new value, records it in
// lastWrite[hash(key)] for every key the batch wrote. A reader loads applySeq
// BEFORE reading pebble and stores it with the value it read. If a write to
// the key commits after that pebble read, its sequence is greater than the
// one the reader loaded, so the entry fails the check lastWrite <= entry.seq
// and is never served, whether or not ristretto's asynchronous Set lands.
type readCache struct {
	c         *ristretto.Cache[string, *cacheEntry]
	seed      maphash.Seed
	applySeq  atomic.Uint64
	lastWrite [writeSeqBuckets]atomic.Uint64
}

func newReadCache(maxBytes int64) (*readCache, error) {
	items := max(maxBytes/128, 64)
	c, err := ristretto.NewCache(&ristretto.Config[string, *cacheEntry]{
		NumCounters:        items * 10, // ristretto: 10x the items held when full
		MaxCost:            maxBytes,
		BufferItems:        64,
		IgnoreInternalCost: true, // cost already counts overhead
	})
	if err != nil {
		return nil, fmt.Errorf("read cache: %w", err)
	}
	return &readCache{c: c, seed: maphash.MakeSeed()}, nil
}

func (rc *readCache) bucket(key []byte) *atomic.Uint64 {
	return &rc.lastWrite[maphash.Bytes(rc.seed, key)%writeSeqBuckets]
}

// get returns a cached entry that no later write has made stale.
func (rc *readCache) get(key []byte) (*cacheEntry, bool) {
	e, ok := rc.c.Get(string(key))
	if !ok || e.seq < rc.bucket(key).Load() {
		return nil, false
	}
	return e, true
}

// fill offers e to the cache; ristretto may drop or reject it.
func (rc *readCache) fill(key []byte, e *cacheEntry) {
	rc.c.Set(string(key), e, int64(len(key)+len(e.value)+cacheEntryOverhead))
}

// published is called by the driver after an apply batch that wrote keys
// has committed: it stamps the keys and then publishes the sequence.
func (rc *readCache) published(keys [][]byte) {
	seq := rc.applySeq.Load() + 1
	for _, k := range keys {
		rc.bucket(k).Store(seq)
	}
	rc.applySeq.Store(seq)
}

// publishedAll is published for a batch that deleted slot ranges: every
// bucket is stamped, so no entry read before the batch is served again.
func (rc *readCache) publishedAll() {
	seq := rc.applySeq.Load() + 1
	for i := range rc.lastWrite {
		rc.lastWrite[i].Store(seq)
	}
	rc.applySeq.Store(seq)
}

func (rc *readCache) close() { rc.c.Close() }
