package durable

import (
	"fmt"
	"github.com/dorivo/dorivo/internal/testenv"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// A half-written record after the last synced one (the torn tail a crash
// in the middle of a write leaves) is cut off silently: Open succeeds, says
// so in a warning naming the file and offset, counts it, and every
// acknowledged write is there.
func TestTornTailTruncatedAndCounted(t *testing.T) {
	fs := vfs.NewCrashableMem()
	s := openStore(t, memDir, Options{FS: fs})
	mustSet(t, s, "a", "1", 0)
	mustSet(t, s, "b", "2", 0)
	mustSet(t, s, "c", "3", 0)
	crashed := fs.CrashClone(vfs.CrashCloneCfg{})
	s.Close()

	recs := readLogRecords(t, crashed, memDir)
	last := recs[len(recs)-1]
	// A record with the next seq whose payload never fully reached the disk.
	torn := appendRecord(nil, 1, last.seq+1, AppendSet(nil, []byte("d"), []byte("4"), 0))
	patchFile(t, crashed, last.file, last.off+last.size, torn[:len(torn)-5])

	var logs testenv.SyncBuffer
	s = openStore(t, memDir, Options{FS: crashed, Logger: testLogger(&logs)})
	defer s.Close()
	want := fmt.Sprintf("offset=%d", last.off+last.size)
	if !strings.Contains(logs.String(), "torn raft log tail truncated") || !strings.Contains(logs.String(), want) ||
		!strings.Contains(logs.String(), last.file) {
		t.Fatalf("no torn-tail warning naming %s and %s; log:\n%s", last.file, want, logs.String())
	}
	if st := s.Stats(); st.TornTails != 1 {
		t.Fatalf("TornTails = %d, want 1", st.TornTails)
	}
	for k, want := range map[string]string{"a": "1", "b": "2", "c": "3"} {
		if v, ok := mustGet(t, s, k); !ok || v != want {
			t.Fatalf("Get(%s) = %q, %v after tail truncation", k, v, ok)
		}
	}
	if _, ok := mustGet(t, s, "d"); ok {
		t.Fatal("the torn record was applied")
	}
	mustSet(t, s, "d", "5", 0)
	if v, _ := mustGet(t, s, "d"); v != "5" {
		t.Fatalf("d = %q after rewrite", v)
	}
}

// A damaged last record with nothing after it cannot be told from a torn
// write: it is cut (the record was the last one, so nothing synced after it
// is lost) and the store opens, counting it, and takes writes again; a
// second restart finds the log clean.
func TestDamagedLastRecordIsATornTail(t *testing.T) {
	fs := vfs.NewCrashableMem()
	s := openStore(t, memDir, Options{FS: fs})
	mustSet(t, s, "a", "1", 0)
	idx := mustSet(t, s, "b", "2", 0)
	crashed := fs.CrashClone(vfs.CrashCloneCfg{}) // b is logged; pebble lost it
	s.Close()
	r := recordWith(t, readLogRecords(t, crashed, memDir), 0, idx)
	flipBytes(t, crashed, r.file, r.off+r.size-8, 1)

	s = openStore(t, memDir, Options{FS: crashed})
	if st := s.Stats(); st.TornTails != 1 {
		t.Fatalf("TornTails = %d, want 1", st.TornTails)
	}
	if _, ok := mustGet(t, s, "b"); ok {
		t.Fatal("the damaged record was applied")
	}
	if v, ok := mustGet(t, s, "a"); !ok || v != "1" {
		t.Fatalf("a = %q, %v", v, ok)
	}
	mustSet(t, s, "c", "3", 0)
	crashed2 := crashed.CrashClone(vfs.CrashCloneCfg{})
	s.Close()
	var logs testenv.SyncBuffer
	s = openStore(t, memDir, Options{FS: crashed2, Logger: testLogger(&logs)})
	defer s.Close()
	if st := s.Stats(); st.TornTails != 0 {
		t.Log(logs.String())
		t.Fatalf("second restart: TornTails = %d, want 0", st.TornTails)
	}
	for k, want := range map[string]string{"a": "1", "c": "3"} {
		if v, ok := mustGet(t, s, k); !ok || v != want {
			t.Fatalf("after second restart Get(%s) = %q, %v", k, v, ok)
		}
	}
}

// writeShard1 writes n keys of shard 1 (of 2) one by one and returns the
// keys and their indexes.
func writeShard1(t *testing.T, s *Store, n int) ([]string, []uint64) {
	t.Helper()
	var keys []string
	var idxs []uint64
	for i := 0; len(idxs) < n; i++ {
		k := fmt.Sprintf("{k%d}", i)
		if s.ShardOf(slot.Of([]byte(k))) == 1 {
			keys = append(keys, k)
			idxs = append(idxs, mustSet(t, s, k, "v"+k, 0))
		}
	}
	return keys, idxs
}

// Damage to a synced record in the middle of the log (records follow it)
// refuses to open, with one error naming the file, the offset and the
// entries that would be lost; the same holds for a record zeroed out and
// for a damaged segment header.
func TestSyncedLogCorruptionRefusesOpen(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, fs vfs.FS, r logRec) int // returns the offset named
		want   string
	}{
		{"checksum", func(t *testing.T, fs vfs.FS, r logRec) int {
			flipBytes(t, fs, r.file, r.off+r.size-8, 8) // 8 bytes, as the probe
			return r.off
		}, "record %d unreadable"},
		{"zeroed", func(t *testing.T, fs vfs.FS, r logRec) int {
			patchFile(t, fs, r.file, r.off, make([]byte, r.size))
			return r.off
		}, "record %d unreadable"},
		{"length", func(t *testing.T, fs vfs.FS, r logRec) int {
			patchFile(t, fs, r.file, r.off+4, []byte{0xff, 0xff, 0, 0})
			return r.off
		}, "record %d unreadable"},
		{"segment header", func(t *testing.T, fs vfs.FS, r logRec) int {
			flipBytes(t, fs, r.file, 9, 2)
			return 0
		}, "whole segment is unreadable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := vfs.NewCrashableMem()
			s := openStore(t, memDir, Options{FS: fs, Shards: 2})
			_, idxs := writeShard1(t, s, 5)
			crashed := fs.CrashClone(vfs.CrashCloneCfg{})
			s.Close()
			r := recordWith(t, readLogRecords(t, crashed, memDir), 1, idxs[2])
			off := tc.damage(t, crashed, r)

			_, err := Open(memDir, Options{FS: crashed, Shards: 2, Logger: testLogger(nil)})
			if err == nil {
				t.Fatal("Open succeeded over a damaged synced log")
			}
			msg := err.Error()
			for _, want := range []string{r.file, fmt.Sprintf("offset %d", off), "refusing to open"} {
				if !strings.Contains(msg, want) {
					t.Fatalf("Open error %q does not name %q", msg, want)
				}
			}
			if w := tc.want; strings.Contains(w, "%d") {
				if want := fmt.Sprintf(w, r.seq); !strings.Contains(msg, want) {
					t.Fatalf("Open error %q does not name %q", msg, want)
				}
				if want := fmt.Sprintf("shard 1 entries %d..%d", idxs[3], idxs[4]); !strings.Contains(msg, want) {
					t.Fatalf("Open error %q does not say what is lost (%q)", msg, want)
				}
			} else if !strings.Contains(msg, w) {
				t.Fatalf("Open error %q does not say %q", msg, w)
			}
			if strings.Count(msg, "\n") != 0 {
				t.Fatalf("Open error spans lines: %q", msg)
			}
			// Refusing changed nothing: the same error again.
			if _, err2 := Open(memDir, Options{FS: crashed, Shards: 2, Logger: testLogger(nil)}); err2 == nil || err2.Error() != msg {
				t.Fatalf("second Open: %v, want the same error", err2)
			}
		})
	}
}

