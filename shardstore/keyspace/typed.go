package keyspace

import "github.com/dorivo/dorivo/shardstore/collection"

// Typed values. A key holds a string or a collection (hash, list, set,
// sorted set). A collection's entry keeps the string layout (32 bytes and
// an allocation holding the key, with no value) and is marked by vcap ==
// typedCap; the collection itself lives in Keyspace.colls under the
// entry's id, which is stable for the entry's life. String keys therefore
// cost exactly what they did, and a keyspace without collections pays one
// nil map.
//
// A collection counts in HotBytes for an estimate of its memory (account),
// and Evict may drop it like a string value: the key goes cold, keeping
// its Coll with Meta (type, version, size, expiry) but V nil, so that
// TYPE, EXISTS, TTL, DEL and SET over it need no fetch. The owner brings
// it back from the store's element records with FillColl.

// Kind is what a key holds, as TYPE names it.
type Kind uint8

const (
	KindNone Kind = iota
	KindString
	KindHash
	KindList
	KindSet
	KindZSet
)

var kindNames = [...]string{"none", "string", "hash", "list", "set", "zset"}

// String returns TYPE's reply for k.
func (k Kind) String() string { return kindNames[k] }

// KindOf returns the kind of collection type t.
func KindOf(t collection.Type) Kind {
	switch t {
	case collection.TypeHash:
		return KindHash
	case collection.TypeList:
		return KindList
	case collection.TypeSet:
		return KindSet
	case collection.TypeZSet:
		return KindZSet
	}
	return KindNone
}

// Coll is a collection value: V is a *collection.Hash, *collection.List,
// *collection.Set or *collection.ZSet, and Meta its durable metadata
// (type, version, size, list counters), which the command layer keeps up
// to date with the records it writes. Meta.ExpireMs follows the key's
// expiry (the keyspace sets it).
type Coll struct {
	Meta collection.Meta
	V    any // nil while the key is cold
	// bytes is what the collection counts in HotBytes while hot: measured
	// (collBytes) when sized sizeAt, scaled by the size since, for at most
	// sizeAt/8 writes (touches) before the next measure.
	bytes, measured int64
	sizeAt          uint64
	touches         uint64
}

// CollBytes estimates the memory of collection value v (MEMORY USAGE's
// estimate plus the Coll itself), in O(size): what FillColl takes.
func CollBytes(v any) int64 {
	const overhead = 96
	switch x := v.(type) {
	case *collection.Hash:
		return overhead + int64(x.MemoryUsage())
	case *collection.Set:
		return overhead + int64(x.MemoryUsage())
	case *collection.ZSet:
		return overhead + int64(x.MemoryUsage())
	case *collection.List:
		return overhead + int64(x.MemoryUsage())
	}
	return overhead
}

// account brings hot c's share of HotBytes up to date after a change. A
// measure costs O(size), and comes after size/8 writes or a doubling or
// halving of the size, so a write costs O(1) amortized; in between the
// estimate scales with the size.
func (ks *Keyspace) account(c *Coll) {
	if c.V == nil {
		return
	}
	old := c.bytes
	size := c.Meta.Size
	if c.touches++; c.touches > c.sizeAt/8 || size > 2*c.sizeAt || size < c.sizeAt/2 {
		c.measured, c.sizeAt, c.touches = CollBytes(c.V), size, 0
		c.bytes = c.measured
	} else {
		c.bytes = c.measured * int64(size) / int64(c.sizeAt)
	}
	ks.hot += c.bytes - old
}

// Kind returns the collection's kind.
func (c *Coll) Kind() Kind { return KindOf(c.Meta.Type) }

func (e *entry) typed() bool { return e.vcap == typedCap }

// HasColls reports whether any key holds a collection: while none does,
// string commands need no type check.
func (ks *Keyspace) HasColls() bool { return len(ks.colls) > 0 }

// CollLen returns the number of keys holding a collection.
func (ks *Keyspace) CollLen() int { return len(ks.colls) }

// Kind returns what live key holds, KindNone when it is not live. It works
// on cold keys.
func (ks *Keyspace) Kind(key []byte, now int64) Kind {
	id, e := ks.live(key, now)
	switch {
	case e == nil:
		return KindNone
	case e.typed():
		return ks.colls[id].Kind()
	}
	return KindString
}

// TypeOf returns what key holds, expired or not, without deleting
// anything: for use inside Scan's and Each's visits.
func (ks *Keyspace) TypeOf(key []byte) Kind {
	id, ok := ks.lookup(key)
	switch {
	case !ok:
		return KindNone
	case ks.ent(id).typed():
		return ks.colls[id].Kind()
	}
	return KindString
}

// Coll returns live key's collection, nil when the key is missing or holds
// a string. The caller may change it in place, then calls Touched. The key
// must not be cold.
func (ks *Keyspace) Coll(key []byte, now int64) *Coll {
	id, e := ks.live(key, now)
	if e == nil || !e.typed() {
		return nil
	}
	return ks.hotColl(id, e)
}

// hotColl returns typed entry id's collection, which must be hot.
func (ks *Keyspace) hotColl(id uint32, e *entry) *Coll {
	if e.isCold() {
		panic("keyspace: collection of cold key " + string(e.key()) + " read before FillColl")
	}
	e.pos |= fRef
	return ks.colls[id]
}

