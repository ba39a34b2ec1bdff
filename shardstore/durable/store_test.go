package durable

import (
	"errors"
	"fmt"
	"github.com/dorivo/dorivo/internal/testenv"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/dorivo/dorivo/shardstore/slot"
)

// testLogger returns a logger writing to buf (or discarding when nil).
func testLogger(buf *testenv.SyncBuffer) *slog.Logger {
	var w io.Writer = io.Discard
	if buf != nil {
		w = buf
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func openStore(t testing.TB, dir string, opts Options) *Store {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(nil)
	}
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return s
}

type result struct {
	index uint64
	err   error
}

// proposeAsync proposes rec to the key's shard and returns the channel its
// result arrives on.
func proposeAsync(s *Store, key, rec []byte) <-chan result {
	ch := make(chan result, 1)
	s.Propose(s.ShardOf(slot.Of(key)), rec, func(i uint64, err error) { ch <- result{i, err} })
	return ch
}

func wait(t testing.TB, ch <-chan result) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("done callback never called")
		return result{}
	}
}

func mustSet(t testing.TB, s *Store, key, value string, exp int64) uint64 {
	t.Helper()
	r := wait(t, proposeAsync(s, []byte(key), AppendSet(nil, []byte(key), []byte(value), exp)))
	if r.err != nil || r.index == 0 {
		t.Fatalf("SET %s: index %d, err %v", key, r.index, r.err)
	}
	return r.index
}

func mustGet(t testing.TB, s *Store, key string) (string, bool) {
	t.Helper()
	v, _, found, err := s.Get(s.ShardOf(slot.Of([]byte(key))), []byte(key))
	if err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	return string(v), found
}

func TestProposeCommitGet(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{Shards: 4})
	defer s.Close()

	last := map[uint32]uint64{}
	for i := range 100 {
		k := fmt.Sprintf("{t%d}:k", i)
		idx := mustSet(t, s, k, fmt.Sprintf("v%d", i), 0)
		sh := s.ShardOf(slot.Of([]byte(k)))
		if idx <= last[sh] {
			t.Fatalf("shard %d: index %d after %d", sh, idx, last[sh])
		}
		last[sh] = idx
		if got := s.AppliedIndex(sh); got < idx {
			t.Fatalf("shard %d: applied %d after done(%d)", sh, got, idx)
		}
	}
	if len(last) != 4 {
		t.Fatalf("writes reached %d shards, want 4", len(last))
	}
	for i := range 100 {
		k := fmt.Sprintf("{t%d}:k", i)
		if v, ok := mustGet(t, s, k); !ok || v != fmt.Sprintf("v%d", i) {
			t.Fatalf("Get(%s) = %q, %v", k, v, ok)
		}
	}
	r := wait(t, proposeAsync(s, []byte("{t3}:k"), AppendDel(nil, []byte("{t3}:k"))))
	if r.err != nil {
		t.Fatal(r.err)
	}
	if _, ok := mustGet(t, s, "{t3}:k"); ok {
		t.Fatal("deleted key still found")
	}

	// A key asked of the wrong shard is refused, and so is an unknown shard.
	k := []byte("{t1}:k")
	wrong := (s.ShardOf(slot.Of(k)) + 1) % 4
	if _, _, _, err := s.Get(wrong, k); !errors.Is(err, ErrWrongShard) {
		t.Fatalf("Get on wrong shard: %v, want ErrWrongShard", err)
	}
	ch := make(chan result, 1)
	s.Propose(9, []byte("x"), func(i uint64, err error) { ch <- result{i, err} })
	if r := <-ch; r.err == nil {
		t.Fatal("Propose to shard 9 of 4 succeeded")
	}
	// A malformed record commits but applies nothing, and says so.
	r = wait(t, proposeAsync(s, k, []byte("Zbogus")))
	if r.err == nil || r.index == 0 {
		t.Fatalf("malformed record: index %d err %v, want an apply error with an index", r.index, r.err)
	}

	st := s.Stats()
	if st.Acked != 101 || st.Failed != 1 || st.Rejected != 1 || st.Fsyncs == 0 || st.Entries < 102 {
		t.Fatalf("stats %+v", st)
	}
}

// With Shards a multiple of the loop count, each shard's slot range lies
// inside one loop's range of slot.NewTable: loop = shard / (Shards/loops).
func TestShardRangesNestInLoopTable(t *testing.T) {
	for _, tc := range []struct{ shards, loops int }{{1, 1}, {4, 2}, {6, 3}, {16, 16}, {64, 8}} {
		s := openStore(t, t.TempDir(), Options{Shards: tc.shards})
		tb, err := slot.NewTable(tc.loops)
		if err != nil {
			t.Fatal(err)
		}
		k := tc.shards / tc.loops
		next := 0
		for sh := range tc.shards {
			first, last := s.Slots(uint32(sh))
			if int(first) != next || last < first {
				t.Fatalf("%d shards: shard %d spans %d..%d, want to start at %d", tc.shards, sh, first, last, next)
			}
			next = int(last) + 1
			for sl := int(first); sl <= int(last); sl++ {
				if got := s.ShardOf(uint16(sl)); got != uint32(sh) {
					t.Fatalf("%d shards: ShardOf(%d) = %d, want %d", tc.shards, sl, got, sh)
				}
				if got := tb.Owner(uint16(sl)); got != sh/k {
					t.Fatalf("%d shards, %d loops: slot %d of shard %d owned by loop %d, want %d", tc.shards, tc.loops, sl, sh, got, sh/k)
				}
			}
		}
		if next != slot.Count {
			t.Fatalf("%d shards cover %d slots", tc.shards, next)
		}
		s.Close()
	}
}
