package durable

import (
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

func proposeUsers(t *testing.T, s *Store, gen uint64, text string) {
	t.Helper()
	ch := make(chan result, 1)
	s.ProposeUsers(gen, []byte(text), func(i uint64, err error) { ch <- result{i, err} })
	if r := wait(t, ch); r.err != nil {
		t.Fatalf("ProposeUsers(%d): %v", gen, r.err)
	}
}

func wantUsers(t *testing.T, s *Store, gen uint64, text string) {
	t.Helper()
	g, got, ok := s.Users()
	if !ok || g != gen || string(got) != text {
		t.Fatalf("Users() = %d %q %v, want %d %q", g, got, ok, gen, text)
	}
}

// The user table survives a power cut (replayed from the log, pebble's
// memtable lost) and a clean reopen (read from pebble), and an older
// generation arriving after a newer one changes nothing.
func TestUsersSurvivePowerLossAndKeepLatestGeneration(t *testing.T) {
	fs := vfs.NewCrashableMem()
	s := openStore(t, memDir, Options{FS: fs, Shards: 2})
	if _, _, ok := s.Users(); ok {
		t.Fatal("a new store has a user table")
	}
	const v2 = "user alice on #2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b ~* &* +@all\nuser default on nopass ~* &* +@all\n"
	proposeUsers(t, s, 1, "user default on nopass ~* &* +@all\n")
	proposeUsers(t, s, 3, v2)
	proposeUsers(t, s, 2, "user stale on nopass ~* &* +@all\n") // proposed late by another loop
	wantUsers(t, s, 3, v2)
	mustSet(t, s, "k", "v", 0)

	crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})
	s.Close()
	s = openStore(t, memDir, Options{FS: crashed, Shards: 2})
	wantUsers(t, s, 3, v2)
	s.Close()
	s = openStore(t, memDir, Options{FS: crashed, Shards: 3}) // resharded: the table stays
	defer s.Close()
	wantUsers(t, s, 3, v2)
	if v, ok := mustGet(t, s, "k"); !ok || v != "v" {
		t.Fatalf("Get(k) = %q %v", v, ok)
	}
}
