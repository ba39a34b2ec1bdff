package collection

import (
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"math"
)

// Type is a collection's type in its metadata record.
type Type uint8

const (
	TypeHash Type = iota + 1
	TypeList
	TypeSet
	TypeZSet
)

// Record prefixes: the first byte of every key this package lays out.
const (
	prefixMeta  = 'm' // 'm' key → metadata
	prefixElem  = 'e' // 'e' keylen(4) key version(8) sub → element value
	prefixScore = 's' // 's' keylen(4) key version(8) score(8) member → ""
)

const (
	// metaFormat 2 marks a hash whose element values start with the
	// field's insertion sequence (Meta.Ordered); 1 is every other
	// collection, and hashes written before sequences were stored.
	metaFormat        = 1
	metaFormatOrdered = 2
	metaLen           = 1 + 1 + 8 + 8 + 8 // format, type, version, expiry, size
	listExtra         = 8 + 8             // head, tail
	// ListStart is where a new list's head and tail counters begin, so that
	// it can grow 2^63 elements either way.
	ListStart = 1 << 63
)

// ErrCorrupt wraps every decoding failure.
var ErrCorrupt = errors.New("collection: corrupt record")

// Meta is a collection's metadata record. Version names one life of the
// key: element records carry it, so dropping the collection is deleting
// this record alone, and records of other versions are garbage. Versions
// must grow for a key (e.g. the raft index of the write creating it).
type Meta struct {
	Type     Type
	Version  uint64
	ExpireMs int64  // unix ms, 0 for none
	Size     uint64 // elements
	Head     uint64 // lists: sequence number of element 0
	Tail     uint64 // lists: one past the last element's
	// Ordered is set for hashes whose element values start with the
	// field's insertion sequence (8 bytes), which loading sorts by: a
	// listpack hash's order survives a reload. Every new hash is.
	Ordered bool
}

// NewMeta returns the metadata of a new, empty collection.
func NewMeta(t Type, version uint64) Meta {
	m := Meta{Type: t, Version: version, Ordered: t == TypeHash}
	if t == TypeList {
		m.Head, m.Tail = ListStart, ListStart
	}
	return m
}

// Record is one write: a put of Key → Value, or a delete of Key, or with
// Range set a delete of every key in [Key, Value) (a dropped version's
// elements).
type Record struct {
	Key, Value    []byte
	Delete, Range bool
}

// MetaKey returns the key of user key's metadata record.
func MetaKey(key []byte) []byte { return append([]byte{prefixMeta}, key...) }

// Encode returns the metadata record's value.
func (m Meta) Encode() []byte {
	b := make([]byte, 0, metaLen+listExtra)
	format := byte(metaFormat)
	if m.Ordered {
		format = metaFormatOrdered
	}
	b = append(b, format, byte(m.Type))
	b = binary.BigEndian.AppendUint64(b, m.Version)
	b = binary.BigEndian.AppendUint64(b, uint64(m.ExpireMs))
	b = binary.BigEndian.AppendUint64(b, m.Size)
	if m.Type == TypeList {
		b = binary.BigEndian.AppendUint64(b, m.Head)
		b = binary.BigEndian.AppendUint64(b, m.Tail)
	}
	return b
}

// DecodeMeta parses a metadata record's value.
func DecodeMeta(b []byte) (Meta, error) {
	if len(b) < metaLen || b[0] != metaFormat && !(b[0] == metaFormatOrdered && Type(b[1]) == TypeHash) {
		return Meta{}, fmt.Errorf("%w: metadata of %d bytes", ErrCorrupt, len(b))
	}
	m := Meta{
		Type:     Type(b[1]),
		Version:  binary.BigEndian.Uint64(b[2:]),
		ExpireMs: int64(binary.BigEndian.Uint64(b[10:])),
		Size:     binary.BigEndian.Uint64(b[18:]),
		Ordered:  b[0] == metaFormatOrdered,
	}
	want := metaLen
	switch m.Type {
	case TypeHash, TypeSet, TypeZSet:
	case TypeList:
		want += listExtra
		if len(b) == want {
			m.Head = binary.BigEndian.Uint64(b[metaLen:])
			m.Tail = binary.BigEndian.Uint64(b[metaLen+8:])
			if m.Tail-m.Head != m.Size || m.Tail < m.Head {
				return Meta{}, fmt.Errorf("%w: list size %d, head %d, tail %d", ErrCorrupt, m.Size, m.Head, m.Tail)
			}
		}
	default:
		return Meta{}, fmt.Errorf("%w: type %d", ErrCorrupt, b[1])
	}
	if len(b) != want {
		return Meta{}, fmt.Errorf("%w: metadata of type %d has %d bytes", ErrCorrupt, m.Type, len(b))
	}
	return m, nil
}

// ElemPrefix returns the prefix of every element record of one version of
// key; a cold collection is read back by a prefix scan of it.
func ElemPrefix(key []byte, version uint64) []byte {
	return versioned(prefixElem, key, version, 0)
}

