package collection

import (
	"math/rand/v2"
	"slices"
	"strconv"
)

// Set is a Redis set. While every member is a canonical 64-bit integer
// and there are at most IntsetEntries, it is an "intset" (a sorted
// []int64, members iterated in ascending order); past that a "hashtable"
// for good. Redis 7.0 has no listpack sets (that came in 7.2).
type Set struct {
	ints  []int64 // sorted, while intset
	t     table[struct{}]
	isInt bool
}

// NewSet returns an empty set; it stays an intset while its members are
// integers (so a first non-integer member makes a hashtable, as
// setTypeCreate does).
func NewSet() *Set { return &Set{isInt: true} }

// ParseInt parses s as Redis's string2ll does: a canonical int64 (no "+",
// no leading zeros, no "-0", no spaces).
func ParseInt(s []byte) (int64, bool) {
	if len(s) == 0 || len(s) > 20 {
		return 0, false
	}
	v, err := strconv.ParseInt(string(s), 10, 64)
	if err != nil {
		return 0, false
	}
	var buf [20]byte
	return v, string(strconv.AppendInt(buf[:0], v, 10)) == string(s)
}

// Len returns the number of members.
func (s *Set) Len() int {
	if s.isInt {
		return len(s.ints)
	}
	return s.t.len()
}

// Encoding returns OBJECT ENCODING's name: "intset" or "hashtable".
func (s *Set) Encoding() string {
	if s.isInt {
		return "intset"
	}
	return "hashtable"
}

func (s *Set) toTable() {
	if !s.isInt {
		return
	}
	s.isInt = false
	s.t.keys = make([]string, 0, len(s.ints))
	s.t.vals = make([]struct{}, 0, len(s.ints))
	s.t.grow()
	for _, v := range s.ints {
		s.t.add(strconv.FormatInt(v, 10), struct{}{})
	}
	s.ints = nil
}

// Add adds m and reports whether it is new.
func (s *Set) Add(m []byte) bool {
	if s.isInt {
		v, ok := ParseInt(m)
		if ok {
			i, found := slices.BinarySearch(s.ints, v)
			if found {
				return false
			}
			s.ints = slices.Insert(s.ints, i, v)
			if len(s.ints) > IntsetEntries {
				s.toTable()
			}
			return true
		}
		s.toTable()
	}
	if s.t.find(m) >= 0 {
		return false
	}
	s.t.add(string(m), struct{}{})
	return true
}

// Has reports whether m is a member (SISMEMBER).
func (s *Set) Has(m []byte) bool {
	if s.isInt {
		v, ok := ParseInt(m)
		if !ok {
			return false
		}
		_, found := slices.BinarySearch(s.ints, v)
		return found
	}
	return s.t.find(m) >= 0
}

// Remove deletes m and reports whether it was there.
func (s *Set) Remove(m []byte) bool {
	if s.isInt {
		v, ok := ParseInt(m)
		if !ok {
			return false
		}
		i, found := slices.BinarySearch(s.ints, v)
		if found {
			s.ints = slices.Delete(s.ints, i, i+1)
		}
		return found
	}
	i := s.t.find(m)
	if i < 0 {
		return false
	}
	s.t.removeAt(i)
	return true
}

// at returns the member in slot i.
func (s *Set) at(i int) string {
	if s.isInt {
		return strconv.FormatInt(s.ints[i], 10)
	}
	return s.t.keys[i]
}

// Members returns the members in the set's order (SMEMBERS').
func (s *Set) Members() []string {
	out := make([]string, s.Len())
	for i := range out {
		out[i] = s.at(i)
	}
	return out
}

// Random is SRANDMEMBER with a count: count ≥ 0 gives min(count, Len())
// distinct members (all, in order, when count ≥ Len()); count < 0 gives
// -count members that may repeat.
func (s *Set) Random(rng *rand.Rand, count int) []string {
	out := make([]string, 0, min(abs(count), s.Len()+1))
	randomSlots(rng, s.Len(), count, false, func(i int) { out = append(out, s.at(i)) })
	return out
}

// Pop removes and returns up to count random members (SPOP).
func (s *Set) Pop(rng *rand.Rand, count int) []string {
	if count <= 0 {
		return nil
	}
	if count >= s.Len() {
		out := s.Members()
		*s = Set{isInt: s.isInt}
		return out
	}
	out := s.Random(rng, count)
	for _, m := range out {
		s.Remove([]byte(m))
	}
	return out
}

// Scan is SSCAN without MATCH; see Hash.Scan. An intset is returned whole.
func (s *Set) Scan(cursor uint64, count int, fn func(member string)) uint64 {
	if s.isInt {
		for i := range s.ints {
			fn(s.at(i))
		}
		return 0
	}
	return s.t.scan(cursor, count, func(i int) { fn(s.t.keys[i]) })
}

// MemoryUsage estimates the bytes the set holds. An estimate.
func (s *Set) MemoryUsage() int {
	if s.isInt {
		return 48 + cap(s.ints)*8
	}
	n := 48 + cap(s.t.keys)*16 + s.t.len()*mapSlotBytes
	for _, k := range s.t.keys {
		n += len(k)
	}
	return n
}

// bySize orders sets (a nil set is an empty, missing key) by size, stably,
// as SINTER's qsort on size does.
func bySize(sets []*Set) []*Set {
	sorted := slices.Clone(sets)
	slices.SortStableFunc(sorted, func(a, b *Set) int { return setLen(a) - setLen(b) })
	return sorted
}

func setLen(s *Set) int {
	if s == nil {
		return 0
	}
	return s.Len()
}

// Inter returns the members common to all sets (SINTER), in the order of
// the smallest set, as Redis replies. limit > 0 stops after that many
// (SINTERCARD's LIMIT).
func Inter(sets []*Set, limit int) []string {
	if len(sets) == 0 {
		return nil
	}
	sorted := bySize(sets)
	if setLen(sorted[0]) == 0 {
		return nil
	}
	var out []string
	for _, m := range sorted[0].Members() {
		in := true
		for _, o := range sorted[1:] {
			if !o.Has([]byte(m)) {
				in = false
				break
			}
		}
		if in {
			out = append(out, m)
			if limit > 0 && len(out) == limit {
				break
			}
		}
	}
	return out
}

// Union returns a new set of the members of any set (SUNION); nil sets
// count as empty.
func Union(sets []*Set) *Set {
	dst := NewSet()
	for _, s := range sets {
		for i := range setLen(s) {
			dst.Add([]byte(s.at(i)))
		}
	}
	return dst
}

// Diff returns a new set of the first set's members that no other set
// holds (SDIFF).
func Diff(sets []*Set) *Set {
	dst := NewSet()
	if len(sets) == 0 {
		return dst
	}
	for i := range setLen(sets[0]) {
		m := []byte(sets[0].at(i))
		in := false
		for _, o := range sets[1:] {
			if o != nil && o.Has(m) {
				in = true
				break
			}
		}
		if !in {
			dst.Add(m)
		}
	}
	return dst
}

// FromMembers builds a set by adding ms in order (the STORE forms).
func FromMembers(ms []string) *Set {
	dst := NewSet()
	for _, m := range ms {
		dst.Add([]byte(m))
	}
	return dst
}
