package svctime

import (
	"testing"
)

func TestBucketBounds(t *testing.T) {
	for _, tc := range []struct {
		ns   int64
		want int
	}{
		{-5, 0}, {0, 0}, {250, 0}, {251, 1}, {1000, 1}, {1001, 2}, {4000, 2}, {4001, 3},
		{1_000_000, 6}, {1_024_000, 6}, {1_024_001, 7},
		{1_048_576_000, 11}, {1_048_576_001, NumBuckets}, {1 << 62, NumBuckets},
	} {
		if got := bucket(tc.ns); got != tc.want {
			t.Errorf("bucket(%d) = %d, want %d", tc.ns, got, tc.want)
		}
		// The bucket's bound holds the value and the one below does not.
		if b := bucket(tc.ns); b < NumBuckets && float64(tc.ns) > Bounds[b]*1e9 {
			t.Errorf("%d ns above bound %v of bucket %d", tc.ns, Bounds[b], b)
		} else if b > 0 && float64(tc.ns) <= Bounds[b-1]*1e9 {
			t.Errorf("%d ns fits bucket %d below %d", tc.ns, b-1, b)
		}
	}
}

func TestObserveSnapshotMerge(t *testing.T) {
	var a, b Set
	a[Read].Observe(500)        // 1 µs bucket
	a[Read].Observe(3_000)      // 4 µs
	a[Write].Observe(2_000_000) // 4.096 ms bucket (1000·4^6)
	b[Read].Observe(3_500)
	m := Merge([]SetSnap{a.Snapshot(), b.Snapshot()})
	r := m[Read]
	if r.Count() != 3 || r.SumNs != 7_000 || r.Counts[1] != 1 || r.Counts[2] != 2 {
		t.Errorf("merged read histogram %+v", r)
	}
	cum := r.Cumulative()
	if cum[1e-6] != 1 || cum[4e-6] != 3 || cum[Bounds[NumBuckets-1]] != 3 {
		t.Errorf("cumulative %v", cum)
	}
	if w := m[Write]; w.Counts[7] != 1 || w.Count() != 1 {
		t.Errorf("write histogram %+v", w)
	}
	if m.BusyNs() != 2_007_000 {
		t.Errorf("busy %d ns", m.BusyNs())
	}
	if Class(3).String() != "other" || NumClasses.String() != "unknown" {
		t.Error("class names")
	}
}

func TestObserveDoesNotAllocate(t *testing.T) {
	var s Set
	if n := testing.AllocsPerRun(1000, func() { s[Remote].Observe(12345) }); n != 0 {
		t.Errorf("Observe allocates %v times", n)
	}
}

func BenchmarkObserve(b *testing.B) {
	var s Set
	for i := range b.N {
		s[Read].Observe(int64(i & 0xffff))
	}
}
