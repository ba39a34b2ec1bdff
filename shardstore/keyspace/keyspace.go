package keyspace

import (
	"github.com/dorivo/dorivo/shardstore/slot"
)

type entry struct {
	key string
	val []byte // nil while cold
	exp int64  // absolute unix ms; 0 means no expiry
	vi  int32  // index in Keyspace.vol, -1 when exp == 0
	// cold: the value is not in memory (cold.go); ref: the value was used
	// since the clock hand last passed; stamp: Keyspace.Stamp at the last
	// write.
	cold, ref bool
	stamp     uint64
}

// table holds one slot's keys.
type table struct {
	idx  map[string]int32
	ents []entry
}

type volKey struct {
	key  string
	slot uint16
}

// Keyspace is one event loop's keys. The zero value is not usable; call New.
type Keyspace struct {
	slots   [slot.Count]*table
	n       int
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
}

// New returns an empty Keyspace.
func New() *Keyspace {
	return &Keyspace{rng: 0x9E3779B97F4A7C15, watched: make(map[string][]watchRef)}
}

func (ks *Keyspace) find(key []byte) (t *table, s uint16, i int32) {
	s = slot.Of(key)
	t = ks.slots[s]
	if t == nil {
		return nil, s, -1
	}
	i, ok := t.idx[string(key)]
	if !ok {
		return t, s, -1
	}
	return t, s, i
}

// live returns the entry of key if it exists and has not expired. An
// expired entry is deleted.
func (ks *Keyspace) live(key []byte, now int64) (*table, uint16, *entry) {
	t, s, i := ks.find(key)
	if i < 0 {
		return t, s, nil
	}
	e := &t.ents[i]
	if e.exp != 0 && e.exp <= now {
		ks.remove(t, s, i)
		ks.Expired++
		return t, s, nil
	}
	return t, s, e
}

// Get returns key's value. The key must not be cold (see IsCold).
func (ks *Keyspace) Get(key []byte, now int64) ([]byte, bool) {
	_, _, e := ks.live(key, now)
	if e == nil {
		return nil, false
	}
	return e.value(), true
}

// Lookup returns key's value and expiry (0 for none). The key must not be
// cold (see IsCold).
func (ks *Keyspace) Lookup(key []byte, now int64) (val []byte, expireAt int64, ok bool) {
	_, _, e := ks.live(key, now)
	if e == nil {
		return nil, 0, false
	}
	return e.value(), e.exp, true
}

// Expiry returns key's expiry (0 for none) and whether it is live, without
// its value: it works on cold keys.
func (ks *Keyspace) Expiry(key []byte, now int64) (expireAt int64, ok bool) {
	_, _, e := ks.live(key, now)
	if e == nil {
		return 0, false
	}
	return e.exp, true
}

// Exists reports whether key is live.
func (ks *Keyspace) Exists(key []byte, now int64) bool {
	_, _, e := ks.live(key, now)
	return e != nil
}

// Set stores a copy of val under key with expiry expireAt (0 for none),
// replacing any previous value and expiry.
func (ks *Keyspace) Set(key, val []byte, expireAt int64) {
	t, s, i := ks.find(key)
	var e *entry
	if i >= 0 {
		e = &t.ents[i]
		old := cap(e.val)
		if e.cold {
			e.cold = false
			ks.coldN--
		}
		if cap(e.val) >= len(val) && cap(e.val) <= 2*len(val)+64 {
			e.val = append(e.val[:0], val...)
		} else {
			e.val = append([]byte(nil), val...)
		}
		ks.hot += int64(cap(e.val) - old)
	} else {
		if t == nil {
			t = &table{idx: make(map[string]int32)}
			ks.slots[s] = t
		}
		k := string(key)
		t.idx[k] = int32(len(t.ents))
		t.ents = append(t.ents, entry{key: k, val: append([]byte(nil), val...), vi: -1})
		ks.n++
		e = &t.ents[len(t.ents)-1]
		ks.hot += int64(cap(e.val))
	}
	e.ref, e.stamp = true, ks.Stamp
	ks.setExp(e, s, expireAt)
	ks.touch(key)
}

func (ks *Keyspace) setExp(e *entry, s uint16, at int64) {
	e.exp = at
	switch {
	case at != 0 && e.vi < 0:
		e.vi = int32(len(ks.vol))
		ks.vol = append(ks.vol, volKey{e.key, s})
	case at == 0 && e.vi >= 0:
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
		t := ks.slots[m.slot]
		t.ents[t.idx[m.key]].vi = i
	}
	ks.vol[last] = volKey{}
	ks.vol = ks.vol[:last]
}

// remove deletes t.ents[i] without checking expiry.
func (ks *Keyspace) remove(t *table, s uint16, i int32) {
	e := &t.ents[i]
	key := e.key
	if e.vi >= 0 {
		ks.dropVol(e.vi)
	}
	ks.dropValue(e)
	delete(t.idx, key)
	last := int32(len(t.ents) - 1)
	if i != last {
		t.ents[i] = t.ents[last]
		t.idx[t.ents[i].key] = i
	}
	t.ents[last] = entry{}
	t.ents = t.ents[:last]
	ks.n--
	if len(t.ents) == 0 {
		ks.slots[s] = nil
	}
	ks.touchString(key)
}

// Delete removes key and reports whether it was live.
func (ks *Keyspace) Delete(key []byte, now int64) bool {
	t, s, e := ks.live(key, now)
	if e == nil {
		return false
	}
	ks.remove(t, s, t.idx[string(key)])
	return true
}

