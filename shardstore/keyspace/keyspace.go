package keyspace

import (
	"hash/maphash"

	"github.com/dorivo/dorivo/shardstore/slot"
)

// Entries live in pages of pageSize, addressed by id; pages never move, so
// an id is stable for the entry's life and growth copies nothing.
const (
	pageBits = 10
	pageSize = 1 << pageBits
	pageMask = pageSize - 1
)

type volKey struct {
	exp int64 // absolute unix ms, never 0
	id  uint32
}

// Keyspace is one event loop's keys. The zero value is not usable; call New.
type Keyspace struct {
	pages []*[pageSize]entry
	top   uint32 // ids below top were handed out
	free  uint32 // first free id + 1; 0 when none (list through entry.pos)
	n     int

	// The index (index.go): cur, and old while it is being migrated.
	cur, old []uint64
	migAt    uint32
	migLeft  int
	seed     maphash.Seed
	hashMask uint64 // all ones; tests narrow it to force equal tags

	// slots[s] holds the ids of slot s's keys; entry.pos is the position.
	slots [slot.Count][]uint32

	vol     []volKey // keys with an expiry, for ExpireStep's sampling
	rng     uint64
	watched map[string][]watchRef
	// Expired counts keys deleted because their expiry passed.
	Expired uint64

	// Values in memory (cold.go): hot is the capacity of the values held,
	// coldN the keys whose value is not held, hand the clock hand.
	hot   int64
	coldN int
	hand  clockHand
	// Stamp is recorded on every entry written from now on; Evict keeps
	// the values of entries stamped after its clean argument.
	Stamp uint64

	// colls holds the collections of typed entries by id (typed.go);
	// version is the last collection version handed out or loaded.
	colls   map[uint32]*Coll
	version uint64
}

// New returns an empty Keyspace.
func New() *Keyspace {
	return &Keyspace{
		cur:      make([]uint64, minIndex),
		seed:     maphash.MakeSeed(),
		hashMask: ^uint64(0),
		rng:      0x9E3779B97F4A7C15,
		watched:  make(map[string][]watchRef),
	}
}

func (ks *Keyspace) ent(id uint32) *entry { return &ks.pages[id>>pageBits][id&pageMask] }

// exp returns e's expiry, 0 for none.
func (ks *Keyspace) exp(e *entry) int64 {
	if e.vi < 0 {
		return 0
	}
	return ks.vol[e.vi].exp
}

// live returns the id and entry of key if it exists and has not expired.
// An expired entry is deleted.
func (ks *Keyspace) live(key []byte, now int64) (uint32, *entry) {
	id, ok := ks.lookup(key)
	if !ok {
		return 0, nil
	}
	e := ks.ent(id)
	if e.vi >= 0 && ks.vol[e.vi].exp <= now {
		ks.remove(id, e)
		ks.Expired++
		return 0, nil
	}
	return id, e
}

// Get returns key's value. The key must not be cold (see IsCold).
func (ks *Keyspace) Get(key []byte, now int64) ([]byte, bool) {
	_, e := ks.live(key, now)
	if e == nil {
		return nil, false
	}
	return e.value(), true
}

// Lookup returns key's value and expiry (0 for none). The key must not be
// cold (see IsCold).
func (ks *Keyspace) Lookup(key []byte, now int64) (val []byte, expireAt int64, ok bool) {
	_, e := ks.live(key, now)
	if e == nil {
		return nil, 0, false
	}
	return e.value(), ks.exp(e), true
}

// Expiry returns key's expiry (0 for none) and whether it is live, without
// its value: it works on cold keys.
func (ks *Keyspace) Expiry(key []byte, now int64) (expireAt int64, ok bool) {
	_, e := ks.live(key, now)
	if e == nil {
		return 0, false
	}
	return ks.exp(e), true
}

// Exists reports whether key is live.
func (ks *Keyspace) Exists(key []byte, now int64) bool {
	_, e := ks.live(key, now)
	return e != nil
}

// Set stores a copy of val under key with expiry expireAt (0 for none),
// replacing any previous value and expiry.
func (ks *Keyspace) Set(key, val []byte, expireAt int64) {
	id, ok := ks.lookup(key)
	var e *entry
	if ok {
		e = ks.ent(id)
		if e.typed() {
			ks.untype(id, e)
		}
		if e.isCold() {
			e.pos &^= fCold
			ks.coldN--
			ks.hot += int64(e.vcap)
		}
		ks.hot += e.setVal(val)
	} else {
		id, e = ks.insert(key, val)
	}
	e.pos |= fRef
	e.stamp = ks.Stamp
	ks.setExp(id, e, expireAt)
	ks.touch(key)
}

// insert adds key, which is not present, with value val.
func (ks *Keyspace) insert(key, val []byte) (uint32, *entry) {
	id := ks.alloc()
	e := ks.ent(id)
	*e = entry{vi: -1}
	ks.hot += e.store(key, val, len(val))
	ks.indexAdd(ks.hashKey(key), id)
	s := slot.Of(key)
	e.setAt(uint32(len(ks.slots[s])))
	if len(ks.slots[s]) == posMask {
		panic("keyspace: 2^30 keys in one slot")
	}
	ks.slots[s] = append(ks.slots[s], id)
	ks.n++
	return id, e
}

