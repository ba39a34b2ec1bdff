package durable

import (
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

func countLog(t *testing.T, db *pebble.DB, shard uint32) int {
	t.Helper()
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: logKey(shard, 0), UpperBound: shardKey(shard, suffixLog+"\xff")})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	return n
}

// The log is truncated behind the applied index, so it stays bounded, and a
// store restarts (after a power cut too) from the truncated log.
func TestLogTruncationBoundsLogAndSurvivesPowerLoss(t *testing.T) {
	fs := vfs.NewCrashableMem()
	opts := Options{FS: fs, LogKeepEntries: 8}
	s := openStore(t, memDir, opts)
	for i := range 100 {
		mustSet(t, s, fmt.Sprint("k", i), fmt.Sprint(i), 0)
	}
	if trunc := s.shards[0].trunc.index; trunc <= initialLogIndex+50 {
		t.Fatalf("truncated index %d after 100 writes with LogKeepEntries 8", trunc)
	}
	crashed := fs.CrashClone(vfs.CrashCloneCfg{})
	s.Close()

	db := rawDB(t, crashed, memDir)
	if n := countLog(t, db, 0); n > 2*8+2 {
		t.Fatalf("%d log entries kept with LogKeepEntries 8", n)
	}
	db.Close()
	opts.FS = crashed
	s = openStore(t, memDir, opts)
	defer s.Close()
	for i := range 100 {
		if v, ok := mustGet(t, s, fmt.Sprint("k", i)); !ok || v != fmt.Sprint(i) {
			t.Fatalf("k%d = %q, %v after restart from a truncated log", i, v, ok)
		}
	}
	mustSet(t, s, "more", "x", 0)
}
