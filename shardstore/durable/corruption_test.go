package durable

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// damage rewrites (or with nil deletes) one raft log entry in place.
func damage(t *testing.T, fs vfs.FS, shard uint32, index uint64, corrupt bool) {
	t.Helper()
	db := rawDB(t, fs, memDir)
	defer db.Close()
	k := logKey(shard, index)
	v, c, err := db.Get(k)
	if err != nil {
		t.Fatalf("entry %d of shard %d: %v", index, shard, err)
	}
	bad := append([]byte(nil), v...)
	c.Close()
	if !corrupt {
		if err := db.Delete(k, pebble.Sync); err != nil {
			t.Fatal(err)
		}
		return
	}
	bad[len(bad)-1] ^= 0xff
	if err := db.Set(k, bad, pebble.Sync); err != nil {
		t.Fatal(err)
	}
}

func lastLogIndex(t *testing.T, fs vfs.FS, shard uint32) uint64 {
	t.Helper()
	db := rawDB(t, fs, memDir)
	defer db.Close()
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: logKey(shard, 0), UpperBound: shardKey(shard, suffixLog+"\xff")})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	if !it.Last() {
		t.Fatal("empty log")
	}
	idx, err := logKeyIndex(shard, it.Key())
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

// An undecodable last entry that was never applied is a torn tail: it is
// cut off with a warning and the store opens.
func TestTornTailTruncatedWithWarning(t *testing.T) {
	fs := vfs.NewCrashableMem()
	s := openStore(t, memDir, Options{FS: fs})
	mustSet(t, s, "a", "1", 0)
	mustSet(t, s, "b", "2", 0)
	idx := mustSet(t, s, "c", "3", 0)
	crashed := fs.CrashClone(vfs.CrashCloneCfg{}) // c is logged, not applied
	s.Close()
	if last := lastLogIndex(t, crashed, 0); last != idx {
		t.Fatalf("last log entry %d, want %d", last, idx)
	}
	damage(t, crashed, 0, idx, true)

	var logs syncBuffer
	s = openStore(t, memDir, Options{FS: crashed, Logger: testLogger(&logs)})
	defer s.Close()
	if !strings.Contains(logs.String(), "torn raft log tail truncated") || !strings.Contains(logs.String(), fmt.Sprintf("index=%d", idx)) {
		t.Fatalf("no torn-tail warning naming entry %d; log:\n%s", idx, logs.String())
	}
	if _, ok := mustGet(t, s, "c"); ok {
		t.Fatal("the torn entry was applied")
	}
	for k, want := range map[string]string{"a": "1", "b": "2"} {
		if v, ok := mustGet(t, s, k); !ok || v != want {
			t.Fatalf("Get(%s) = %q, %v after tail truncation", k, v, ok)
		}
	}
	mustSet(t, s, "c", "4", 0)
	if v, _ := mustGet(t, s, "c"); v != "4" {
		t.Fatalf("c = %q after rewrite", v)
	}
}

// Damage anywhere but an unapplied tail refuses to open, naming the shard
// and the entry.
func TestLogCorruptionRefusesOpen(t *testing.T) {
	for _, tc := range []struct {
		name    string
		corrupt bool // false: delete the entry (a gap)
		which   string
		want    string
	}{
		{"mid-log checksum", true, "mid", "raft log entry %d is corrupt"},
		{"mid-log gap", false, "mid", "raft log entry %d missing"},
		{"applied tail", true, "last", "last raft log entry %d is corrupt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := vfs.NewMem()
			s := openStore(t, memDir, Options{FS: fs, Shards: 2})
			// Write keys of shard 1 only, remembering their indexes.
			var idxs []uint64
			for i := 0; len(idxs) < 5; i++ {
				k := fmt.Sprintf("{k%d}", i)
				if s.ShardOf(slot.Of([]byte(k))) == 1 {
					idxs = append(idxs, mustSet(t, s, k, "v", 0))
				}
			}
			s.Close()
			target := idxs[2]
			if tc.which == "last" {
				target = lastLogIndex(t, fs, 1)
			}
			damage(t, fs, 1, target, tc.corrupt)

			_, err := Open(memDir, Options{FS: fs, Shards: 2, Logger: testLogger(nil)})
			if err == nil {
				t.Fatal("Open succeeded over a damaged log")
			}
			want := fmt.Sprintf(tc.want, target)
			if !strings.Contains(err.Error(), "shard 1") || !strings.Contains(err.Error(), want) {
				t.Fatalf("Open error %q does not name shard 1 and %q", err, want)
			}
		})
	}
}