// alloc returns a free entry id.
func (ks *Keyspace) alloc() uint32 {
	if ks.free != 0 {
		id := ks.free - 1
		ks.free = ks.ent(id).pos
		return id
	}
	id := ks.top
	if id&pageMask == 0 {
		ks.pages = append(ks.pages, new([pageSize]entry))
	}
	ks.top++
	return id
}

func (ks *Keyspace) setExp(id uint32, e *entry, at int64) {
	if e.typed() {
		ks.colls[id].Meta.ExpireMs = at
	}
	ks.setVol(id, e, at)
}

func (ks *Keyspace) setVol(id uint32, e *entry, at int64) {
	switch {
	case at != 0 && e.vi < 0:
		e.vi = int32(len(ks.vol))
		ks.vol = append(ks.vol, volKey{at, id})
	case at != 0:
		ks.vol[e.vi].exp = at
	case e.vi >= 0:
		ks.dropVol(e.vi)
		e.vi = -1
	}
}

// dropVol removes ks.vol[i], moving the last element into its place.
func (ks *Keyspace) dropVol(i int32) {
	last := int32(len(ks.vol) - 1)
	if i != last {
		m := ks.vol[last]
		ks.vol[i] = m
		ks.ent(m.id).vi = i
	}
	ks.vol = ks.vol[:last]
}

// remove deletes entry id (e) without checking expiry.
func (ks *Keyspace) remove(id uint32, e *entry) {
	key := e.key() // stays valid: this slice keeps kv alive
	s := slot.Of(key)
	ks.unlink(id, e, key)
	order := ks.slots[s]
	last := uint32(len(order) - 1)
	if p := e.at(); p != last {
		// The last entry moves from a visited position to an unvisited
		// one (SCAN goes down), so no entry present throughout is missed.
		m := order[last]
		order[p] = m
		ks.ent(m).setAt(p)
	}
	if last == 0 {
		ks.slots[s] = nil
	} else {
		ks.slots[s] = order[:last]
	}
	ks.freeEntry(id, e)
	ks.touch(key)
}

// unlink drops entry id's expiry, value and index, leaving its slot.
func (ks *Keyspace) unlink(id uint32, e *entry, key []byte) {
	if e.vi >= 0 {
		ks.dropVol(e.vi)
	}
	ks.dropValue(id, e)
	if e.typed() {
		delete(ks.colls, id)
	}
	ks.indexDel(ks.hashKey(key), id)
	ks.n--
}

func (ks *Keyspace) freeEntry(id uint32, e *entry) {
	*e = entry{pos: ks.free}
	ks.free = id + 1
}

// Delete removes key and reports whether it was live.
func (ks *Keyspace) Delete(key []byte, now int64) bool {
	id, e := ks.live(key, now)
	if e == nil {
		return false
	}
	ks.remove(id, e)
	return true
}

// SetExpire sets the expiry of a live key (0 removes it) and reports
// whether the key was live.
func (ks *Keyspace) SetExpire(key []byte, expireAt int64, now int64) bool {
	id, e := ks.live(key, now)
	if e == nil {
		return false
	}
	e.stamp = ks.Stamp
	ks.setExp(id, e, expireAt)
	ks.touch(key)
	return true
}

// Append appends data to key's value, creating the key when it is not live,
// and returns the new value.
func (ks *Keyspace) Append(key, data []byte, now int64) []byte {
	_, e := ks.live(key, now)
	if e == nil {
		ks.Set(key, data, 0)
		v, _ := ks.Get(key, now)
		return v
	}
	v := e.value()
	if need := len(v) + len(data); need > int(e.vcap) {
		ks.hot += e.store(key, v, max(need, grownRoom(int(e.vcap))))
	}
	e.vlen = uint32(len(append(e.room(), data...)))
	e.pos |= fRef
	e.stamp = ks.Stamp
	ks.touch(key)
	return e.val()
}

// grownRoom is the value capacity after growing from c, as append's.
func grownRoom(c int) int {
	if c < 256 {
		return 2 * c
	}
	return c + (c+3*256)/4
}

// SetRange overwrites key's value at offset off with data, padding with
// zero bytes, creating the key when it is not live, and returns the new
// value. The caller checks that off+len(data) is within its size limit.
func (ks *Keyspace) SetRange(key []byte, off int, data []byte, now int64) []byte {
	_, e := ks.live(key, now)
	if e == nil {
		ks.Set(key, nil, 0)
		_, e = ks.live(key, now)
	}
	v := e.value()
	if need := off + len(data); need > len(v) {
		if need > int(e.vcap) {
			ks.hot += e.store(key, v, need+need/4)
		}
		clear(e.room()[len(v):need])
		e.vlen = uint32(need)
	}
	copy(e.val()[off:], data)
	e.pos |= fRef
	e.stamp = ks.Stamp
	ks.touch(key)
	return e.val()
}

// Len returns the number of keys, including expired keys not yet
// reclaimed, as Redis's DBSIZE does.
func (ks *Keyspace) Len() int { return ks.n }

