package core

import (
	"strings"
	"testing"

	"github.com/dorivo/dorivo/datapath/svctime"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// keyOn returns a key whose slot loop o of tb owns.
func keyOn(t *testing.T, tb *slot.Table, o int) string {
	for i := range 10_000 {
		k := "k" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune('a'+i/26%26))
		if tb.Owner(slot.Of([]byte(k))) == o {
			return k
		}
	}
	t.Fatalf("no key on loop %d", o)
	return ""
}

// TestServiceTimesByClass runs requests of each class with a clock that
// advances 3 µs per read, and checks where each loop recorded them.
func TestServiceTimesByClass(t *testing.T) {
	h := newHarness(t, harnessOpts{loops: 2, ringCap: 8, arena: 1 << 12, deferCap: 8, maxPending: 64})
	var clock int64
	for _, l := range h.loops {
		l.cfg.Clock = func() int64 { clock += 3000; return clock }
	}
	tb, _ := slot.NewTable(2)
	local, remote := keyOn(t, tb, 0), keyOn(t, tb, 1)
	c := &hconn{name: "c", loop: 0}
	c.c = h.loops[0].Open(&c.in, "test", c)
	h.conns["c"] = c
	h.send(c, []string{"SET " + local + " 1", "GET " + local, "GET " + local, "CONFIG GET maxclients", "PING", "NOSUCH", "GET " + remote})
	h.run()
	h.collect()
	if got := string(c.got); !strings.HasPrefix(got, "+OK\r\n$1\r\n1\r\n$1\r\n1\r\n") || !strings.HasSuffix(got, "$-1\r\n") {
		t.Fatalf("replies %q", got)
	}
	s0, s1 := h.loops[0].ServiceTimes().Snapshot(), h.loops[1].ServiceTimes().Snapshot()
	want0 := map[svctime.Class]uint64{svctime.Write: 1, svctime.Read: 2, svctime.Admin: 1, svctime.Other: 2, svctime.Cross: 1}
	for cl := range svctime.NumClasses {
		if got := s0[cl].Count(); got != want0[cl] {
			t.Errorf("loop 0 %s: %d requests, want %d", cl, got, want0[cl])
		}
		if s0[cl].SumNs != 3000*want0[cl] || s0[cl].Counts[2] != want0[cl] {
			t.Errorf("loop 0 %s: %+v, want each 3 µs (the 4 µs bucket)", cl, s0[cl])
		}
	}
	if s1[svctime.Remote].Count() != 1 || s1.BusyNs() != 3000 {
		t.Errorf("loop 1: %+v, want one remote request of 3 µs", s1)
	}
	if d, capa := h.loops[1].RingDepth(); d != 0 || capa != 2*8 {
		t.Errorf("loop 1 ring depth %d of %d, want 0 of 16", d, capa)
	}
}

// TestServiceTimesOffWithoutClock: no clock, no observations.
func TestServiceTimesOffWithoutClock(t *testing.T) {
	h := newHarness(t, harnessOpts{loops: 1, ringCap: 8, arena: 1 << 12, deferCap: 8, maxPending: 64})
	c := &hconn{name: "c", loop: 0}
	c.c = h.loops[0].Open(&c.in, "test", c)
	h.send(c, []string{"SET a 1", "GET a"})
	if s := h.loops[0].ServiceTimes().Snapshot(); s.BusyNs() != 0 || s[svctime.Read].Count() != 0 {
		t.Errorf("without a clock: %+v", s)
	}
}
