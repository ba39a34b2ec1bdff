package collection

import (
	"math"
	"slices"
)

// Aggregate is ZUNION/ZINTER's AGGREGATE.
type Aggregate uint8

const (
	AggSum Aggregate = iota
	AggMin
	AggMax
)

// ZInput is one source of ZUNION/ZINTER/ZDIFF: a sorted set, or a set
// whose members score 1, or neither (a missing key, empty). Weight scales
// its scores (1 by default; the command sets it).
type ZInput struct {
	Z      *ZSet
	S      *Set
	Weight float64
}

func (in ZInput) len() int {
	switch {
	case in.Z != nil:
		return in.Z.Len()
	case in.S != nil:
		return in.S.Len()
	}
	return 0
}

// each calls fn with every member and its unweighted score.
func (in ZInput) each(fn func(m string, score float64)) {
	switch {
	case in.Z != nil:
		for i, k := range in.Z.t.keys {
			fn(k, in.Z.t.vals[i])
		}
	case in.S != nil:
		for i := range in.S.Len() {
			fn(in.S.at(i), 1)
		}
	}
}

func (in ZInput) score(m string) (float64, bool) {
	switch {
	case in.Z != nil:
		return in.Z.Score([]byte(m))
	case in.S != nil:
		return 1, in.S.Has([]byte(m))
	}
	return 0, false
}

// weighted multiplies as Redis does, turning NaN (inf × 0) into 0.
func weighted(score, weight float64) float64 {
	if v := score * weight; !math.IsNaN(v) {
		return v
	}
	return 0
}

// aggregate is zunionInterAggregate: a sum of inf and -inf is 0.
func aggregate(acc, v float64, agg Aggregate) float64 {
	switch agg {
	case AggMin: // as Redis compares: -0 does not replace 0, nor 0 -0
		if v < acc {
			return v
		}
		return acc
	case AggMax:
		if v > acc {
			return v
		}
		return acc
	}
	if s := acc + v; !math.IsNaN(s) {
		return s
	}
	return 0
}

// bySizeZ orders inputs by size, stably, as Redis's qsort does before
// ZUNION and ZINTER (the order decides how sums round).
func bySizeZ(ins []ZInput) []ZInput {
	sorted := slices.Clone(ins)
	slices.SortStableFunc(sorted, func(a, b ZInput) int { return a.len() - b.len() })
	return sorted
}

// ZUnion, ZInter and ZDiff return a skiplist, as Redis replies from;
// call Shrink on it before storing it.

// ZUnion returns the union of the inputs with weights and aggregate.
func ZUnion(ins []ZInput, agg Aggregate) *ZSet {
	acc := make(map[string]float64)
	var order []string
	for _, in := range bySizeZ(ins) {
		in.each(func(m string, s float64) {
			v := weighted(s, in.Weight)
			if cur, ok := acc[m]; ok {
				acc[m] = aggregate(cur, v, agg)
				return
			}
			acc[m] = v
			order = append(order, m)
		})
	}
	dst := newResultZSet()
	for _, m := range order {
		dst.Add([]byte(m), acc[m], ZAddFlags{})
	}
	return dst
}

// ZInter returns the intersection of the inputs with weights and
// aggregate.
func ZInter(ins []ZInput, agg Aggregate) *ZSet {
	dst := newResultZSet()
	if len(ins) == 0 {
		return dst
	}
	sorted := bySizeZ(ins)
	sorted[0].each(func(m string, s float64) {
		v := weighted(s, sorted[0].Weight)
		for _, o := range sorted[1:] {
			os, ok := o.score(m)
			if !ok {
				return
			}
			// Redis zeroes a NaN product (inf × 0) of the first input
			// only; for the others the NaN goes to the aggregate.
			v = aggregate(v, os*o.Weight, agg)
		}
		dst.Add([]byte(m), v, ZAddFlags{})
	})
	return dst
}

// ZDiff returns the first input's members that no other input holds, with
// their scores.
func ZDiff(ins []ZInput) *ZSet {
	dst := newResultZSet()
	if len(ins) == 0 {
		return dst
	}
	ins[0].each(func(m string, s float64) {
		for _, o := range ins[1:] {
			if _, ok := o.score(m); ok {
				return
			}
		}
		dst.Add([]byte(m), s, ZAddFlags{})
	})
	return dst
}

// FromEntries builds a sorted set from entries (ZRANGESTORE and the like),
// starting as a listpack as Redis does.
func FromEntries(es []ZEntry) *ZSet {
	dst := NewZSet()
	for _, e := range es {
		dst.Add([]byte(e.Member), e.Score, ZAddFlags{})
	}
	return dst
}