// VolatileLen returns the number of keys with an expiry.
func (ks *Keyspace) VolatileLen() int { return len(ks.vol) }

// SlotLen returns the number of keys in slot s.
func (ks *Keyspace) SlotLen(s uint16) int { return len(ks.slots[s]) }

// FlushSlot deletes every key of slot s and returns how many there were.
func (ks *Keyspace) FlushSlot(s uint16) int {
	order := ks.slots[s]
	var keys [][]byte // for the watchers, touched once all are gone
	for _, id := range order {
		e := ks.ent(id)
		key := e.key()
		ks.unlink(id, e, key)
		ks.freeEntry(id, e)
		if len(ks.watched) > 0 {
			keys = append(keys, key)
		}
	}
	ks.slots[s] = nil
	for _, k := range keys {
		ks.touch(k)
	}
	return len(order)
}

// Flush deletes every key.
func (ks *Keyspace) Flush() {
	// As Redis's touchAllWatchedKeysInDb: watchers of existing keys become
	// dirty, except where the key had already expired when watched.
	for k, refs := range ks.watched {
		if _, ok := ks.lookup([]byte(k)); ok {
			for j := range refs {
				if refs[j].expired {
					refs[j].expired = false
				} else {
					refs[j].w.Dirty = true
				}
			}
		}
	}
	ks.pages, ks.top, ks.free, ks.n = nil, 0, 0, 0
	ks.cur, ks.old, ks.migLeft = make([]uint64, minIndex), nil, 0
	ks.slots = [slot.Count][]uint32{}
	ks.hot, ks.coldN = 0, 0
	ks.hand = clockHand{}
	ks.vol = nil
	ks.colls = nil
}

// Scan visits up to count live keys starting at cursor and returns the
// cursor to continue from, 0 when the scan is complete. It passes over
// empty slots, so a call returns fewer than count keys only at the end.
// Keys present for the whole scan are visited at least once; some may be
// visited twice. Expired keys found on the way are deleted (and count).
//
// The cursor is slot<<32 | pos: pos 0 starts the slot, pos p > 0 means
// positions [0, p) of the slot's order remain. Positions are visited in
// descending order, and deletion moves the last entry into the hole, from
// a visited position to an unvisited one.
func (ks *Keyspace) Scan(cursor uint64, count int, now int64, visit func(key, val []byte)) uint64 {
	s := cursor >> 32
	pos := int64(cursor & 0xffffffff)
	seen := 0
	for ; s < uint64(slot.Count); s, pos = s+1, 0 {
		order := ks.slots[s]
		if len(order) == 0 {
			continue
		}
		if pos == 0 || pos > int64(len(order)) {
			pos = int64(len(order))
		}
		for pos > 0 {
			if seen >= count {
				return s<<32 | uint64(pos)
			}
			pos--
			seen++
			id := ks.slots[s][pos]
			e := ks.ent(id)
			if e.vi >= 0 && ks.vol[e.vi].exp <= now {
				ks.remove(id, e)
				ks.Expired++
				continue
			}
			visit(e.key(), e.valOrNil())
		}
	}
	return 0
}

// valOrNil returns the value, nil while cold.
func (e *entry) valOrNil() []byte {
	if e.isCold() {
		return nil
	}
	return e.val()
}

// Each visits every key, expired or not, in slot order. visit must not
// modify the Keyspace.
func (ks *Keyspace) Each(visit func(key, val []byte, expireAt int64)) {
	for _, order := range &ks.slots {
		for _, id := range order {
			e := ks.ent(id)
			visit(e.key(), e.valOrNil(), ks.exp(e))
		}
	}
}

func (ks *Keyspace) rand() uint64 {
	ks.rng ^= ks.rng << 13
	ks.rng ^= ks.rng >> 7
	ks.rng ^= ks.rng << 17
	return ks.rng
}

// Sampling parameters of Redis's activeExpireCycle at active-expire-effort 1.
const (
	expireSample       = 20 // keys sampled per round
	expireAcceptablePc = 10 // stop once at most this percent of a round was expired
)

// ExpireStep samples keys with an expiry at random and deletes those that
// have expired, as Redis's activeExpireCycle does: rounds of 20 samples,
// repeated while more than 10% of a round had expired, and never more than
// budget samples in all. It returns the number of keys deleted. It also
// moves on a growth of the index in progress.
func (ks *Keyspace) ExpireStep(now int64, budget int) int {
	if ks.old != nil {
		ks.migrate(migrateExpire)
	}
	deleted := 0
	for budget > 0 && len(ks.vol) > 0 {
		n := min(expireSample, budget, len(ks.vol))
		budget -= n
		expired := 0
		for range n {
			if len(ks.vol) == 0 {
				break
			}
			v := ks.vol[ks.rand()%uint64(len(ks.vol))]
			if v.exp <= now {
				ks.remove(v.id, ks.ent(v.id))
				ks.Expired++
				expired++
			}
		}
		deleted += expired
		if expired*100 <= n*expireAcceptablePc {
			break
		}
	}
	return deleted
}
