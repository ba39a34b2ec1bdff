package svctime

import (
	"math/bits"
	"sync/atomic"
)

// Class is what kind of work a loop did for a request.
type Class uint8

const (
	Read     Class = iota // a read-only command run on this loop
	Write                 // a command that may write, run on this loop
	Admin                 // an admin command (CONFIG, ACL, DEBUG, ...)
	Other                 // connection and transaction commands, errors
	Cross                 // a request this loop sent to other loops (its part: routing, packing)
	Remote                // a request another loop sent here, run here
	Datagram              // a datagram (GET, SET, DEL) received here
	NumClasses
)

var classNames = [NumClasses]string{"read", "write", "admin", "other", "cross", "remote", "datagram"}

func (c Class) String() string {
	if c < NumClasses {
		return classNames[c]
	}
	return "unknown"
}

// NumBuckets is the number of finite bucket bounds; Counts has one more
// slot for +Inf.
const NumBuckets = 12

// Bounds are the buckets' upper bounds in seconds: 250 ns × 4^i, up to
// about 1 s.
var Bounds = func() [NumBuckets]float64 {
	var b [NumBuckets]float64
	for i := range b {
		b[i] = 250e-9 * float64(uint64(1)<<(2*i))
	}
	return b
}()

// Hist is one histogram. Only one goroutine may call Observe; any may call
// Snapshot.
type Hist struct {
	counts [NumBuckets + 1]atomic.Uint64 // per bucket, not cumulative
	sumNs  atomic.Uint64
}

// bucket returns the smallest i with ns <= 250·4^i (NumBuckets: +Inf).
func bucket(ns int64) int {
	if ns <= 250 {
		return 0
	}
	q := (uint64(ns) + 249) / 250 // ceil: ns <= 250·4^i iff q <= 4^i
	i := (bits.Len64(q-1) + 1) / 2
	return min(i, NumBuckets)
}

// Observe records one service time of ns nanoseconds (negative: 0). It is a
// single writer's update, not an atomic increment.
func (h *Hist) Observe(ns int64) {
	ns = max(ns, 0)
	c := &h.counts[bucket(ns)]
	c.Store(c.Load() + 1)
	h.sumNs.Store(h.sumNs.Load() + uint64(ns))
}

// Snap is a histogram read at one moment: per-bucket counts (the last is
// +Inf) and the sum of observations in nanoseconds.
type Snap struct {
	Counts [NumBuckets + 1]uint64
	SumNs  uint64
}

// Count is the number of observations.
func (s *Snap) Count() uint64 {
	var n uint64
	for _, c := range s.Counts {
		n += c
	}
	return n
}

// Add merges o into s.
func (s *Snap) Add(o *Snap) {
	for i := range s.Counts {
		s.Counts[i] += o.Counts[i]
	}
	s.SumNs += o.SumNs
}

// Cumulative returns the Prometheus buckets: upper bound -> observations
// at or below it (finite bounds only; Count is the +Inf bucket).
func (s *Snap) Cumulative() map[float64]uint64 {
	m := make(map[float64]uint64, NumBuckets)
	var n uint64
	for i, b := range Bounds {
		n += s.Counts[i]
		m[b] = n
	}
	return m
}

// Snapshot reads h. Buckets and sum are read one by one, so a snapshot
// taken during an Observe may count it in one and not the other; each
// field only grows.
func (h *Hist) Snapshot() Snap {
	var s Snap
	for i := range s.Counts {
		s.Counts[i] = h.counts[i].Load()
	}
	s.SumNs = h.sumNs.Load()
	return s
}

// Set is one loop's histograms, one per class.
type Set [NumClasses]Hist

// Snap is a Set read at one moment.
type SetSnap [NumClasses]Snap

// Snapshot reads every class.
func (s *Set) Snapshot() SetSnap {
	var out SetSnap
	for c := range s {
		out[c] = s[c].Snapshot()
	}
	return out
}

// BusyNs is the time the loop spent on all classes, in nanoseconds.
func (s *SetSnap) BusyNs() uint64 {
	var n uint64
	for i := range s {
		n += s[i].SumNs
	}
	return n
}

// Merge adds every loop's snapshot class by class.
func Merge(loops []SetSnap) SetSnap {
	var out SetSnap
	for i := range loops {
		for c := range out {
			out[c].Add(&loops[i][c])
		}
	}
	return out
}
