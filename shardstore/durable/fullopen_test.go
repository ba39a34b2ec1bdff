package durable

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/dorivo/dorivo/internal/fullfs"
	pb "go.etcd.io/raft/v3/raftpb"
)

// A store opened on a full disk opens at once (it used to stall until
// space was back): it serves every acknowledged write, those in pebble
// and those only in the log (a power cut took pebble's memtable), reports
// the full disk, and refuses writes with ErrDiskFull. With space, the next
// Open takes writes again and has lost nothing.
func TestOpenOnFullDiskServesReadsRefusesWrites(t *testing.T) {
	mem := vfs.NewCrashableMem()
	s := openStore(t, memDir, Options{FS: mem, Shards: 2})
	mustSet(t, s, "flushed", "1", 0)
	if err := s.db.Flush(); err != nil {
		t.Fatal(err)
	}
	mustSet(t, s, "logged", "2", 0)
	proposeUsers(t, s, 4, "user default on nopass ~* &* +@all\n")
	crashed := mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})
	s.Close()

	fs := fullfs.New(crashed)
	fs.SetFull(true)
	opened := make(chan *Store, 1)
	go func() {
		s, err := Open(memDir, Options{FS: fs, Shards: 2, Logger: testLogger(nil)})
		if err != nil {
			t.Error(err)
		}
		opened <- s
	}()
	select {
	case s = <-opened:
	case <-time.After(30 * time.Second):
		fs.SetFull(false)
		t.Fatal("Open on a full disk did not return in 30 s")
	}
	if s == nil {
		t.FailNow()
	}
	for k, want := range map[string]string{"flushed": "1", "logged": "2"} {
		if v, ok := mustGet(t, s, k); !ok || v != want {
			t.Fatalf("Get(%s) on a full disk = %q %v, want %q", k, v, ok, want)
		}
	}
	if n := len(scanAll(t, s)); n != 2 {
		t.Fatalf("Scan found %d keys, want 2", n)
	}
	wantUsers(t, s, 4, "user default on nopass ~* &* +@all\n")
	if err := s.DiskError(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("DiskError = %v, want ENOSPC", err)
	}
	r := wait(t, proposeAsync(s, []byte("new"), AppendSet(nil, []byte("new"), []byte("3"), 0)))
	if !errors.Is(r.err, ErrDiskFull) {
		t.Fatalf("write on a full disk: %v, want ErrDiskFull", r.err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	fs.SetFull(false)
	s = openStore(t, memDir, Options{FS: fs, Shards: 2})
	defer s.Close()
	mustSet(t, s, "new", "3", 0)
	for k, want := range map[string]string{"flushed": "1", "logged": "2", "new": "3"} {
		if v, ok := mustGet(t, s, k); !ok || v != want {
			t.Fatalf("after space came back Get(%s) = %q %v", k, v, ok)
		}
	}
}

// A replica opened on a full disk serves what its group committed, never
// an entry its log holds beyond the commit index: that entry may be lost
// in a leader change, so showing it would be a dirty read. The layout
// group's committed log is replayed too, so the node keeps its layout.
func TestFullDiskReplicaShowsOnlyCommitted(t *testing.T) {
	mem := vfs.NewCrashableMem()
	s := openStore(t, memDir, Options{FS: mem, Shards: 1, Peers: []uint64{1, 2, 3}, NodeID: 1, ElectionTicks: 1000})
	ent := func(i uint64, rec []byte) *pb.Entry {
		return &pb.Entry{Type: pb.EntryNormal.Enum(), Term: new(uint64(6)), Index: new(i), Data: encodeProposal(0, rec)}
	}
	app := func(group uint32, prev, commit uint64, ents ...*pb.Entry) {
		t.Helper()
		m := &pb.Message{Type: pb.MsgApp.Enum(), From: new(uint64(2)), To: new(uint64(1)), Term: new(uint64(6)),
			Index: new(prev), LogTerm: new(uint64(initialLogTerm)), Commit: new(commit), Entries: ents}
		if err := s.Step(group, m); err != nil {
			t.Fatal(err)
		}
	}
	// The layout group: version 1 committed (data messages wait for a
	// layout). Shard 0: its first entry committed, the next only logged.
	const first = initialLogIndex + 1
	layout := append([]byte{opLayout}, encodeLayout(initialLayout(&Options{Shards: 1, Peers: []uint64{1, 2, 3}}))...)
	app(LayoutGroup, initialLogIndex, first, ent(first, layout))
	deadline := time.Now().Add(10 * time.Second)
	for s.Layout().GetVersion() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("layout %+v, want version 1", s.Layout())
		}
		time.Sleep(5 * time.Millisecond)
	}
	app(0, initialLogIndex, first, ent(first, AppendSet(nil, []byte("committed"), []byte("1"), 0)),
		ent(first+1, AppendSet(nil, []byte("dirty"), []byte("2"), 0)))
	for st := s.Status(0); st.Last != first+1 || st.Applied != first; st = s.Status(0) {
		if time.Now().After(deadline) {
			t.Fatalf("shard 0 %+v: want entries to %d, %d applied", st, first+1, first)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// A power cut: pebble's memtable is lost, so the applied entries and
	// the layout are only in the log.
	crashed, crashed2 := mem.CrashClone(vfs.CrashCloneCfg{}), mem.CrashClone(vfs.CrashCloneCfg{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// What a normal open of the same files sees: the dirty entry is in
	// the log, so the full-disk open below has it to (wrongly) apply.
	check := openStore(t, memDir, Options{FS: crashed2, Shards: 1, Peers: []uint64{1, 2, 3}, NodeID: 1, ElectionTicks: 1000})
	for st := check.Status(0); st.Last != first+1; st = check.Status(0) {
		if time.Now().After(deadline) {
			t.Fatalf("reopened shard 0: %+v, want its log to end at %d", st, first+1)
		}
		time.Sleep(5 * time.Millisecond)
	}
	check.Close()

	fs := fullfs.New(crashed)
	fs.SetFull(true)
	s = openStore(t, memDir, Options{FS: fs, Shards: 1, Peers: []uint64{1, 2, 3}, NodeID: 1})
	defer s.Close()
	if err := s.DiskError(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("DiskError = %v, want the full disk", err)
	}
	if v, ok := mustGet(t, s, "committed"); !ok || v != "1" {
		t.Errorf("committed key on a full disk: %q %v, want 1", v, ok)
	}
	if v, ok := mustGet(t, s, "dirty"); ok {
		t.Errorf("uncommitted key on a full disk: %q, want it absent (a dirty read)", v)
	}
	if l := s.Layout(); l.GetVersion() != 1 || s.LayoutError() != nil {
		t.Errorf("layout on a full disk: %+v (%v), want version 1", l, s.LayoutError())
	}
}
