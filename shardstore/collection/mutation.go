package collection

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
)

// The functions below turn one change of a collection into the records to
// write: the changed elements, plus the metadata when its size or list
// counters moved (deleted when the collection ends empty, as Redis deletes
// an empty key). They update *m to match.

// metaRecord returns the record that stores m, or deletes it when empty.
func metaRecord(key []byte, m *Meta) Record {
	if m.Size == 0 {
		return Record{Key: MetaKey(key), Delete: true}
	}
	return Record{Key: MetaKey(key), Value: m.Encode()}
}

// resize adds delta to the size and returns the metadata record.
func resize(key []byte, m *Meta, delta int) Record {
	m.Size = uint64(int64(m.Size) + int64(delta))
	return metaRecord(key, m)
}

// Drop deletes a collection in O(1) records, whatever its size: its
// metadata record, and its element records (and a sorted set's score
// index) as one range deletion of its version's prefix each. They are in
// the same write as the drop, so every replica applying it deletes the
// same records, and no record of a dropped version is left behind.
func Drop(key []byte, m *Meta) []Record {
	rs := []Record{{Key: MetaKey(key), Delete: true}, rangeDel(ElemPrefix(key, m.Version))}
	if m.Type == TypeZSet {
		rs = append(rs, rangeDel(ScorePrefix(key, m.Version)))
	}
	*m = Meta{}
	return rs
}

// rangeDel deletes every record with prefix p.
func rangeDel(p []byte) Record { return Record{Key: p, Value: PrefixEnd(p), Delete: true, Range: true} }

// HashSet is HSET of field in h, done: created tells whether the field is
// new. The record holds the field's value and, for an ordered hash, its
// insertion sequence before it.
func HashSet(key []byte, m *Meta, h *Hash, field []byte, created bool) []Record {
	i := h.t.find(field)
	v := h.t.vals[i]
	var val []byte
	if m.Ordered {
		val = binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(v.v)), v.seq)
	}
	val = append(val, v.v...)
	if val == nil {
		val = []byte{}
	}
	rs := []Record{{Key: ElemKey(key, m.Version, field), Value: val}}
	if created {
		rs = append(rs, resize(key, m, 1))
	}
	return rs
}

// HashDel is HDEL of a field that was there.
func HashDel(key []byte, m *Meta, field []byte) []Record {
	return []Record{{Key: ElemKey(key, m.Version, field), Delete: true}, resize(key, m, -1)}
}

// SetAdd is SADD of a member that is new.
func SetAdd(key []byte, m *Meta, member []byte) []Record {
	return []Record{{Key: ElemKey(key, m.Version, member), Value: []byte{}}, resize(key, m, 1)}
}

// SetRem is SREM of a member that was there.
func SetRem(key []byte, m *Meta, member []byte) []Record {
	return []Record{{Key: ElemKey(key, m.Version, member), Delete: true}, resize(key, m, -1)}
}

// ZSetPut stores member at score; had and old give its previous score.
func ZSetPut(key []byte, m *Meta, member []byte, had bool, old, score float64) []Record {
	var rs []Record
	if had {
		if old == score {
			return nil
		}
		rs = append(rs, Record{Key: ScoreKey(key, m.Version, old, member), Delete: true})
	}
	rs = append(rs,
		Record{Key: ElemKey(key, m.Version, member), Value: EncodeScore(score)},
		Record{Key: ScoreKey(key, m.Version, score, member), Value: []byte{}})
	if !had {
		rs = append(rs, resize(key, m, 1))
	}
	return rs
}

// ZSetRem removes member, which had score.
func ZSetRem(key []byte, m *Meta, member []byte, score float64) []Record {
	return []Record{
		{Key: ElemKey(key, m.Version, member), Delete: true},
		{Key: ScoreKey(key, m.Version, score, member), Delete: true},
		resize(key, m, -1),
	}
}

// ListPush is LPUSH (left) or RPUSH of vals, in argument order.
func ListPush(key []byte, m *Meta, left bool, vals [][]byte) []Record {
	rs := make([]Record, 0, len(vals)+1)
	for _, v := range vals {
		var seq uint64
		if left {
			m.Head--
			seq = m.Head
		} else {
			seq = m.Tail
			m.Tail++
		}
		rs = append(rs, Record{Key: ListElemKey(key, m.Version, seq), Value: bytes.Clone(v)})
	}
	m.Size = m.Tail - m.Head
	return append(rs, metaRecord(key, m))
}

// ListPop is LPOP (left) or RPOP of n elements that are there (also LTRIM
// as a pop from each end).
func ListPop(key []byte, m *Meta, left bool, n int) []Record {
	rs := make([]Record, 0, n+1)
	for range min(uint64(n), m.Size) {
		var seq uint64
		if left {
			seq = m.Head
			m.Head++
		} else {
			m.Tail--
			seq = m.Tail
		}
		rs = append(rs, Record{Key: ListElemKey(key, m.Version, seq), Delete: true})
	}
	m.Size = m.Tail - m.Head
	return append(rs, metaRecord(key, m))
}

