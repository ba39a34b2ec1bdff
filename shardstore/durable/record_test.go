package durable

import (
	"bytes"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/dorivo/dorivo/shardstore/slot"
	pb "go.etcd.io/raft/v3/raftpb"
)

// FuzzApplyRecord: any byte string either applies completely or is
// rejected without writing anything; well-formed records round-trip.
func FuzzApplyRecord(f *testing.F) {
	f.Add(AppendDel(AppendSet(nil, []byte("k"), []byte("v"), 42), []byte("k2")), []byte("key"), []byte("val"), int64(-1))
	f.Add([]byte("S\x05ab"), []byte(""), []byte(""), int64(0))
	f.Add(AppendUsers(AppendSet(nil, []byte("k"), nil, 0), 7, []byte("user default on nopass ~* &* +@all\n")), []byte("k"), []byte("v"), int64(0))
	f.Add(AppendCollDel(AppendCollPut(nil, 7, []byte("mk"), []byte("meta")), 7, []byte("ek")), []byte("k"), []byte("v"), int64(0))
	f.Add([]byte("P\xff\xff\x01m"), []byte("k"), []byte("v"), int64(0))
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

// FuzzDecodeBlocks: any payload decodes or fails without panicking, and
// what decodes survives a round trip (re-encoded, it decodes to blocks that
// encode the same; overlong varints make the first encoding differ).
func FuzzDecodeBlocks(f *testing.F) {
	f.Add(appendBlock(nil, 3, &pb.HardState{Term: new(uint64(7)), Vote: new(uint64(1)), Commit: new(uint64(12))},
		[]*pb.Entry{{Index: new(uint64(11)), Term: new(uint64(7)), Data: []byte("x")}, {Index: new(uint64(12)), Term: new(uint64(7))}}))
	f.Add(appendBlock(appendBlock(nil, 0, nil, nil), 1, nil, []*pb.Entry{{Index: new(uint64(1)), Term: new(uint64(1)), Type: pb.EntryConfChange.Enum()}}))
	f.Fuzz(func(t *testing.T, p []byte) {
		blocks, err := decodeBlocks(p)
		if err != nil {
			return
		}
		encode := func(blocks []logBlock) []byte {
			var out []byte
			for _, b := range blocks {
				out = appendBlock(out, b.shard, b.hs, b.ents)
			}
			return out
		}
		again := encode(blocks)
		blocks2, err := decodeBlocks(again)
		if err != nil {
			t.Fatalf("%x decoded, its re-encoding %x does not: %v", p, again, err)
		}
		if twice := encode(blocks2); !bytes.Equal(twice, again) {
			t.Fatalf("%x: re-encodings differ: %x, %x", p, again, twice)
		}
	})
}

// A slot-range deletion removes exactly the keys of its slots, and a value
// cached before it is not served after it.
func TestDeleteSlotsRecord(t *testing.T) {
	s := openStore(t, memDir, Options{FS: vfs.NewMem(), CacheBytes: 1 << 20})
	defer s.Close()
	in, out := "{a}x", "{b}y" // slots differ
	mustSet(t, s, in, "1", 0)
	mustSet(t, s, out, "2", 0)
	if _, ok := mustGet(t, s, in); !ok { // fills the cache
		t.Fatal("key missing before the deletion")
	}
	sl := slot.Of([]byte(in))
	r := wait(t, proposeAsync(s, []byte(in), AppendDeleteSlots(nil, sl, sl)))
	if r.err != nil {
		t.Fatal(r.err)
	}
	if v, ok := mustGet(t, s, in); ok {
		t.Fatalf("key of a deleted slot still reads %q", v)
	}
	if v, ok := mustGet(t, s, out); !ok || v != "2" {
		t.Fatalf("key of another slot: %q, %v", v, ok)
	}
	if err := ApplyRecord(AppendDeleteSlots(nil, 5, 4), &Writer{}); err == nil {
		t.Fatal("reversed slot range accepted")
	}
}