// ScorePrefix is ElemPrefix for a sorted set's score index.
func ScorePrefix(key []byte, version uint64) []byte {
	return versioned(prefixScore, key, version, 0)
}

// PrefixEnd returns the least key above every key with prefix p (the
// exclusive upper bound of a prefix scan), or nil if there is none.
func PrefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i]++; end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

func versioned(prefix byte, key []byte, version uint64, extra int) []byte {
	b := make([]byte, 0, 1+4+len(key)+8+extra)
	b = append(b, prefix)
	b = binary.BigEndian.AppendUint32(b, uint32(len(key)))
	b = append(b, key...)
	return binary.BigEndian.AppendUint64(b, version)
}

// ElemKey returns the key of element sub (a hash field, set or sorted-set
// member, or a list's 8-byte sequence number) of key's version.
func ElemKey(key []byte, version uint64, sub []byte) []byte {
	return append(versioned(prefixElem, key, version, len(sub)), sub...)
}

// DecodeElemKey splits an element record's key.
func DecodeElemKey(b []byte) (key []byte, version uint64, sub []byte, err error) {
	return decodeVersioned(prefixElem, b)
}

func decodeVersioned(prefix byte, b []byte) (key []byte, version uint64, rest []byte, err error) {
	if len(b) < 1+4+8 || b[0] != prefix {
		return nil, 0, nil, fmt.Errorf("%w: %d-byte key with prefix %q", ErrCorrupt, len(b), prefix)
	}
	n := binary.BigEndian.Uint32(b[1:])
	if uint64(n) > uint64(len(b)-13) {
		return nil, 0, nil, fmt.Errorf("%w: key length %d in %d bytes", ErrCorrupt, n, len(b))
	}
	key = b[5 : 5+n]
	version = binary.BigEndian.Uint64(b[5+n:])
	return key, version, b[13+n:], nil
}

// ListElemKey returns the key of the list element with sequence seq.
func ListElemKey(key []byte, version, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(versioned(prefixElem, key, version, 8), seq)
}

// DecodeListSeq parses a list element key's sub part.
func DecodeListSeq(sub []byte) (uint64, error) {
	if len(sub) != 8 {
		return 0, fmt.Errorf("%w: list sequence of %d bytes", ErrCorrupt, len(sub))
	}
	return binary.BigEndian.Uint64(sub), nil
}

// ScoreBits maps a score to 8 bytes whose byte order is the score order
// (sign bit flipped for positives, all bits for negatives).
func ScoreBits(f float64) uint64 {
	u := math.Float64bits(f)
	if u>>63 == 1 {
		return ^u
	}
	return u | 1<<63
}

// ScoreFromBits inverts ScoreBits.
func ScoreFromBits(u uint64) float64 {
	if u>>63 == 1 {
		return math.Float64frombits(u &^ (1 << 63))
	}
	return math.Float64frombits(^u)
}

// ScoreKey returns the score-index key of member at score.
func ScoreKey(key []byte, version uint64, score float64, member []byte) []byte {
	b := binary.BigEndian.AppendUint64(versioned(prefixScore, key, version, 8+len(member)), ScoreBits(score))
	return append(b, member...)
}

// DecodeScoreKey splits a score-index key.
func DecodeScoreKey(b []byte) (key []byte, version uint64, score float64, member []byte, err error) {
	key, version, rest, err := decodeVersioned(prefixScore, b)
	if err != nil {
		return nil, 0, 0, nil, err
	}
	if len(rest) < 8 {
		return nil, 0, 0, nil, fmt.Errorf("%w: score index key without a score", ErrCorrupt)
	}
	score = ScoreFromBits(binary.BigEndian.Uint64(rest))
	if math.IsNaN(score) {
		return nil, 0, 0, nil, fmt.Errorf("%w: NaN score", ErrCorrupt)
	}
	return key, version, score, rest[8:], nil
}

// EncodeScore is a sorted-set member record's value.
func EncodeScore(f float64) []byte { return binary.BigEndian.AppendUint64(nil, math.Float64bits(f)) }

// DecodeScore parses a member record's value.
func DecodeScore(b []byte) (float64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("%w: score of %d bytes", ErrCorrupt, len(b))
	}
	f := math.Float64frombits(binary.BigEndian.Uint64(b))
	if math.IsNaN(f) {
		return 0, fmt.Errorf("%w: NaN score", ErrCorrupt)
	}
	return f, nil
}

// IsGarbage reports whether an element or score record of version belongs
// to no live collection: its metadata is gone (found false) or names
// another version. Drop deletes a version's records; these are only left
// by collections that expired, or were dropped before it did.
func IsGarbage(version uint64, m Meta, found bool) bool {
	return !found || m.Version != version
}

// Records is a collection's elements read back by a prefix scan, in key
// order: element key and value.
type Records = iter.Seq2[[]byte, []byte]
