package durable

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// ApplyFunc turns one committed record into writes on the applied state. It
// runs on the driver goroutine, and again for the same record when the log is
// replayed after a restart, so it must be deterministic: the same record
// always produces the same writes (records carry absolute values and
// absolute expiry times, never "now"-relative ones).
type ApplyFunc func(rec []byte, w *Writer) error

// Writer receives the writes of one committed record. It is only valid
// during the ApplyFunc call.
type Writer struct {
	b     *pebble.Batch
	users *users    // the store's applied user table (acl.go); nil in tests
	keys  *[][]byte // keys written in this apply batch, for the read cache
	// ranged is set when the batch deleted whole slot ranges, which the
	// read cache cannot track key by key (nil: not tracked).
	ranged *bool
	buf    []byte
}

// Set stores key = value, expiring at expireAtMs (Unix ms; 0 = never).
func (w *Writer) Set(key, value []byte, expireAtMs int64) {
	w.buf = dataKey(w.buf[:0], slot.Of(key), key)
	// Batch.Set copies key and value; it only fails on a committed batch.
	_ = w.b.Set(w.buf, encodeValue(nil, value, expireAtMs), nil)
	*w.keys = append(*w.keys, key)
}

// Delete removes key (no-op when absent).
func (w *Writer) Delete(key []byte) {
	w.buf = dataKey(w.buf[:0], slot.Of(key), key)
	_ = w.b.Delete(w.buf, nil)
	*w.keys = append(*w.keys, key)
}

// DeleteSlots removes every key of the slots first..last (FLUSHALL of a
// loop's slots). It is one range deletion, whatever the number of keys.
func (w *Writer) DeleteSlots(first, last uint16) {
	lo, hi := slotSpan(first, last)
	_ = w.b.DeleteRange(lo, hi, nil)
	w.deleteCollSlots(first, last)
	if w.ranged != nil {
		*w.ranged = true
	}
}

// Record opcodes of the default record encoding (ApplyRecord).
const (
	opSet      = 'S'
	opDel      = 'D'
	opDelSlots = 'R'
)

// AppendSet appends a SET mutation to dst: set key = value with absolute
// expiry expireAtMs (Unix ms, 0 = none). Several mutations may be
// concatenated into one record; they are applied atomically, in order.
func AppendSet(dst, key, value []byte, expireAtMs int64) []byte {
	dst = append(dst, opSet)
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	dst = append(dst, key...)
	dst = binary.AppendVarint(dst, expireAtMs)
	dst = binary.AppendUvarint(dst, uint64(len(value)))
	return append(dst, value...)
}

// AppendDel appends a DEL mutation of one key to dst.
func AppendDel(dst, key []byte) []byte {
	dst = append(dst, opDel)
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	return append(dst, key...)
}

// AppendDeleteSlots appends a mutation deleting every key of the slots
// first..last (first <= last).
func AppendDeleteSlots(dst []byte, first, last uint16) []byte {
	return append(dst, opDelSlots, byte(first>>8), byte(first), byte(last>>8), byte(last))
}

var errShortRecord = errors.New("record truncated")

func readBytes(rec []byte) (b, rest []byte, err error) {
	n, k := binary.Uvarint(rec)
	if k <= 0 || uint64(len(rec)-k) < n {
		return nil, nil, errShortRecord
	}
	return rec[k : k+int(n)], rec[k+int(n):], nil
}

// ApplyRecord is the default ApplyFunc: it applies records built with
// AppendSet and AppendDel. A malformed record applies nothing at all.
func ApplyRecord(rec []byte, w *Writer) error {
	type mut struct {
		del         bool
		slots       bool // delete the slot range first..last
		users       bool // the user table value of generation gen (acl.go)
		gen         uint64
		first, last uint16
		key, value  []byte
		exp         int64
		coll        *collOp // a collection record (collection.go)
	}
	var muts []mut
	for len(rec) > 0 {
		op := rec[0]
		var m mut
		var err error
		switch op {
		case opSet:
			if m.key, rec, err = readBytes(rec[1:]); err != nil {
				return fmt.Errorf("record: SET key: %w", err)
			}
			var k int
			if m.exp, k = binary.Varint(rec); k <= 0 {
				return fmt.Errorf("record: SET expiry: %w", errShortRecord)
			}
			if m.value, rec, err = readBytes(rec[k:]); err != nil {
				return fmt.Errorf("record: SET value: %w", err)
			}
		case opDel:
			m.del = true
			if m.key, rec, err = readBytes(rec[1:]); err != nil {
				return fmt.Errorf("record: DEL key: %w", err)
			}
		case opDelSlots:
			if len(rec) < 5 {
				return fmt.Errorf("record: slot range: %w", errShortRecord)
			}
			m.slots = true
			m.first = uint16(rec[1])<<8 | uint16(rec[2])
			m.last = uint16(rec[3])<<8 | uint16(rec[4])
			if m.first > m.last || int(m.last) >= slot.Count {
				return fmt.Errorf("record: bad slot range %d..%d", m.first, m.last)
			}
			rec = rec[5:]
		case opUsers:
			m.users = true
			if m.gen, m.value, rec, err = decodeUsersOp(rec[1:]); err != nil {
				return err
			}
		case opCollPut, opCollDel, opCollDelRange:
			var c collOp
			if c, rec, err = parseCollOp(rec); err != nil {
				return err
			}
			m.coll = &c
		default:
			return fmt.Errorf("record: unknown opcode %#x", op)
		}
		muts = append(muts, m)
	}
	for _, m := range muts {
		if m.users {
			w.SetUsers(m.gen, m.value)
		} else if m.coll != nil {
			w.applyColl(*m.coll)
		} else if m.slots {
			w.DeleteSlots(m.first, m.last)
		} else if m.del {
			w.Delete(m.key)
		} else {
			w.Set(m.key, m.value, m.exp)
		}
	}
	return nil
}
