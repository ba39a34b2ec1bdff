package durable

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/dorivo/dorivo/shardstore/slot"
)

// waitLayout waits until s has applied a layout of at least version v.
func waitLayout(t *testing.T, s *Store, v uint64) *ClusterLayout {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if l := s.Layout(); l != nil && l.Version >= v {
			return l
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no layout of version %d applied; have %+v", v, s.Layout())
	return nil
}

func TestLayoutBootstrapsFromOptionsAndPersists(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{Shards: 4, NodeID: 7, TickInterval: 5 * time.Millisecond})
	l := waitLayout(t, s, 1)
	if l.Version != 1 || len(l.Shards) != 4 {
		t.Fatalf("bootstrapped layout %+v, want version 1 of 4 shards", l)
	}
	for i, sh := range l.Shards {
		first, last := s.Slots(uint32(i))
		if sh.FirstSlot != first || sh.LastSlot != last || !slices.Equal(sh.Voters, []uint64{7}) || sh.Preferred != 7 {
			t.Errorf("shard %d: layout %+v, store slots %d-%d", i, sh, first, last)
		}
	}
	if int(l.Shards[3].LastSlot) != slot.Count-1 {
		t.Errorf("last shard ends at slot %d", l.Shards[3].LastSlot)
	}

	next := &ClusterLayout{Version: 2, Shards: l.Shards}
	ch := make(chan result, 1)
	s.ProposeLayout(next, func(i uint64, err error) { ch <- result{i, err} })
	if r := wait(t, ch); r.err != nil {
		t.Fatalf("ProposeLayout(version 2): %v", r.err)
	}
	stale := &ClusterLayout{Version: 2, Shards: l.Shards}
	s.ProposeLayout(stale, func(i uint64, err error) { ch <- result{i, err} })
	if r := wait(t, ch); !errors.Is(r.err, ErrLayoutVersion) {
		t.Fatalf("a second version 2: err %v, want ErrLayoutVersion", r.err)
	}
	moved := &ClusterLayout{Version: 3, Shards: slices.Clone(l.Shards)}
	moved.Shards[0].Voters = []uint64{7, 8}
	s.ProposeLayout(moved, func(i uint64, err error) { ch <- result{i, err} })
	if r := wait(t, ch); r.err == nil {
		t.Fatal("a layout that changes voters was accepted without a membership change")
	}
	s.Close()

	s = openStore(t, dir, Options{Shards: 4, NodeID: 7, TickInterval: 5 * time.Millisecond})
	defer s.Close()
	if got := s.Layout(); got == nil || got.Version != 2 {
		t.Fatalf("after a restart the layout is %+v, want version 2 at Open", got)
	}
	if err := s.LayoutError(); err != nil {
		t.Fatalf("LayoutError: %v", err)
	}
}

func TestLayoutReformedWithShardCount(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{Shards: 2, TickInterval: 5 * time.Millisecond})
	waitLayout(t, s, 1)
	mustSet(t, s, "k", "v", 0)
	s.Close()

	s = openStore(t, dir, Options{Shards: 8, TickInterval: 5 * time.Millisecond})
	defer s.Close()
	l := waitLayout(t, s, 1)
	if len(l.Shards) != 8 {
		t.Fatalf("after re-forming to 8 shards the layout has %d", len(l.Shards))
	}
	if err := s.LayoutError(); err != nil {
		t.Fatalf("LayoutError: %v", err)
	}
	if _, _, found, err := s.Get(s.ShardOf(slot.Of([]byte("k"))), []byte("k")); !found || err != nil {
		t.Fatalf("key lost across the re-form: found %v, err %v", found, err)
	}
}

func TestLayoutValidate(t *testing.T) {
	opts := Options{Shards: 3, Peers: []uint64{3, 1, 2}}
	good := initialLayout(&opts)
	if err := good.validate(); err != nil {
		t.Fatalf("initial layout: %v", err)
	}
	if got := []uint64{good.Shards[0].Preferred, good.Shards[1].Preferred, good.Shards[2].Preferred}; !slices.Equal(got, []uint64{3, 1, 2}) {
		t.Errorf("preferred leaders %v, want Peers in order", got)
	}
	bad := func(name string, edit func(l *ClusterLayout)) {
		l := initialLayout(&opts)
		edit(l)
		if err := l.validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	bad("gap", func(l *ClusterLayout) { l.Shards[1].FirstSlot++ })
	bad("short", func(l *ClusterLayout) { l.Shards = l.Shards[:2] })
	bad("no voters", func(l *ClusterLayout) { l.Shards[0].Voters = nil })
	bad("unsorted voters", func(l *ClusterLayout) { l.Shards[0].Voters = []uint64{2, 1, 3} })
	bad("duplicate voter", func(l *ClusterLayout) { l.Shards[0].Voters = []uint64{1, 1, 3} })
	bad("preferred not a voter", func(l *ClusterLayout) { l.Shards[2].Preferred = 9 })
	if _, err := decodeLayout([]byte(`{"version":1,"shards":[]}`)); err == nil {
		t.Error("an empty layout decoded")
	}
}
