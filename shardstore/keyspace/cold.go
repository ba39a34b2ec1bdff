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

// value returns e's value; e must not be cold.
func (e *entry) value() []byte {
	if e.cold {
		panic("keyspace: value of cold key " + e.key + " read before Fill")
	}
	e.ref = true
	return e.val
}

// dropValue forgets e's value for the counters (e is being removed).
func (ks *Keyspace) dropValue(e *entry) {
	if e.cold {
		ks.coldN--
	} else {
		ks.hot -= int64(cap(e.val))
	}
}

// HotBytes returns the bytes of values held in memory (their capacity).
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
	t, _, i := ks.find(key)
	if i < 0 || !t.ents[i].cold {
		return 0, false
	}
	return t.ents[i].stamp, true
}

// SetCold stores key with expiry expireAt and no value in memory, replacing
// any previous entry. Loading from the store uses it once the memory budget
// is spent.
func (ks *Keyspace) SetCold(key []byte, expireAt int64) {
	ks.Set(key, nil, expireAt)
	t, _, i := ks.find(key)
	e := &t.ents[i]
	ks.hot -= int64(cap(e.val))
	e.val, e.cold, e.ref = nil, true, false
	ks.coldN++
}

// Fill gives cold key its value val (copied), read from where the owner
// keeps it after ColdStamp returned stamp. It does nothing and returns
// false when key is missing, not cold, or stamped otherwise: the key was
// written or deleted since, and val is stale (even if the key went cold
// again).
func (ks *Keyspace) Fill(key, val []byte, stamp uint64) bool {
	if ks.coldN == 0 {
		return false
	}
	t, _, i := ks.find(key)
	if i < 0 || !t.ents[i].cold || t.ents[i].stamp != stamp {
		return false
	}
	e := &t.ents[i]
	e.val = append([]byte(nil), val...)
	e.cold, e.ref = false, true
	ks.coldN--
	ks.hot += int64(cap(e.val))
	return true
}

// Evict drops values until HotBytes is at most target and returns how many
// it dropped and how far the hand moved. Values of entries stamped after
// clean, and of keys for which keep returns true, stay. The hand moves at
// most maxSteps times, one step per entry or slot passed: a full turn is
// TurnSteps, and two turns spare no value for its ref bit alone.
func (ks *Keyspace) Evict(target int64, clean uint64, maxSteps int, keep func(key string) bool) (dropped, steps int) {
	for ; ks.hot > target && steps < maxSteps; steps++ {
		t := ks.slots[ks.hand.slot]
		if t == nil || int(ks.hand.pos) >= len(t.ents) {
			ks.hand.slot = uint16((int(ks.hand.slot) + 1) % slot.Count)
			ks.hand.pos = 0
			continue
		}
		e := &t.ents[ks.hand.pos]
		ks.hand.pos++
		switch {
		case e.cold || e.stamp > clean:
		case e.ref:
			e.ref = false
		case keep != nil && keep(e.key):
		default:
			ks.hot -= int64(cap(e.val))
			e.val, e.cold = nil, true
			ks.coldN++
			dropped++
		}
	}
	return dropped, steps
}

// TurnSteps is how many steps of Evict's hand make one turn.
func (ks *Keyspace) TurnSteps() int { return slot.Count + ks.n }
