package command

import "github.com/dorivo/dorivo/shardstore/keyspace"

// Under an LFU maxmemory-policy a key's access field holds Redis's LFU
// data instead of its LRU clock (evict.c): the minute of the last decrement
// (16 bits) and a logarithmic access counter (8 bits). New keys start at
// LFU_INIT_VAL; every access first decays the counter by one per minute
// (lfu-decay-time 1) and then increments it with probability
// 1/((counter-5)*10+1) (lfu-log-factor 10). OBJECT FREQ is the decayed
// counter. As in Redis, switching policies leaves the other kind's data in
// place for a while.
const (
	lfuInitVal   = 5
	lfuLogFactor = 10
)

// lfuMinutes is Redis's LFUGetTimeInMinutes.
func lfuMinutes(now int64) uint32 { return uint32(now/60000) & 0xffff }

// lfuDecayed is Redis's LFUDecrAndReturn for the field v at now.
func lfuDecayed(v uint32, now int64) uint32 {
	ldt, counter := v>>8&0xffff, v&0xff
	t := lfuMinutes(now)
	elapsed := t - ldt
	if t < ldt {
		elapsed = 0xffff - ldt + t
	}
	if elapsed >= counter {
		return 0
	}
	return counter - elapsed
}

// lfuAccess is Redis's updateLFU: the field after an access at now; r is
// a random number in [0, 1). A field of 0 is a key not accessed yet: it
// starts at LFU_INIT_VAL, as Redis's new objects do.
func lfuAccess(v uint32, now int64, r float64) uint32 {
	if v == 0 {
		return lfuMinutes(now)<<8 | lfuInitVal
	}
	counter := lfuDecayed(v, now)
	if counter < 255 {
		base := max(0, float64(counter)-lfuInitVal)
		if r < 1/(base*lfuLogFactor+1) {
			counter++
		}
	}
	return lfuMinutes(now)<<8 | counter
}

// lfuTouch records an access to key under an LFU policy.
func (c *call) lfuTouch(ks *keyspace.Keyspace, key []byte) {
	if v, ok := ks.LastAccess(key); ok {
		ks.MarkAccess(key, lfuAccess(v, c.now, c.rng().Float64()))
	}
}

// objectFreq is OBJECT FREQ of an existing key.
func (c *call) objectFreq(key []byte) {
	if !lfuPolicy(c.s.Node.Config()) {
		c.err("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")
		return
	}
	v, _ := c.ks.LastAccess(key)
	c.int(int64(lfuDecayed(v, c.now)))
}
