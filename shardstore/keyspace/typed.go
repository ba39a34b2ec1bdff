package keyspace

import "github.com/dorivo/dorivo/shardstore/collection"

// Typed values. A key holds a string or a collection (hash, list, set,
// sorted set). A collection's entry keeps the string layout (32 bytes and
// an allocation holding the key, with no value) and is marked by vcap ==
// typedCap; the collection itself lives in Keyspace.colls under the
// entry's id, which is stable for the entry's life. String keys therefore
// cost exactly what they did, and a keyspace without collections pays one
// nil map. Collections count for nothing in HotBytes and are never evicted
// (Evict passes over them): they stay in memory while they live.

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
	V    any
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
// on cold keys (a cold key is a string).
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
// a string. The caller may change it in place, then calls Touched.
func (ks *Keyspace) Coll(key []byte, now int64) *Coll {
	id, e := ks.live(key, now)
	if e == nil || !e.typed() {
		return nil
	}
	e.pos |= fRef
	return ks.colls[id]
}

// CollAny is Coll for any key, expired or not, without deleting it.
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
		ks.ent(id).stamp = ks.Stamp
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
		if !e.typed() {
			ks.dropValue(e)
			if e.vcap > 16 {
				e.store(key, nil, 0) // free the string's memory
			}
			e.pos &^= fCold
			e.vlen, e.vcap = 0, typedCap
		}
	} else {
		id, e = ks.insert(key, nil)
		ks.hot -= int64(e.vcap)
		e.vlen, e.vcap = 0, typedCap
	}
	if ks.colls == nil {
		ks.colls = make(map[uint32]*Coll)
	}
	ks.colls[id] = c
	e.pos |= fRef
	e.stamp = ks.Stamp
	ks.setExp(id, e, expireAt)
	ks.touch(key)
}

// untype turns typed entry id back into an empty string entry.
func (ks *Keyspace) untype(id uint32, e *entry) {
	delete(ks.colls, id)
	e.vlen, e.vcap = 0, 0
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
		e.pos |= fRef
		c := ks.colls[id]
		return c, c.Kind()
	}
	return nil, KindString
}
