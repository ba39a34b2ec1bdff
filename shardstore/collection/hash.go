package collection

import (
	"iter"
	"math/rand/v2"
)

// Redis 7.0.15's built-in defaults (CONFIG GET on redis-server, not the
// sample redis.conf's 128 for hashes): hash-max-listpack-entries 512,
// zset-max-listpack-entries 128, both -value 64, set-max-intset-entries
// 512.
const (
	HashListpackEntries = 512
	ZSetListpackEntries = 128
	ListpackValue       = 64
	IntsetEntries       = 512
)

// Pair is a hash field and its value, or a member and its score text.
type Pair struct{ Field, Value string }

// Hash is a Redis hash. Fields keep insertion order while the hash is a
// "listpack" (≤ HashListpackEntries fields, each field and value ≤
// ListpackValue bytes); past that it becomes a "hashtable" for good.
// Each field carries its insertion sequence, which its record stores so
// that loading the hash back restores the order (LoadHash).
type Hash struct {
	t    table[hval]
	next uint64 // the next field's sequence
}

// hval is a field's value and insertion sequence.
type hval struct {
	v   string
	seq uint64
}

// NewHash returns an empty hash.
func NewHash() *Hash { return &Hash{} }

// Len returns the number of fields.
func (h *Hash) Len() int { return h.t.len() }

// Encoding returns OBJECT ENCODING's name: "listpack" or "hashtable".
func (h *Hash) Encoding() string {
	if !h.t.big {
		return "listpack"
	}
	return "hashtable"
}

// Get returns field's value.
func (h *Hash) Get(field []byte) (string, bool) {
	if i := h.t.find(field); i >= 0 {
		return h.t.vals[i].v, true
	}
	return "", false
}

// seq returns field's insertion sequence (the field is there).
func (h *Hash) seq(field []byte) uint64 { return h.t.vals[h.t.find(field)].seq }

// load adds a field read back from its record, with its sequence; the
// caller puts the fields in sequence order.
func (h *Hash) load(field, value []byte, seq uint64) {
	h.next = seq
	h.Set(field, value)
}

// Set sets field to value and reports whether the field is new.
func (h *Hash) Set(field, value []byte) (created bool) {
	if len(field) > ListpackValue || len(value) > ListpackValue {
		h.t.grow()
	}
	if i := h.t.find(field); i >= 0 {
		h.t.vals[i].v = string(value)
		return false
	}
	h.t.add(string(field), hval{string(value), h.next})
	h.next++
	if h.t.len() > HashListpackEntries {
		h.t.grow()
	}
	return true
}

// Delete removes field and reports whether it was there.
func (h *Hash) Delete(field []byte) bool {
	i := h.t.find(field)
	if i < 0 {
		return false
	}
	h.t.removeAt(i)
	return true
}

// All yields the fields and values in the hash's order (HGETALL's).
func (h *Hash) All() iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		for i, k := range h.t.keys {
			if !yield(k, h.t.vals[i].v) {
				return
			}
		}
	}
}

// Scan is HSCAN without MATCH: it calls fn for about count fields from
// cursor (0 to start) and returns the next cursor, 0 at the end. Every
// field present for the whole scan is returned at least once.
func (h *Hash) Scan(cursor uint64, count int, fn func(field, value string)) uint64 {
	return h.t.scan(cursor, count, func(i int) { fn(h.t.keys[i], h.t.vals[i].v) })
}

// Random is HRANDFIELD with a count: count ≥ 0 gives min(count, Len())
// distinct fields (all of them, in order, when count ≥ Len(); a listpack
// keeps its order in the sample too), count < 0 gives -count fields that
// may repeat.
func (h *Hash) Random(rng *rand.Rand, count int) []Pair {
	out := make([]Pair, 0, min(abs(count), h.Len()+1))
	randomSlots(rng, h.t.len(), count, !h.t.big, func(i int) {
		out = append(out, Pair{h.t.keys[i], h.t.vals[i].v})
	})
	return out
}

// MemoryUsage estimates the bytes the hash holds (MEMORY USAGE): the
// strings, their headers, and the index. An estimate, not an allocator's
// count.
func (h *Hash) MemoryUsage() int {
	n := 48 + cap(h.t.keys)*16 + cap(h.t.vals)*16
	for i, k := range h.t.keys {
		n += len(k) + len(h.t.vals[i].v)
	}
	if h.t.idx != nil {
		n += len(h.t.keys) * mapSlotBytes
	}
	return n
}

// mapSlotBytes estimates a Go map slot of string key and int32 value with
// its control byte and load factor.
const mapSlotBytes = 32

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// randomSlots picks slots out of n per the *RANDFIELD/SRANDMEMBER count
// rules (see Hash.Random); ordered keeps the sample in slot order.
func randomSlots(rng *rand.Rand, n, count int, ordered bool, fn func(i int)) {
	switch {
	case n == 0 || count == 0:
	case count < 0:
		for range -count {
			fn(rng.IntN(n))
		}
	case count >= n:
		for i := range n {
			fn(i)
		}
	case ordered:
		// Selection sampling (Knuth's algorithm S): each slot in order.
		need := count
		for i := 0; i < n && need > 0; i++ {
			if rng.IntN(n-i) < need {
				fn(i)
				need--
			}
		}
	default:
		// A partial Fisher-Yates over a permutation of slots.
		perm := make([]int32, n)
		for i := range perm {
			perm[i] = int32(i)
		}
		for i := range count {
			j := i + rng.IntN(n-i)
			perm[i], perm[j] = perm[j], perm[i]
			fn(int(perm[i]))
		}
	}
}
