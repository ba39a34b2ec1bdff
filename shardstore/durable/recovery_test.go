package durable

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/dorivo/dorivo/shardstore/slot"
	pb "go.etcd.io/raft/v3/raftpb"
)

const memDir = "/db"

// rawDB opens the store's pebble database directly, for inspecting and
// damaging it between store runs.
func rawDB(t *testing.T, fs vfs.FS, dir string) *pebble.DB {
	t.Helper()
	db, err := pebble.Open(dir, &pebble.Options{FS: fs, Logger: pebbleLogger{testLogger(nil)}})
	if err != nil {
		t.Fatalf("open raw pebble: %v", err)
	}
	return db
}

func rawApplied(t *testing.T, db *pebble.DB, shard uint32) uint64 {
	t.Helper()
	v, c, err := db.Get(appliedKey(shard))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	as, err := decodeAppliedState(v)
	if err != nil {
		t.Fatal(err)
	}
	return as.index
}

// pebble runs without its WAL: a power cut after acknowledged writes loses
// their applies (pebble's applied index on disk is behind them) but not the
// writes: they are in the synced raft log, and Open replays it.
func TestPowerLossWithoutPebbleWALReplaysLog(t *testing.T) {
	fs := vfs.NewCrashableMem()
	s := openStore(t, memDir, Options{FS: fs})
	mustSet(t, s, "a", "1", 0)
	idx := mustSet(t, s, "b", "2", 0)
	crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})
	s.Close()

	recordWith(t, readLogRecords(t, crashed, memDir), 0, idx) // fails unless logged
	db := rawDB(t, crashed.CrashClone(vfs.CrashCloneCfg{}), memDir)
	applied := rawApplied(t, db, 0)
	_, _, err := db.Get(dataKey(nil, slot.Of([]byte("b")), []byte("b")))
	db.Close()
	if applied >= idx || !errors.Is(err, pebble.ErrNotFound) {
		t.Fatalf("pebble kept applied index %d (want < %d) and b (%v) through the power cut: the test would not exercise replay", applied, idx, err)
	}

	s = openStore(t, memDir, Options{FS: crashed})
	defer s.Close()
	if got := s.AppliedIndex(0); got < idx {
		t.Fatalf("applied %d after Open, want >= %d", got, idx)
	}
	for k, want := range map[string]string{"a": "1", "b": "2"} {
		if v, ok := mustGet(t, s, k); !ok || v != want {
			t.Fatalf("after replay Get(%s) = %q, %v", k, v, ok)
		}
	}
	mustSet(t, s, "c", "3", 0) // and the group takes writes again
}

// Power loss in the middle of concurrent writes: every write acknowledged
// before the cut survives it; unacknowledged ones may vanish, never corrupt.
// With 4 KiB segments the cut also lands among segment rotations and
// truncations after flushes.
func TestPowerLossKeepsAcknowledgedWrites(t *testing.T) {
	for i := range uint64(8) {
		seed, segBytes := i%4, int64(0)
		if i >= 4 {
			segBytes = 4096
		}
		t.Run(fmt.Sprintf("seed%d/segment%d", seed, segBytes), func(t *testing.T) {
			fs := vfs.NewCrashableMem()
			s := openStore(t, memDir, Options{FS: fs, Shards: 3, SegmentBytes: segBytes})
			var mu sync.Mutex
			acked := map[string]string{}
			var stop atomic.Bool
			var wg sync.WaitGroup
			var exited atomic.Int32
			for w := range 8 {
				wg.Go(func() {
					defer exited.Add(1)
					for i := 0; !stop.Load(); i++ {
						k := fmt.Sprintf("{w%d}:%d", w, i)
						v := fmt.Sprintf("v%d.%d", w, i)
						r := <-proposeAsync(s, []byte(k), AppendSet(nil, []byte(k), []byte(v), 0))
						if r.err != nil {
							return
						}
						mu.Lock()
						acked[k] = v
						mu.Unlock()
					}
				})
			}
			for {
				mu.Lock()
				n := len(acked)
				mu.Unlock()
				if n >= 1000 {
					break
				}
				if exited.Load() != 0 {
					t.Fatal("a writer stopped early: a write failed")
				}
				runtime.Gosched()
			}
			// Snapshot the acknowledged set, then cut the power: all of it
			// was synced before the cut.
			mu.Lock()
			want := make(map[string]string, len(acked))
			for k, v := range acked {
				want[k] = v
			}
			mu.Unlock()
			crashed := fs.CrashClone(vfs.CrashCloneCfg{
				UnsyncedDataPercent: int(seed * 30),
				RNG:                 rand.New(rand.NewPCG(seed, seed)),
			})
			stop.Store(true)
			wg.Wait()
			s.Close()

			s = openStore(t, memDir, Options{FS: crashed, Shards: 3, SegmentBytes: segBytes})
			defer s.Close()
			for k, v := range want {
				if got, ok := mustGet(t, s, k); !ok || got != v {
					t.Fatalf("acknowledged %s=%s lost after power cut: got %q, %v", k, v, got, ok)
				}
			}
			mustSet(t, s, "after", "x", 0)
			t.Logf("%d acknowledged writes survived", len(want))
		})
	}
}

