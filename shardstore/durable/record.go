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
	b    *pebble.Batch
	keys *[][]byte // keys written in this apply batch, for the read cache
	buf  []byte
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

// Record opcodes of the default record encoding (ApplyRecord).
const (
	opSet = 'S'
	opDel = 'D'
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
		del        bool
		key, value []byte
		exp        int64
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
		default:
			return fmt.Errorf("record: unknown opcode %#x", op)
		}
		muts = append(muts, m)
	}
	for _, m := range muts {
		if m.del {
			w.Delete(m.key)
		} else {
			w.Set(m.key, m.value, m.exp)
		}
	}
	return nil
}
