package collection

import (
	"cmp"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// Property tests: each structure against a plain model (map, slice,
// sorted slice) under random operations, across the encoding change.

func TestHashMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 10))
	h, model := NewHash(), map[string]string{}
	var order []string // insertion order while a listpack
	for step := range 20000 {
		f := fmt.Sprint("f", rng.IntN(1500))
		if rng.IntN(3) == 0 {
			_, had := model[f]
			if h.Delete([]byte(f)) != had {
				t.Fatalf("step %d: Delete(%s) disagrees", step, f)
			}
			delete(model, f)
			order = slices.DeleteFunc(order, func(s string) bool { return s == f })
		} else {
			v := fmt.Sprint("v", step)
			_, had := model[f]
			if h.Set([]byte(f), []byte(v)) == had {
				t.Fatalf("step %d: Set(%s) created=%v, model had=%v", step, f, !had, had)
			}
			model[f] = v
			if !had {
				order = append(order, f)
			}
		}
		if h.Len() != len(model) {
			t.Fatalf("step %d: Len %d, model %d", step, h.Len(), len(model))
		}
		if v, ok := h.Get([]byte(f)); ok != (model[f] != "") || v != model[f] {
			t.Fatalf("step %d: Get(%s) = %q %v, model %q", step, f, v, ok, model[f])
		}
		if h.Encoding() == "listpack" {
			if got := slices.Collect(func(y func(string) bool) {
				for k := range h.All() {
					if !y(k) {
						return
					}
				}
			}); !slices.Equal(got, order) {
				t.Fatalf("step %d: listpack order %v, want %v", step, got, order)
			}
		}
	}
	if h.Encoding() != "hashtable" {
		t.Fatalf("encoding %s after %d fields", h.Encoding(), len(model))
	}
	got := maps.Collect(h.All())
	if !maps.Equal(got, model) {
		t.Fatal("All differs from the model")
	}
}

func TestListMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 11))
	l := NewList()
	var model []string
	for step := range 30000 {
		v := fmt.Sprint(rng.IntN(6))
		switch rng.IntN(9) {
		case 0, 1:
			l.PushLeft([]byte(v))
			model = slices.Insert(model, 0, v)
		case 2, 3:
			l.PushRight([]byte(v))
			model = append(model, v)
		case 4:
			e, ok := l.PopLeft()
			if ok != (len(model) > 0) || (ok && e != model[0]) {
				t.Fatalf("step %d: PopLeft %q %v", step, e, ok)
			}
			if ok {
				model = model[1:]
			}
		case 5:
			e, ok := l.PopRight()
			if ok != (len(model) > 0) || (ok && e != model[len(model)-1]) {
				t.Fatalf("step %d: PopRight %q %v", step, e, ok)
			}
			if ok {
				model = model[:len(model)-1]
			}
		case 6:
			at := l.Insert(rng.IntN(2) == 0, []byte(v), []byte("x"+v))
			if i := slices.Index(model, v); (i < 0) != (at < 0) || (at >= 0 && at != i && at != i+1) {
				t.Fatalf("step %d: Insert at %d, pivot at %d", step, at, i)
			}
			if at >= 0 {
				model = slices.Insert(model, at, "x"+v)
			}
		case 7:
			n := rng.IntN(5) - 2
			removed, first := l.Remove(n, []byte(v))
			want, wantFirst := modelRemove(&model, n, v)
			if removed != want || first != wantFirst {
				t.Fatalf("step %d: Remove(%d, %s) = %d from %d, model %d from %d", step, n, v, removed, first, want, wantFirst)
			}
		case 8:
			if rng.IntN(20) == 0 {
				a, b := rng.IntN(40)-20, rng.IntN(40)-20
				l.Trim(a, b)
				lo, hi, ok := RangeBounds(a, b, len(model))
				if !ok {
					model = nil
				} else {
					model = slices.Clone(model[lo : hi+1])
				}
			}
		}
		if step%97 == 0 || l.Len() < 10 {
			if !slices.Equal(l.All(), model) && !(l.Len() == 0 && len(model) == 0) {
				t.Fatalf("step %d: list %v, model %v", step, l.All(), model)
			}
		}
	}
}

func modelRemove(model *[]string, count int, v string) (removed, first int) {
	m := *model
	first = -1
	var keep []string
	idx := make([]int, 0)
	for i, e := range m {
		if e == v {
			idx = append(idx, i)
		}
	}
	if count > 0 && len(idx) > count {
		idx = idx[:count]
	} else if count < 0 && len(idx) > -count {
		idx = idx[len(idx)+count:]
	}
	for i, e := range m {
		if slices.Contains(idx, i) {
			if first < 0 {
				first = i
			}
			continue
		}
		keep = append(keep, e)
	}
	*model = keep
	if first < 0 {
		first = len(keep)
	}
	return len(idx), min(first, len(keep))
}

func TestSetMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 12))
	s, model := NewSet(), map[string]bool{}
	for step := range 20000 {
		m := fmt.Sprint(rng.IntN(800))
		if step > 15000 && rng.IntN(50) == 0 {
			m = "x" + m
		}
		if rng.IntN(3) == 0 {
			if s.Remove([]byte(m)) != model[m] {
				t.Fatalf("step %d: Remove(%s)", step, m)
			}
			delete(model, m)
		} else {
			if s.Add([]byte(m)) == model[m] {
				t.Fatalf("step %d: Add(%s)", step, m)
			}
			model[m] = true
		}
		if s.Has([]byte(m)) != model[m] || s.Len() != len(model) {
			t.Fatalf("step %d: Has/Len disagree", step)
		}
		if step == 1000 && s.Encoding() != "intset" {
			t.Fatalf("step %d: %d integers encoded %s", step, s.Len(), s.Encoding())
		}
	}
	if s.Encoding() != "hashtable" {
		t.Fatal("no hashtable after non-integers")
	}
	got := s.Members()
	slices.Sort(got)
	if !slices.Equal(got, slices.Sorted(maps.Keys(model))) {
		t.Fatal("Members differ from the model")
	}
	// SPOP takes distinct members and removes them.
	popped := s.Pop(rng, 100)
	for _, p := range popped {
		if s.Has([]byte(p)) || !model[p] {
			t.Fatalf("popped %s still there or never was", p)
		}
	}
	if len(popped) != 100 || len(uniq(popped)) != 100 {
		t.Fatalf("Pop(100) gave %d, %d distinct", len(popped), len(uniq(popped)))
	}
}

func uniq(ss []string) map[string]bool {
	m := map[string]bool{}
	for _, s := range ss {
		m[s] = true
	}
	return m
}

func TestZSetMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 13))
	z, model := NewZSet(), map[string]float64{}
	sorted := func() []ZEntry {
		es := make([]ZEntry, 0, len(model))
		for m, s := range model {
			es = append(es, ZEntry{m, s})
		}
		slices.SortFunc(es, func(a, b ZEntry) int {
			return cmp.Or(cmp.Compare(a.Score, b.Score), cmp.Compare(a.Member, b.Member))
		})
		return es
	}
	for step := range 20000 {
		m := fmt.Sprint("m", rng.IntN(400))
		sc := float64(rng.IntN(50) - 25)
		switch rng.IntN(4) {
		case 0:
			_, had := model[m]
			if z.Remove([]byte(m)) != had {
				t.Fatalf("step %d: Remove", step)
			}
			delete(model, m)
		default:
			res, _ := z.Add([]byte(m), sc, ZAddFlags{})
			_, had := model[m]
			if res.Added == had {
				t.Fatalf("step %d: Add added=%v, had=%v", step, res.Added, had)
			}
			model[m] = sc
		}
		if step%101 != 0 {
			continue
		}
		want := sorted()
		if got := z.All(); !slices.Equal(got, want) {
			t.Fatalf("step %d: order differs", step)
		}
		for range 5 {
			i := rng.IntN(len(want) + 1)
			if i < len(want) {
				if r, ok := z.Rank([]byte(want[i].Member), false); !ok || r != i {
					t.Fatalf("step %d: Rank(%s) = %d, want %d", step, want[i].Member, r, i)
				}
			}
			a, b := rng.IntN(60)-30, rng.IntN(60)-30
			lo, hi, ok := RangeBounds(a, b, len(want))
			got := z.RangeByRank(a, b, false)
			if !ok && got != nil || ok && !slices.Equal(got, want[lo:hi+1]) {
				t.Fatalf("step %d: RangeByRank(%d, %d)", step, a, b)
			}
			rg := ScoreRange{ScoreBound{float64(a), rng.IntN(2) == 0}, ScoreBound{float64(b), rng.IntN(2) == 0}}
			var inRange []ZEntry
			for _, e := range want {
				if rg.aboveMin(e.Score) && rg.belowMax(e.Score) {
					inRange = append(inRange, e)
				}
			}
			if got := z.RangeByScore(rg, false, 0, -1); !slices.Equal(got, inRange) {
				t.Fatalf("step %d: RangeByScore %v: %v, want %v", step, rg, got, inRange)
			}
			rev := slices.Clone(inRange)
			slices.Reverse(rev)
			off, cnt := rng.IntN(4), rng.IntN(4)
			if got, w := z.RangeByScore(rg, true, off, cnt), rev[min(off, len(rev)):min(off+cnt, len(rev))]; !slices.Equal(got, w) && len(w)+len(got) > 0 {
				t.Fatalf("step %d: reverse RangeByScore LIMIT %d %d: %v, want %v", step, off, cnt, got, w)
			}
		}
	}
	if z.Encoding() != "skiplist" {
		t.Fatalf("encoding %s with %d members", z.Encoding(), z.Len())
	}
}

