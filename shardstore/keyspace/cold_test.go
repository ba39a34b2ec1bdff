package keyspace

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/dorivo/dorivo/shardstore/slot"
)

func TestEvictBudgetStampsAndFill(t *testing.T) {
	ks := New()
	val := bytes.Repeat([]byte("v"), 100)
	for i := range 100 {
		ks.Stamp = uint64(i) // key i is written by write i
		ks.Set(fmt.Appendf(nil, "k%d", i), val, 0)
	}
	total := ks.HotBytes()
	if total < 100*100 {
		t.Fatalf("HotBytes = %d for 100 values of 100 bytes", total)
	}
	// Writes 0..49 are durable: only their values may go, even though the
	// target asks for everything.
	dropped, _ := ks.Evict(0, 49, 1<<20, func(k string) bool { return k == "k7" })
	check(t, ks)
	if dropped != 49 || ks.ColdLen() != 49 {
		t.Fatalf("dropped %d, %d cold; want 49 (writes 0..49 but k7)", dropped, ks.ColdLen())
	}
	for i := range 100 {
		k := fmt.Appendf(nil, "k%d", i)
		if want := i <= 49 && i != 7; ks.IsCold(k) != want {
			t.Fatalf("IsCold(%s) = %v, want %v", k, !want, want)
		}
	}
	// Cold keys still exist, expire and delete without their value.
	if !ks.Exists([]byte("k3"), 0) || ks.Len() != 100 {
		t.Fatal("a cold key stopped existing")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("reading a cold value did not panic")
			}
		}()
		ks.Get([]byte("k3"), 0)
	}()
	if ks.Fill([]byte("k60"), []byte("stale"), 60) || ks.Fill([]byte("nope"), []byte("x"), 0) {
		t.Fatal("Fill changed a hot or missing key")
	}
	stamp, cold := ks.ColdStamp([]byte("k3"))
	if !cold || stamp != 3 {
		t.Fatalf("ColdStamp(k3) = %d, %v; want 3, true", stamp, cold)
	}
	if ks.Fill([]byte("k3"), []byte("stale"), 2) {
		t.Fatal("Fill with another stamp changed a cold key")
	}
	if !ks.Fill([]byte("k3"), val, 3) {
		t.Fatal("Fill of a cold key failed")
	}
	if v, ok := ks.Get([]byte("k3"), 0); !ok || !bytes.Equal(v, val) {
		t.Fatalf("Get after Fill = %q, %v", v, ok)
	}
	// A write makes a cold key hot without a Fill.
	ks.Set([]byte("k4"), []byte("new"), 0)
	if v, _ := ks.Get([]byte("k4"), 0); string(v) != "new" {
		t.Fatalf("Get after Set on a cold key = %q", v)
	}
	ks.Delete([]byte("k5"), 0)
	check(t, ks)
}

func TestEvictSecondChance(t *testing.T) {
	ks := New()
	for i := range 10 {
		ks.Set(fmt.Appendf(nil, "k%d", i), []byte("0123456789"), 0)
	}
	// Every entry was just written (ref set): the first turn of the hand
	// (one step per slot and per entry) only clears the bits.
	turn := ks.TurnSteps()
	if turn != slot.Count+10 {
		t.Fatalf("TurnSteps = %d, want %d", turn, slot.Count+10)
	}
	if n, steps := ks.Evict(0, 0, turn, nil); n != 0 || steps != turn {
		t.Fatalf("first pass dropped %d values", n)
	}
	ks.Get([]byte("k2"), 0) // used again: spared once more
	if n, _ := ks.Evict(0, 0, turn, nil); n != 9 || ks.IsCold([]byte("k2")) {
		t.Fatalf("second pass dropped %d (k2 cold: %v), want 9 with k2 spared", n, ks.IsCold([]byte("k2")))
	}
	check(t, ks)
}

func TestSetColdAndFlush(t *testing.T) {
	ks := New()
	ks.SetCold([]byte("a"), 0)
	ks.SetCold([]byte("b"), 50)
	if !ks.IsCold([]byte("a")) || ks.HotBytes() != 0 || ks.ColdLen() != 2 {
		t.Fatal("SetCold did not store cold keys")
	}
	if ks.Exists([]byte("b"), 60) {
		t.Fatal("an expired cold key is live")
	}
	check(t, ks)
	ks.Flush()
	check(t, ks)
}
