package durable

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// Collection records. Hashes, lists, sets and sorted sets are stored as
// many small records (package collection's layout: one metadata record
// plus one per element), which this store keeps opaque, keyed by the hash
// slot of the user key they belong to:
//
//	\x03 <slot:2> <record key>    record value
//
// so that a small change of a large collection writes only what changed,
// FLUSHALL of a loop's slots is still one range deletion per span, and a
// collection is read back by a range scan of one slot (ScanCollections).
// They carry no expiry of their own: a collection's expiry is in its
// metadata record, which its owner checks.
//
// A dropped collection's element records go in the same record as the
// drop, as a range deletion of its version's prefix (AppendCollDelRange):
// every replica applies the same deletion at the same log index, so they
// stay identical, and a replay re-applies it like any other write.

const collPrefix = byte(0x03)

// Record opcodes of collection records (ApplyRecord).
const (
	opCollPut      = 'P'
	opCollDel      = 'X'
	opCollDelRange = 'Y'
)

func collKey(dst []byte, sl uint16, rk []byte) []byte {
	dst = append(dst, collPrefix)
	dst = binary.BigEndian.AppendUint16(dst, sl)
	return append(dst, rk...)
}

// collSpan returns the collection record span [start, end) of the slots
// first..last.
func collSpan(first, last uint16) (start, end []byte) {
	start = binary.BigEndian.AppendUint16([]byte{collPrefix}, first)
	if last == 0xffff {
		return start, []byte{collPrefix + 1}
	}
	return start, binary.BigEndian.AppendUint16([]byte{collPrefix}, last+1)
}

// AppendCollPut appends a mutation storing collection record rk = value of
// a key in slot sl.
func AppendCollPut(dst []byte, sl uint16, rk, value []byte) []byte {
	dst = append(dst, opCollPut, byte(sl>>8), byte(sl))
	dst = binary.AppendUvarint(dst, uint64(len(rk)))
	dst = append(dst, rk...)
	dst = binary.AppendUvarint(dst, uint64(len(value)))
	return append(dst, value...)
}

// AppendCollDel appends a mutation deleting collection record rk of a key
// in slot sl.
func AppendCollDel(dst []byte, sl uint16, rk []byte) []byte {
	dst = append(dst, opCollDel, byte(sl>>8), byte(sl))
	dst = binary.AppendUvarint(dst, uint64(len(rk)))
	return append(dst, rk...)
}

// AppendCollDelRange appends a mutation deleting every collection record
// of slot sl whose record key is in [lo, hi) (a dropped version's
// elements: collection.Drop).
func AppendCollDelRange(dst []byte, sl uint16, lo, hi []byte) []byte {
	dst = append(dst, opCollDelRange, byte(sl>>8), byte(sl))
	dst = binary.AppendUvarint(dst, uint64(len(lo)))
	dst = append(dst, lo...)
	dst = binary.AppendUvarint(dst, uint64(len(hi)))
	return append(dst, hi...)
}

// collOp is one parsed collection mutation: a put of rk = v, a delete of
// rk, or with ranged a delete of [rk, v).
type collOp struct {
	sl             uint16
	rk, v          []byte
	delete, ranged bool
}

// parseCollOp parses the collection mutation at the start of rec.
func parseCollOp(rec []byte) (op collOp, rest []byte, err error) {
	if len(rec) < 3 {
		return op, nil, fmt.Errorf("record: collection slot: %w", errShortRecord)
	}
	op.delete = rec[0] == opCollDel || rec[0] == opCollDelRange
	op.ranged = rec[0] == opCollDelRange
	op.sl = uint16(rec[1])<<8 | uint16(rec[2])
	if int(op.sl) >= slot.Count {
		return op, nil, fmt.Errorf("record: collection slot %d out of range", op.sl)
	}
	if op.rk, rest, err = readBytes(rec[3:]); err != nil {
		return op, nil, fmt.Errorf("record: collection key: %w", err)
	}
	if !op.delete || op.ranged {
		if op.v, rest, err = readBytes(rest); err != nil {
			return op, nil, fmt.Errorf("record: collection value: %w", err)
		}
	}
	if op.ranged && bytes.Compare(op.rk, op.v) >= 0 {
		return op, nil, fmt.Errorf("record: collection range %q..%q is empty", op.rk, op.v)
	}
	return op, rest, nil
}

// applyColl writes op.
func (w *Writer) applyColl(op collOp) {
	w.buf = collKey(w.buf[:0], op.sl, op.rk)
	// Batch.Set and Delete copy; they fail only on a committed batch.
	if op.ranged {
		_ = w.b.DeleteRange(w.buf, collKey(nil, op.sl, op.v), nil)
	} else if op.delete {
		_ = w.b.Delete(w.buf, nil)
	} else {
		_ = w.b.Set(w.buf, op.v, nil)
	}
}

// deleteCollSlots removes every collection record of slots first..last.
func (w *Writer) deleteCollSlots(first, last uint16) {
	lo, hi := collSpan(first, last)
	_ = w.b.DeleteRange(lo, hi, nil)
}

// ScanCollections calls fn, in slot then key order, for every collection
// record of the slots first..last whose record key is in [lo, hi) (hi nil:
// no upper bound), from a consistent point-in-time view. rk and value are
// only valid during the call. A restart reads every metadata record with
// it, then each collection's elements (a range of one slot).
func (s *Store) ScanCollections(first, last uint16, lo, hi []byte, fn func(sl uint16, rk, value []byte) error) (err error) {
	defer recoverCorrupt(&err, "scan collections of slots %d..%d", first, last)
	if s.closed.Load() {
		return ErrClosed
	}
	if first > last || int(last) >= slot.Count {
		return fmt.Errorf("durable: scan collections: bad slot range %d..%d", first, last)
	}
	start, end := collSpan(first, last)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: start, UpperBound: end})
	if err != nil {
		return fmt.Errorf("durable: scan collections: %w", err)
	}
	defer it.Close()
	var seek []byte
	for sl := int(first); sl <= int(last); sl++ {
		seek = collKey(seek[:0], uint16(sl), lo)
		if !it.SeekGE(seek) {
			break
		}
		// Jump over empty slots: the iterator says which slot is next.
		if ksl := int(binary.BigEndian.Uint16(it.Key()[1:])); ksl > sl {
			sl = ksl - 1
			continue
		}
		for ; it.Valid(); it.Next() {
			k := it.Key()
			if int(binary.BigEndian.Uint16(k[1:])) != sl || hi != nil && bytes.Compare(k[3:], hi) >= 0 {
				break
			}
			v, err := it.ValueAndErr()
			if err != nil {
				return fmt.Errorf("durable: scan collections at %x: %w", k, err)
			}
			if err := fn(uint16(sl), k[3:], v); err != nil {
				return err
			}
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("durable: scan collections: %w", err)
	}
	return nil
}
