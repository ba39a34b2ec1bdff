package durable

import (
	"bytes"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// FuzzApplyRecord: any byte string either applies completely or is
// rejected without writing anything; well-formed records round-trip.
func FuzzApplyRecord(f *testing.F) {
	f.Add(AppendDel(AppendSet(nil, []byte("k"), []byte("v"), 42), []byte("k2")), []byte("key"), []byte("val"), int64(-1))
	f.Add([]byte("S\x05ab"), []byte(""), []byte(""), int64(0))
	f.Fuzz(func(t *testing.T, rec, key, value []byte, exp int64) {
		var keys [][]byte
		db, err := pebble.Open("", &pebble.Options{FS: vfs.NewMem()})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		b := db.NewBatch()
		defer b.Close()
		if err := ApplyRecord(rec, &Writer{b: b, keys: &keys}); err != nil && b.Count() != 0 {
			t.Fatalf("rejected record %x still wrote %d keys", rec, b.Count())
		}

		good := AppendSet(nil, key, value, exp)
		b2 := db.NewBatch()
		defer b2.Close()
		keys = nil
		if err := ApplyRecord(good, &Writer{b: b2, keys: &keys}); err != nil {
			t.Fatalf("well-formed record rejected: %v", err)
		}
		if err := b2.Commit(pebble.NoSync); err != nil {
			t.Fatal(err)
		}
		v, c, err := db.Get(dataKey(nil, slot.Of(key), key))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		gotV, gotExp, err := decodeValue(v)
		if err != nil || !bytes.Equal(gotV, value) || gotExp != exp {
			t.Fatalf("round trip: %q exp %d err %v, want %q exp %d", gotV, gotExp, err, value, exp)
		}
	})
}

func FuzzDecodeEntry(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, v []byte) {
		_, _ = decodeEntry(v) // must not panic
	})
}