// SetExpire sets the expiry of a live key (0 removes it) and reports
// whether the key was live.
func (ks *Keyspace) SetExpire(key []byte, expireAt int64, now int64) bool {
	_, s, e := ks.live(key, now)
	if e == nil {
		return false
	}
	e.stamp = ks.Stamp
	ks.setExp(e, s, expireAt)
	ks.touch(key)
	return true
}

// Append appends data to key's value, creating the key when it is not live,
// and returns the new value.
func (ks *Keyspace) Append(key, data []byte, now int64) []byte {
	_, _, e := ks.live(key, now)
	if e == nil {
		ks.Set(key, data, 0)
		v, _ := ks.Get(key, now)
		return v
	}
	old := cap(e.value())
	e.val = append(e.val, data...)
	ks.hot += int64(cap(e.val) - old)
	e.ref, e.stamp = true, ks.Stamp
	ks.touch(key)
	return e.val
}

// SetRange overwrites key's value at offset off with data, padding with
// zero bytes, creating the key when it is not live, and returns the new
// value. The caller checks that off+len(data) is within its size limit.
func (ks *Keyspace) SetRange(key []byte, off int, data []byte, now int64) []byte {
	_, _, e := ks.live(key, now)
	if e == nil {
		ks.Set(key, nil, 0)
		_, _, e = ks.live(key, now)
	}
	if need := off + len(data); need > len(e.value()) {
		if need > cap(e.val) {
			nv := make([]byte, need, need+need/4)
			copy(nv, e.val)
			ks.hot += int64(cap(nv) - cap(e.val))
			e.val = nv
		} else {
			clear(e.val[len(e.val):need])
			e.val = e.val[:need]
		}
	}
	copy(e.val[off:], data)
	e.ref, e.stamp = true, ks.Stamp
	ks.touch(key)
	return e.val
}

// Len returns the number of keys, including expired keys not yet
// reclaimed, as Redis's DBSIZE does.
func (ks *Keyspace) Len() int { return ks.n }

// VolatileLen returns the number of keys with an expiry.
func (ks *Keyspace) VolatileLen() int { return len(ks.vol) }

// SlotLen returns the number of keys in slot s.
func (ks *Keyspace) SlotLen(s uint16) int {
	if t := ks.slots[s]; t != nil {
		return len(t.ents)
	}
	return 0
}

// FlushSlot deletes every key of slot s and returns how many there were.
func (ks *Keyspace) FlushSlot(s uint16) int {
	t := ks.slots[s]
	if t == nil {
		return 0
	}
	n := len(t.ents)
	for i := range t.ents {
		e := &t.ents[i]
		if e.vi >= 0 {
			ks.dropVol(e.vi)
			e.vi = -1
		}
		ks.dropValue(e)
	}
	ks.slots[s] = nil
	ks.n -= n
	for _, e := range t.ents {
		ks.touchString(e.key)
	}
	return n
}

// Flush deletes every key.
func (ks *Keyspace) Flush() {
	// As Redis's touchAllWatchedKeysInDb: watchers of existing keys become
	// dirty, except where the key had already expired when watched.
	for k, refs := range ks.watched {
		if t, _, i := ks.find([]byte(k)); t != nil && i >= 0 {
			for j := range refs {
				if refs[j].expired {
					refs[j].expired = false
				} else {
					refs[j].w.Dirty = true
				}
			}
		}
	}
	ks.slots = [slot.Count]*table{}
	ks.n = 0
	ks.hot, ks.coldN = 0, 0
	clear(ks.vol)
	ks.vol = ks.vol[:0]
}

// Scan visits up to count live keys starting at cursor and returns the
// cursor to continue from, 0 when the scan is complete. Keys present for
// the whole scan are visited at least once; some may be visited twice.
// Expired keys found on the way are deleted.
func (ks *Keyspace) Scan(cursor uint64, count int, now int64, visit func(key, val []byte)) uint64 {
	s := cursor >> 32
	pos := int64(cursor & 0xffffffff) // 0: start of slot; p>0: positions [0,p) remain
	seen := 0
	for ; s < uint64(slot.Count); s, pos = s+1, 0 {
		t := ks.slots[s]
		if t == nil {
			continue
		}
		if pos == 0 || pos > int64(len(t.ents)) {
			pos = int64(len(t.ents))
		}
		for pos > 0 {
			if seen >= count {
				return s<<32 | uint64(pos)
			}
			pos--
			seen++
			e := &t.ents[pos]
			if e.exp != 0 && e.exp <= now {
				ks.remove(t, uint16(s), int32(pos))
				ks.Expired++
				if ks.slots[s] == nil {
					break
				}
				continue
			}
			visit([]byte(e.key), e.val)
		}
	}
	return 0
}

// Each visits every key, expired or not, in slot order. visit must not
// modify the Keyspace.
func (ks *Keyspace) Each(visit func(key, val []byte, expireAt int64)) {
	for _, t := range ks.slots {
		if t == nil {
			continue
		}
		for i := range t.ents {
			e := &t.ents[i]
			visit([]byte(e.key), e.val, e.exp)
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
// budget samples in all. It returns the number of keys deleted.
func (ks *Keyspace) ExpireStep(now int64, budget int) int {
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
			t := ks.slots[v.slot]
			i := t.idx[v.key]
			if t.ents[i].exp <= now {
				ks.remove(t, v.slot, i)
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
