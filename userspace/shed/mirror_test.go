package shed

import (
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"

	"github.com/dorivo/dorivo/bpf"
	"github.com/dorivo/dorivo/breaker"
	"github.com/dorivo/dorivo/datapath/core"
	"github.com/dorivo/dorivo/internal/testenv"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// clock is a settable breaker.Clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestReasonsAgree(t *testing.T) {
	for _, p := range []struct {
		k uint32
		c core.ShedReason
	}{
		{uint32(bpf.DorivoShedReasonSHED_BREAKER), core.ShedBreaker},
		{uint32(bpf.DorivoShedReasonSHED_OVERLOAD), core.ShedOverload},
		{uint32(bpf.DorivoShedReasonSHED_DISK), core.ShedDisk},
	} {
		if p.k != uint32(p.c) {
			t.Errorf("kernel shed bit %d, loops' %d", p.k, p.c)
		}
	}
}

// slotShedMap loads the collection's real slot_shed map.
func slotShedMap(t *testing.T) *ebpf.Map { return slotShedMapB(t) }

func slotShedMapB(t testing.TB) *ebpf.Map {
	t.Helper()
	testenv.RequireRoot(t)
	if err := rlimit.RemoveMemlock(); err != nil {
		t.Fatal(err)
	}
	var objs bpf.DorivoObjects
	if err := bpf.LoadDorivoObjects(&objs, nil); err != nil {
		t.Fatalf("load: %+v", err)
	}
	t.Cleanup(func() { objs.Close() })
	return objs.SlotShed
}

func entry(t *testing.T, m *ebpf.Map, s uint16) bpf.DorivoShedEntry {
	t.Helper()
	var e bpf.DorivoShedEntry
	if err := m.Lookup(uint32(s), &e); err != nil {
		t.Fatal(err)
	}
	return e
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// A breaker's transitions reach the kernel map and the loops' board: open
// sheds its slots with its remaining wait as the retry-after, a poll after
// the wait moves it to half-open and serves again, and probes that pass
// close it; the disk breaker sheds every slot, an overloaded loop its own.
func TestMirrorFollowsBreakers(t *testing.T) {
	m := slotShedMap(t)
	table, err := slot.NewTable(2)
	if err != nil {
		t.Fatal(err)
	}
	var board core.ShedBoard
	mir, err := NewMirror(Options{Map: m, Board: &board, Table: table, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Unix(1000, 0)}
	cfg := breaker.Config{WindowSize: 4, MinimumCalls: 4, HalfOpenCalls: 2, OpenWait: 3 * time.Second, OpenWaitMultiplier: 1, Clock: clk}
	shard, err := breaker.New("shard 7", cfg)
	if err != nil {
		t.Fatal(err)
	}
	disk, observe, err := NewDiskBreaker(func() breaker.Config { c := DiskConfig(); c.Clock = clk; return c }())
	if err != nil {
		t.Fatal(err)
	}
	shardSlots := []uint16{10, 11, 12}
	mir.Watch(shard, core.ShedBreaker, shardSlots)
	mir.Watch(disk, core.ShedDisk, nil)
	if polling := mir.Sync(); polling || len(mir.Shed()) != 0 || board.Current() != nil {
		t.Fatalf("closed breakers: polling %v, shed %v, board %v", polling, mir.Shed(), board.Current() != nil)
	}

	fail := errors.New("peer down")
	for range 4 {
		shard.Record(time.Millisecond, fail)
	}
	if shard.State() != breaker.Open {
		t.Fatalf("shard breaker %v after 4 failures", shard.State())
	}
	clk.add(time.Second)
	if !mir.Sync() {
		t.Error("an open breaker is not polled")
	}
	for _, s := range shardSlots {
		if e := entry(t, m, s); e.Reasons != uint32(core.ShedBreaker) || e.RetryAfterMs != 2000 {
			t.Errorf("slot %d: %+v, want breaker with the 2000 ms left", s, e)
		}
	}
	if e := entry(t, m, 13); e.Reasons != 0 {
		t.Errorf("slot 13 of no breaker: %+v", e)
	}
	if set := board.Current(); set == nil || set[10].Reasons != core.ShedBreaker || set[10].RetryAfterMs != 2000 || set[13].Reasons != 0 {
		t.Error("the loops' set does not match the map")
	}

	// The disk, a second later: slow syncs open it, and every slot sheds
	// writes.
	clk.add(time.Second)
	for range 10 {
		observe(80*time.Millisecond, nil)
	}
	mir.Sync()
	if disk.State() != breaker.Open {
		t.Fatalf("disk breaker %v after 10 slow syncs", disk.State())
	}
	for _, s := range []uint16{0, 10, uint16(slot.Count - 1)} {
		want := uint32(core.ShedDisk)
		if s == 10 {
			want |= uint32(core.ShedBreaker)
		}
		if e := entry(t, m, s); e.Reasons != want || e.RetryAfterMs != 2000 {
			t.Errorf("slot %d with the disk open: %+v, want reasons %d and 2000 ms", s, e, want)
		}
	}
	// Overload of loop 1: its slots only.
	mir.SetOverloaded(1, 200*time.Millisecond)
	mir.Sync()
	for s, o := range table {
		if e := entry(t, m, uint16(s)); (e.Reasons&uint32(core.ShedOverload) != 0) != (o == 1) {
			t.Fatalf("slot %d of loop %d: %+v", s, o, e)
		}
	}
	mir.SetOverloaded(1, 0)

	// The shard's wait passes: a poll moves it to half-open, its slots
	// serve (the disk still sheds writes); two passing probes close it.
	clk.add(time.Second)
	mir.Sync()
	if shard.State() != breaker.HalfOpen {
		t.Fatalf("shard breaker %v after its wait", shard.State())
	}
	if e := entry(t, m, 10); e.Reasons != uint32(core.ShedDisk) {
		t.Errorf("slot 10 with the shard half-open: %+v", e)
	}
	shard.Record(time.Millisecond, nil)
	shard.Record(time.Millisecond, nil)
	if shard.State() != breaker.Closed {
		t.Fatalf("shard breaker %v after passing probes", shard.State())
	}
	// The disk recovers: half-open after its wait, closed by fast syncs.
	clk.add(time.Second)
	mir.Sync()
	for range 5 {
		observe(time.Millisecond, nil)
	}
	if mir.Sync() || disk.State() != breaker.Closed {
		t.Fatalf("disk breaker %v after fast probes", disk.State())
	}
	if e := entry(t, m, 0); e != (bpf.DorivoShedEntry{}) || board.Current() != nil || len(mir.Shed()) != 0 {
		t.Errorf("all closed: slot 0 %+v, board set %v, shed %d", e, board.Current() != nil, len(mir.Shed()))
	}
}

// A forced-open breaker sheds with the configured retry-after.
func TestMirrorForcedOpen(t *testing.T) {
	m := slotShedMap(t)
	table, _ := slot.NewTable(1)
	mir, err := NewMirror(Options{Map: m, Table: table, OpenRetry: 700 * time.Millisecond, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := breaker.New("peer", breaker.Config{})
	mir.Watch(b, core.ShedBreaker, []uint16{5})
	if err := b.TransitionTo(breaker.ForcedOpen); err != nil {
		t.Fatal(err)
	}
	mir.Sync()
	if e := entry(t, m, 5); e.Reasons != uint32(core.ShedBreaker) || e.RetryAfterMs != 700 {
		t.Errorf("forced open: %+v", e)
	}
}