// With TruncateCorrupt the store cuts the log at the damage instead, says
// how many entries it dropped, keeps everything before the damage, and a
// later Open finds a clean log.
func TestTruncateCorruptDropsAndReports(t *testing.T) {
	fs := vfs.NewCrashableMem()
	s := openStore(t, memDir, Options{FS: fs, Shards: 2})
	keys, idxs := writeShard1(t, s, 5)
	crashed := fs.CrashClone(vfs.CrashCloneCfg{})
	s.Close()
	r := recordWith(t, readLogRecords(t, crashed, memDir), 1, idxs[2])
	flipBytes(t, crashed, r.file, r.off+r.size-8, 8)

	var logs testenv.SyncBuffer
	s = openStore(t, memDir, Options{FS: crashed, Shards: 2, TruncateCorrupt: true, Logger: testLogger(&logs)})
	if st := s.Stats(); st.DroppedEntries != 2 {
		t.Fatalf("DroppedEntries = %d, want 2 (the readable records after the damage)", st.DroppedEntries)
	}
	if !strings.Contains(logs.String(), "corrupt raft log truncated") || !strings.Contains(logs.String(), "entries_dropped=2") {
		t.Fatalf("no error line reporting the drop; log:\n%s", logs.String())
	}
	for i, k := range keys {
		v, ok := mustGet(t, s, k)
		if i < 2 && (!ok || v != "v"+k) {
			t.Fatalf("%s before the damage: %q, %v", k, v, ok)
		}
		if i >= 2 && ok {
			t.Fatalf("%s after the damage survived a truncation that dropped it", k)
		}
	}
	mustSet(t, s, "after", "x", 0)
	s.Close()
	s = openStore(t, memDir, Options{FS: crashed, Shards: 2})
	defer s.Close()
	if v, ok := mustGet(t, s, "after"); !ok || v != "x" {
		t.Fatalf("after = %q, %v", v, ok)
	}
}