// scanAll returns every live key of every shard as key=value.
func scanAll(t *testing.T, s *Store) []string {
	t.Helper()
	var out []string
	for sh := range s.Shards() {
		err := s.Scan(uint32(sh), func(k, v []byte, _ int64) error {
			if got := s.ShardOf(slot.Of(k)); got != uint32(sh) {
				t.Errorf("Scan(%d) returned %q of shard %d", sh, k, got)
			}
			out = append(out, string(k)+"="+string(v))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	sort.Strings(out)
	return out
}

// Changing the shard count keeps every key: data is keyed by slot, and the
// old groups' logs, including entries not yet applied at the crash, are
// replayed before the new groups are formed.
func TestReshardKeepsAllKeys(t *testing.T) {
	fs := vfs.NewCrashableMem()
	s := openStore(t, memDir, Options{FS: fs, Shards: 4})
	var want []string
	for i := range 200 {
		k := fmt.Sprintf("{t%d}:k", i)
		mustSet(t, s, k, fmt.Sprint(i), 0)
		want = append(want, fmt.Sprintf("%s=%d", k, i))
	}
	sort.Strings(want)
	// Leave the last applies unsynced: the reshard must replay them.
	crashed := fs.CrashClone(vfs.CrashCloneCfg{})
	s.Close()

	for _, n := range []int{3, 16, 1} {
		s = openStore(t, memDir, Options{FS: crashed, Shards: n})
		if got := scanAll(t, s); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("with %d shards scan found %d keys, want %d", n, len(got), len(want))
		}
		for i := range 200 {
			k := fmt.Sprintf("{t%d}:k", i)
			if v, ok := mustGet(t, s, k); !ok || v != fmt.Sprint(i) {
				t.Fatalf("with %d shards Get(%s) = %q, %v", n, k, v, ok)
			}
		}
		mustSet(t, s, "{t0}:k", "0", 0)
		s.Close()
	}
}

// Expiry is stored with the value: a key whose time passed while the node
// was down is gone after restart, and is then deleted for good.
func TestExpiryAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	var now atomic.Int64
	now.Store(1_000_000)
	clock := func() int64 { return now.Load() }
	s := openStore(t, dir, Options{Now: clock, CacheBytes: 1 << 20})
	mustSet(t, s, "short", "s", 1_001_000)
	mustSet(t, s, "long", "l", 9_000_000)
	mustSet(t, s, "forever", "f", 0)
	if v, ok := mustGet(t, s, "short"); !ok || v != "s" {
		t.Fatalf("short before expiry: %q %v", v, ok)
	}
	s.Close()

	now.Store(1_001_000) // the expiry instant itself counts as expired
	s = openStore(t, dir, Options{Now: clock, CacheBytes: 1 << 20})
	defer s.Close()
	if _, ok := mustGet(t, s, "short"); ok {
		t.Fatal("key expired while down is still readable")
	}
	if got := scanAll(t, s); strings.Join(got, ",") != "forever=f,long=l" {
		t.Fatalf("scan after restart = %v", got)
	}
	v, exp, found, err := s.Get(0, []byte("long"))
	if err != nil || !found || string(v) != "l" || exp != 9_000_000 {
		t.Fatalf("long = %q exp %d found %v err %v", v, exp, found, err)
	}
	// The lazy delete reaches pebble.
	dk := dataKey(nil, slot.Of([]byte("short")), []byte("short"))
	for i := 0; ; i++ {
		_, c, err := s.db.Get(dk)
		if errors.Is(err, pebble.ErrNotFound) {
			break
		}
		if err == nil {
			c.Close()
		}
		if i == 5000 {
			t.Fatal("expired key never deleted")
		}
		s.queueExpired(dk)
		waitDriverCycle(t, s)
	}
	// A new write of an expired key is not undone by a queued expiry.
	s.queueExpired(dataKey(nil, slot.Of([]byte("short")), []byte("short")))
	mustSet(t, s, "short", "again", 0)
	waitDriverCycle(t, s)
	if v, ok := mustGet(t, s, "short"); !ok || v != "again" {
		t.Fatalf("rewritten key = %q, %v", v, ok)
	}
}

// waitDriverCycle returns after the driver has completed a cycle that
// started after the call (a write goes through it).
func waitDriverCycle(t *testing.T, s *Store) {
	t.Helper()
	mustSet(t, s, "{sync}", "x", 0)
}

// A fresh replica's raft log survives a power cut before pebble has ever
// flushed: the log directory's own entry in the data dir is synced, not
// only the segments inside it. Losing it loses the replica's term and vote
// as well as entries it acknowledged, so it could vote twice in a term.
func TestPowerLossKeepsFreshReplicasLog(t *testing.T) {
	mem := vfs.NewCrashableMem()
	opts := Options{FS: mem, Shards: 1, Peers: []uint64{1, 2, 3}, NodeID: 1, ElectionTicks: 1000}
	s := openStore(t, memDir, opts)
	const first = initialLogIndex + 1
	rec := append([]byte{opLayout}, encodeLayout(initialLayout(&opts))...)
	m := &pb.Message{Type: pb.MsgApp.Enum(), From: new(uint64(2)), To: new(uint64(1)), Term: new(uint64(6)),
		Index: new(uint64(initialLogIndex)), LogTerm: new(uint64(initialLogTerm)), Commit: new(uint64(first)),
		Entries: []*pb.Entry{{Type: pb.EntryNormal.Enum(), Term: new(uint64(6)), Index: new(uint64(first)), Data: encodeProposal(0, rec)}}}
	if err := s.Step(LayoutGroup, m); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.Layout().GetVersion() != 1 { // applied, so logged and synced (raft applies only stable entries)
		if time.Now().After(deadline) {
			t.Fatal("the layout entry was not applied")
		}
		time.Sleep(5 * time.Millisecond)
	}
	crashed := mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})
	s.Close()

	opts.FS = crashed
	s = openStore(t, memDir, opts)
	defer s.Close()
	for st := s.LayoutStatus(); st.Term != 6 || st.Last != first; st = s.LayoutStatus() {
		if time.Now().After(deadline) {
			t.Fatalf("after the power cut the layout group is %+v, want term 6 and its log to end at %d", st, first)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A data dir created with its parents by Open survives a power cut: each
// new directory's entry is synced in its parent, not only the files inside.
func TestPowerLossKeepsNewDataDirAndParents(t *testing.T) {
	mem := vfs.NewCrashableMem()
	const dir = "/srv/dorivo/data/"
	s := openStore(t, dir, Options{FS: mem})
	mustSet(t, s, "a", "1", 0)
	crashed := mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})
	s.Close()
	s = openStore(t, dir, Options{FS: crashed})
	defer s.Close()
	if v, ok := mustGet(t, s, "a"); !ok || v != "1" {
		t.Fatalf("after a power cut Get(a) = %q %v, want 1", v, ok)
	}
}
