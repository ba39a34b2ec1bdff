package keyspace

import "github.com/dorivo/dorivo/shardstore/slot"

// Cold keys. Every key and its expiry stay in memory, but a value may be
// dropped (the key goes cold) when its owner keeps it elsewhere, the
// durable store: this is the keydir of Bitcask, or Aerospike's in-memory
// primary index over data on disk. Existence, expiry, DBSIZE, KEYS and SCAN
// therefore never need the disk; only commands that use a cold key's value
// do, and the owner must Fill the value before running one (reading a cold
// value panics, as serving an empty string in its place would be silent
// data loss).
//
// Evict chooses values with the CLOCK algorithm (second chance, as
// PostgreSQL's buffer pool): a hand sweeps the entries in slot order; an
// entry used since the hand last passed (ref) is spared once; one stamped
// after the caller's clean mark (a write not yet durable) is always
// spared, as are the keys the caller names.

// clockHand is the position Evict resumes from.
type clockHand struct {
	slot uint16
	pos  int32
}

// Collections go cold too (typed.go): the same sweep drops them, keeping
// their metadata.

// value returns e's value; e must not be cold.
func (e *entry) value() []byte {
	if e.typed() {
		panic("keyspace: string value of collection " + string(e.key()) + " read")
	}
	if e.isCold() {
		panic("keyspace: value of cold key " + string(e.key()) + " read before Fill")
	}
	e.pos |= fRef
	return e.val()
}

// dropValue forgets entry id's value for the counters (it is being removed
// or replaced).
func (ks *Keyspace) dropValue(id uint32, e *entry) {
	switch {
	case e.isCold():
		ks.coldN--
	case e.typed():
		c := ks.colls[id]
		ks.hot -= c.bytes
		c.bytes = 0
	default:
		ks.hot -= int64(e.vcap)
	}
}

// makeCold drops hot entry id's value, keeping its key in an allocation of
// its own (a collection keeps its Coll, with V nil).
func (ks *Keyspace) makeCold(id uint32, e *entry) {
	if e.typed() {
		c := ks.colls[id]
		ks.hot -= c.bytes
		c.V, c.bytes, c.sizeAt, c.touches = nil, 0, 0, 0
	} else {
		ks.hot -= int64(e.vcap)
		if e.vlen = 0; e.vcap > 16 {
			e.store(e.key(), nil, 0) // free the value's memory
		}
	}
	e.pos = e.pos&^fRef | fCold
	ks.coldN++
}

// HotBytes returns the bytes of values held in memory: the capacity of
// strings, an estimate for collections.
func (ks *Keyspace) HotBytes() int64 { return ks.hot }

// ColdLen returns the number of keys whose value is not in memory.
func (ks *Keyspace) ColdLen() int { return ks.coldN }

// IsCold reports whether key exists, expired or not, with its value not in
// memory.
func (ks *Keyspace) IsCold(key []byte) bool {
	_, cold := ks.ColdStamp(key)
	return cold
}

// ColdStamp reports whether key is cold and, if so, the stamp of its last
// write, which Fill checks: a value read for this stamp is stale once the
// key was written again.
func (ks *Keyspace) ColdStamp(key []byte) (stamp uint64, cold bool) {
	if ks.coldN == 0 {
		return 0, false
	}
	id, ok := ks.lookup(key)
	if !ok || !ks.ent(id).isCold() {
		return 0, false
	}
	return ks.ent(id).stamp, true
}

// SetCold stores key with expiry expireAt and no value in memory, replacing
// any previous entry. Loading from the store uses it once the memory budget
// is spent.
func (ks *Keyspace) SetCold(key []byte, expireAt int64) {
	ks.Set(key, nil, expireAt)
	id, _ := ks.lookup(key)
	ks.makeCold(id, ks.ent(id))
}

// Fill gives cold string key its value val (copied), read from where the
// owner keeps it after ColdStamp returned stamp. It does nothing and
// returns false when key is missing, not a cold string, or stamped
// otherwise: the key was written or deleted since, and val is stale (even
// if the key went cold again).
func (ks *Keyspace) Fill(key, val []byte, stamp uint64) bool {
	if ks.coldN == 0 {
		return false
	}
	id, ok := ks.lookup(key)
	if !ok {
		return false
	}
	e := ks.ent(id)
	if !e.isCold() || e.typed() || e.stamp != stamp {
		return false
	}
	e.pos = e.pos&^fCold | fRef
	ks.coldN--
	ks.hot += int64(e.vcap)
	ks.hot += e.setVal(val)
	return true
}

// Evict drops values until HotBytes is at most target and returns how many
// it dropped and how far the hand moved. Values of entries stamped after
// clean, and of keys for which keep returns true, stay. The hand moves at
// most maxSteps times, one step per entry or slot passed: a full turn is
// TurnSteps, and two turns spare no value for its ref bit alone.
func (ks *Keyspace) Evict(target int64, clean uint64, maxSteps int, keep func(key string) bool) (dropped, steps int) {
	for ; ks.hot > target && steps < maxSteps; steps++ {
		order := ks.slots[ks.hand.slot]
		if int(ks.hand.pos) >= len(order) {
			ks.hand.slot = uint16((int(ks.hand.slot) + 1) % slot.Count)
			ks.hand.pos = 0
			continue
		}
		id := order[ks.hand.pos]
		e := ks.ent(id)
		ks.hand.pos++
		switch {
		case e.isCold() || e.stamp > clean:
		case e.pos&fRef != 0:
			e.pos &^= fRef
		case keep != nil && keep(string(e.key())):
		default:
			ks.makeCold(id, e)
			dropped++
		}
	}
	return dropped, steps
}

// TurnSteps is how many steps of Evict's hand make one turn.
func (ks *Keyspace) TurnSteps() int { return slot.Count + ks.n }