// A member present for a whole scan is returned at least once, however
// the set changes meanwhile.
func TestScanReturnsEveryStayingMember(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 14))
	for round := range 50 {
		h := NewHash()
		for i := range 600 + rng.IntN(400) {
			h.Set(fmt.Appendf(nil, "f%d", i), []byte("v"))
		}
		staying := map[string]bool{}
		for k := range h.All() {
			if rng.IntN(2) == 0 {
				staying[k] = true
			}
		}
		seen := map[string]bool{}
		cur := uint64(0)
		for {
			cur = h.Scan(cur, 1+rng.IntN(30), func(f, _ string) { seen[f] = true })
			for range rng.IntN(20) { // churn: delete others, add new fields
				f := fmt.Sprint("f", rng.IntN(1000))
				if !staying[f] {
					h.Delete([]byte(f))
				}
				h.Set(fmt.Appendf(nil, "n%d-%d", round, rng.IntN(5000)), []byte("v"))
			}
			if cur == 0 {
				break
			}
		}
		for f := range staying {
			if !seen[f] {
				t.Fatalf("round %d: %s stayed but was not scanned", round, f)
			}
		}
	}
}

func TestRandomCountRules(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 15))
	for _, n := range []int{5, 300, 700} {
		h := NewHash()
		for i := range n {
			h.Set(fmt.Appendf(nil, "f%03d", i), []byte("v"))
		}
		for _, count := range []int{0, 1, 3, n - 1, n, n + 5, -3, -(n + 20)} {
			got := h.Random(rng, count)
			fields := make([]string, len(got))
			for i, p := range got {
				fields[i] = p.Field
			}
			switch {
			case count >= 0 && len(got) != min(count, n):
				t.Fatalf("n=%d count=%d: %d fields", n, count, len(got))
			case count >= 0 && len(uniq(fields)) != len(got):
				t.Fatalf("n=%d count=%d: repeats", n, count)
			case count < 0 && len(got) != -count:
				t.Fatalf("n=%d count=%d: %d fields", n, count, len(got))
			case count > 0 && h.Encoding() == "listpack" && !slices.IsSorted(fields):
				t.Fatalf("n=%d count=%d: listpack sample out of order: %v", n, count, fields)
			}
			for _, f := range fields {
				if _, ok := h.Get([]byte(f)); !ok {
					t.Fatalf("random field %s is not in the hash", f)
				}
			}
		}
	}
	// Negative counts repeat: 2000 draws from 5 fields must.
	h := NewHash()
	for i := range 5 {
		h.Set(fmt.Appendf(nil, "%d", i), nil)
	}
	if got := h.Random(rng, -2000); len(uniq(fieldsOf(got))) != 5 {
		t.Fatalf("2000 draws hit %d of 5 fields", len(uniq(fieldsOf(got))))
	}
}

func fieldsOf(ps []Pair) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Field
	}
	return out
}

func TestMemoryUsageGrowsWithContent(t *testing.T) {
	h, l, s, z := NewHash(), NewList(), NewSet(), NewZSet()
	prev := [4]int{h.MemoryUsage(), l.MemoryUsage(), s.MemoryUsage(), z.MemoryUsage()}
	for i := range 2000 {
		v := fmt.Appendf(nil, "member-%d-%s", i, "0123456789")
		h.Set(v, v)
		l.PushRight(v)
		s.Add(v)
		z.Add(v, float64(i), ZAddFlags{})
	}
	now := [4]int{h.MemoryUsage(), l.MemoryUsage(), s.MemoryUsage(), z.MemoryUsage()}
	for i, name := range []string{"hash", "list", "set", "zset"} {
		// 2000 elements of ≥ 20 bytes each: at least 40 KB more.
		if now[i]-prev[i] < 2000*20 || now[i] > 2000*400 {
			t.Errorf("%s: %d bytes empty, %d with 2000 elements", name, prev[i], now[i])
		}
	}
}