// CollMeta returns live key's collection, nil when the key is missing or
// holds a string, for its Meta alone: V is nil while the key is cold.
// Dropping a collection, or changing its expiry, needs no more.
func (ks *Keyspace) CollMeta(key []byte, now int64) *Coll {
	id, e := ks.live(key, now)
	if e == nil || !e.typed() {
		return nil
	}
	return ks.colls[id]
}

// CollAny is CollMeta for any key, expired or not, without deleting it.
func (ks *Keyspace) CollAny(key []byte) *Coll {
	id, ok := ks.lookup(key)
	if !ok || !ks.ent(id).typed() {
		return nil
	}
	return ks.colls[id]
}

// Touched records a change made in place to live key's collection: the
// write is stamped (see Stamp) and the key's watchers are dirty.
func (ks *Keyspace) Touched(key []byte) {
	if id, ok := ks.lookup(key); ok {
		e := ks.ent(id)
		e.stamp = ks.Stamp
		if e.typed() {
			ks.account(ks.colls[id])
		}
	}
	ks.touch(key)
}

// SetColl stores collection c under key with expiry expireAt (0 for none),
// replacing any previous value of any kind and its expiry.
func (ks *Keyspace) SetColl(key []byte, c *Coll, expireAt int64) {
	id, ok := ks.lookup(key)
	var e *entry
	if ok {
		e = ks.ent(id)
		ks.dropValue(id, e)
		if !e.typed() && e.vcap > 16 {
			e.store(key, nil, 0) // free the string's memory
		}
		e.pos &^= fCold
		e.vlen, e.vcap = 0, typedCap
	} else {
		id, e = ks.insert(key, nil)
		ks.hot -= int64(e.vcap)
		e.vlen, e.vcap = 0, typedCap
	}
	if ks.colls == nil {
		ks.colls = make(map[uint32]*Coll)
	}
	ks.colls[id] = c
	c.bytes, c.sizeAt, c.touches = 0, 0, 0
	ks.account(c)
	e.pos |= fRef
	e.stamp = ks.Stamp
	ks.setExp(id, e, expireAt)
	ks.touch(key)
}

// SetCollCold stores key as a cold collection with metadata m and expiry
// expireAt: loading from the store uses it once the memory budget is
// spent, without reading the elements.
func (ks *Keyspace) SetCollCold(key []byte, m collection.Meta, expireAt int64) {
	ks.SetColl(key, &Coll{Meta: m}, expireAt)
	id, _ := ks.lookup(key)
	ks.makeCold(id, ks.ent(id))
}

// ColdColl returns the metadata of key, expired or not, when it is a cold
// collection: what its owner needs to read the elements back.
func (ks *Keyspace) ColdColl(key []byte) (collection.Meta, bool) {
	if ks.coldN == 0 {
		return collection.Meta{}, false
	}
	id, ok := ks.lookup(key)
	if !ok || !ks.ent(id).typed() || !ks.ent(id).isCold() {
		return collection.Meta{}, false
	}
	return ks.colls[id].Meta, true
}

// FillColl gives cold collection key its value v (a *collection.Hash,
// List, Set or ZSet loaded from the store, now owned by the keyspace),
// whose CollBytes is bytes (measured off the owner's loop), after
// ColdStamp returned stamp. As Fill, it does nothing and returns false
// when key is missing, not a cold collection, or stamped otherwise.
func (ks *Keyspace) FillColl(key []byte, v any, bytes int64, stamp uint64) bool {
	if ks.coldN == 0 {
		return false
	}
	id, ok := ks.lookup(key)
	if !ok {
		return false
	}
	e := ks.ent(id)
	if !e.typed() || !e.isCold() || e.stamp != stamp {
		return false
	}
	e.pos = e.pos&^fCold | fRef
	ks.coldN--
	c := ks.colls[id]
	c.V = v
	c.bytes, c.measured, c.sizeAt, c.touches = bytes, bytes, c.Meta.Size, 0
	ks.hot += bytes
	return true
}

// untype turns typed entry id back into an empty string entry.
func (ks *Keyspace) untype(id uint32, e *entry) {
	ks.dropValue(id, e)
	delete(ks.colls, id)
	e.vlen, e.vcap = 0, 0
	e.pos &^= fCold
}

// NextVersion returns a version for a new collection's records, above
// every version this keyspace handed out or loaded (SawVersion): the
// clock in the upper bits, so that versions also grow across restarts.
func (ks *Keyspace) NextVersion(now int64) uint64 {
	v := max(uint64(max(now, 0))<<16, ks.version+1)
	ks.version = v
	return v
}

// SawVersion records a version loaded from the store.
func (ks *Keyspace) SawVersion(v uint64) { ks.version = max(ks.version, v) }

// CollKind returns live key's kind and, for a collection, the collection,
// in one lookup.
func (ks *Keyspace) CollKind(key []byte, now int64) (*Coll, Kind) {
	id, e := ks.live(key, now)
	switch {
	case e == nil:
		return nil, KindNone
	case e.typed():
		c := ks.hotColl(id, e)
		return c, c.Kind()
	}
	return nil, KindString
}