// ListSet is LSET of element i (0-based from the head, in range).
func ListSet(key []byte, m *Meta, i int, v []byte) []Record {
	return []Record{{Key: ListElemKey(key, m.Version, m.Head+uint64(i)), Value: bytes.Clone(v)}}
}

// ListRewrite stores a change in the middle of a list (LINSERT, LREM):
// tail holds the list's elements from index from on, after the change;
// the elements before from are untouched and not written.
func ListRewrite(key []byte, m *Meta, from int, tail []string) []Record {
	rs := make([]Record, 0, len(tail)+2)
	for j, v := range tail {
		rs = append(rs, Record{Key: ListElemKey(key, m.Version, m.Head+uint64(from+j)), Value: []byte(v)})
	}
	newTail := m.Head + uint64(from+len(tail))
	for seq := newTail; seq < m.Tail; seq++ {
		rs = append(rs, Record{Key: ListElemKey(key, m.Version, seq), Delete: true})
	}
	m.Tail = newTail
	m.Size = m.Tail - m.Head
	return append(rs, metaRecord(key, m))
}

// checkElem verifies that an element key belongs to key's version.
func checkElem(key []byte, m Meta, k []byte) ([]byte, error) {
	ek, v, sub, err := DecodeElemKey(k)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(ek, key) || v != m.Version {
		return nil, fmt.Errorf("%w: element of %q version %d read for %q version %d", ErrCorrupt, ek, v, key, m.Version)
	}
	return sub, nil
}

// loaded checks the element count against the metadata.
func loaded(key []byte, m Meta, n int) error {
	if uint64(n) != m.Size {
		return fmt.Errorf("%w: %q has %d elements, metadata says %d", ErrCorrupt, key, n, m.Size)
	}
	return nil
}

// LoadHash rebuilds a cold hash from its element records: in insertion
// order for an ordered hash (its records are in field order), in field
// order for one from before.
func LoadHash(key []byte, m Meta, recs Records) (*Hash, error) {
	h := NewHash()
	if !m.Ordered {
		for k, v := range recs {
			field, err := checkElem(key, m, k)
			if err != nil {
				return nil, err
			}
			h.Set(field, v)
		}
		return h, loaded(key, m, h.Len())
	}
	type rec struct {
		field, v []byte
		seq      uint64
	}
	var all []rec
	for k, v := range recs {
		field, err := checkElem(key, m, k)
		if err != nil {
			return nil, err
		}
		if len(v) < 8 {
			return nil, fmt.Errorf("%w: field %q of %q without its sequence", ErrCorrupt, field, key)
		}
		all = append(all, rec{field, v[8:], binary.BigEndian.Uint64(v)})
	}
	slices.SortFunc(all, func(a, b rec) int { return cmp.Compare(a.seq, b.seq) })
	for _, r := range all {
		h.load(r.field, r.v, r.seq)
	}
	return h, loaded(key, m, h.Len())
}

// LoadSet rebuilds a cold set from its element records.
func LoadSet(key []byte, m Meta, recs Records) (*Set, error) {
	s := NewSet()
	for k := range recs {
		member, err := checkElem(key, m, k)
		if err != nil {
			return nil, err
		}
		s.Add(member)
	}
	return s, loaded(key, m, s.Len())
}

// LoadZSet rebuilds a cold sorted set from its member records (the score
// index is not needed).
func LoadZSet(key []byte, m Meta, recs Records) (*ZSet, error) {
	z := NewZSet()
	for k, v := range recs {
		member, err := checkElem(key, m, k)
		if err != nil {
			return nil, err
		}
		score, err := DecodeScore(v)
		if err != nil {
			return nil, fmt.Errorf("member %q of %q: %w", member, key, err)
		}
		z.Add(member, score, ZAddFlags{})
	}
	return z, loaded(key, m, z.Len())
}

// LoadList rebuilds a cold list from its element records, which a prefix
// scan returns in sequence order.
func LoadList(key []byte, m Meta, recs Records) (*List, error) {
	l := NewList()
	next := m.Head
	for k, v := range recs {
		sub, err := checkElem(key, m, k)
		if err != nil {
			return nil, err
		}
		seq, err := DecodeListSeq(sub)
		if err != nil {
			return nil, err
		}
		if seq != next || seq >= m.Tail {
			return nil, fmt.Errorf("%w: %q element %d where %d was due", ErrCorrupt, key, seq, next)
		}
		next++
		l.PushRight(v)
	}
	return l, loaded(key, m, l.Len())
}
