package collection

import "slices"

// table is the member store behind hashes, sets and sorted sets: keys and
// their values in dense slices, plus a map from key to slot once there
// are more than linearMax keys. While small (a "listpack") deletion keeps
// the order, as a listpack does, at O(n) for n ≤ 512; once big (a
// "hashtable") deletion moves the last slot into the hole, so every
// operation is O(1).
type table[V any] struct {
	keys []string
	vals []V
	idx  map[string]int32 // nil while len ≤ linearMax
	big  bool
}

// linearMax is the size up to which a linear search beats the map.
const linearMax = 8

func (t *table[V]) len() int { return len(t.keys) }

// find returns k's slot, or -1.
func (t *table[V]) find(k []byte) int {
	if t.idx != nil {
		if i, ok := t.idx[string(k)]; ok {
			return int(i)
		}
		return -1
	}
	for i, key := range t.keys {
		if key == string(k) {
			return i
		}
	}
	return -1
}

// add appends a key known to be absent.
func (t *table[V]) add(k string, v V) {
	if t.idx != nil {
		t.idx[k] = int32(len(t.keys))
	}
	t.keys = append(t.keys, k)
	t.vals = append(t.vals, v)
	if t.idx == nil && len(t.keys) > linearMax {
		t.buildIndex()
	}
}

// removeAt deletes slot i.
func (t *table[V]) removeAt(i int) {
	var zero V
	if t.idx != nil {
		delete(t.idx, t.keys[i])
	}
	if !t.big {
		t.keys = slices.Delete(t.keys, i, i+1)
		t.vals = slices.Delete(t.vals, i, i+1)
		if t.idx != nil {
			for j := i; j < len(t.keys); j++ {
				t.idx[t.keys[j]] = int32(j)
			}
		}
		return
	}
	last := len(t.keys) - 1
	if i != last {
		t.keys[i], t.vals[i] = t.keys[last], t.vals[last]
		t.idx[t.keys[i]] = int32(i)
	}
	t.keys[last], t.vals[last] = "", zero
	t.keys, t.vals = t.keys[:last], t.vals[:last]
}

func (t *table[V]) buildIndex() {
	t.idx = make(map[string]int32, len(t.keys))
	for i, k := range t.keys {
		t.idx[k] = int32(i)
	}
}

// grow makes the table big; Redis never converts a live value back.
func (t *table[V]) grow() {
	t.big = true
	if t.idx == nil {
		t.buildIndex()
	}
}

// scan visits up to about count slots for a SCAN-style cursor and returns
// the next cursor (0 when done). Small, it visits everything at once, as
// Redis does for a listpack. Big, the cursor is the slot bound below
// which slots are still to visit, walked from the top down: slots only
// ever move downwards from the last slot (deletion) and new keys are
// appended above, so a key present for the whole scan is never skipped.
func (t *table[V]) scan(cursor uint64, count int, fn func(i int)) uint64 {
	n := len(t.keys)
	if !t.big {
		for i := range n {
			fn(i)
		}
		return 0
	}
	if count < 1 {
		count = 10
	}
	hi := n
	if cursor != 0 && cursor < uint64(n) {
		hi = int(cursor)
	}
	lo := max(hi-count, 0)
	for i := hi - 1; i >= lo; i-- {
		fn(i)
	}
	return uint64(lo)
}
