package keyspace

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/dorivo/dorivo/shardstore/slot"
)

// scanAll runs a whole SCAN with count per call, calling between after
// each call, and returns every key seen and the number of calls.
func scanAll(t *testing.T, ks *Keyspace, count int, now int64, between func()) (map[string]int, int) {
	t.Helper()
	seen := map[string]int{}
	calls := 0
	for c, first := uint64(0), true; first || c != 0; first = false {
		c = ks.Scan(c, count, now, func(k, _ []byte) { seen[string(k)]++ })
		if calls++; calls > 100_000 {
			t.Fatal("SCAN does not terminate")
		}
		if between != nil {
			between()
		}
	}
	return seen, calls
}

func TestScanOneKey(t *testing.T) {
	for _, key := range []string{"k", "foo", "{zzz}x", "key:000000000001"} {
		ks := New()
		ks.Set([]byte(key), []byte("v"), 0)
		var got []string
		next := ks.Scan(0, 10, 0, func(k, _ []byte) { got = append(got, string(k)) })
		if next != 0 || len(got) != 1 || got[0] != key {
			t.Fatalf("SCAN 0 over %q (slot %d) = cursor %d, %q; want 0 and the key", key, slot.Of([]byte(key)), next, got)
		}
	}
	if next := New().Scan(0, 10, 0, func(k, _ []byte) { t.Fatalf("empty keyspace visited %q", k) }); next != 0 {
		t.Fatalf("SCAN 0 of an empty keyspace = %d", next)
	}
}

// TestScanFillsCount checks that a call passes over empty slots: with keys
// in slots far apart, every call but the last returns exactly count keys.
func TestScanFillsCount(t *testing.T) {
	ks := New()
	for i := range 100 {
		ks.Set(fmt.Appendf(nil, "{%d}k", i*97), nil, 0) // about 100 distinct slots
	}
	for _, count := range []int{1, 3, 7, 10, 99, 100, 1000} {
		total := 0
		for c, first := uint64(0), true; first || c != 0; first = false {
			n := 0
			c = ks.Scan(c, count, 0, func(_, _ []byte) { n++ })
			total += n
			if c != 0 && n != count {
				t.Fatalf("COUNT %d: a call returned %d keys and cursor %d", count, n, c)
			}
		}
		if total != 100 {
			t.Fatalf("COUNT %d: scan returned %d keys, want 100", count, total)
		}
	}
}

// TestScanGuaranteeChurn checks Redis's guarantee under inserts and deletes
// between calls, in spread slots and in one slot (a tenant confined to one
// tag), and with the index growing meanwhile: every key present from start
// to end is returned, no key is returned that was never present, and the
// scan ends within the calls its keys need.
func TestScanGuaranteeChurn(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for round := range 30 {
		format := "k%d"
		if round%2 == 1 {
			format = "{tenant}k%d"
		}
		key := func(i int) []byte { return fmt.Appendf(nil, format, i) }
		ks := New()
		const initial = 3000
		for i := range initial {
			ks.Set(key(i), nil, 0)
		}
		everPresent := map[string]bool{}
		for i := range initial {
			everPresent[string(key(i))] = true
		}
		deleted := map[string]bool{}
		next := initial
		count := 1 + r.IntN(40)
		inserts := 0
		seen, calls := scanAll(t, ks, count, 0, func() {
			for range 10 {
				if i := r.IntN(next); i%4 != 0 && ks.Delete(key(i), 0) {
					deleted[string(key(i))] = true
				}
				if r.IntN(2) == 0 {
					ks.Set(key(next), nil, 0)
					everPresent[string(key(next))] = true
					next++
					inserts++
				}
			}
		})
		for i := range initial {
			if k := string(key(i)); !deleted[k] && seen[k] == 0 {
				t.Fatalf("round %d: key %s present throughout was not returned", round, k)
			}
		}
		for k := range seen {
			if !everPresent[k] {
				t.Fatalf("round %d: SCAN returned %s, never present", round, k)
			}
		}
		// Each call but the last visits count positions, and each position
		// holds a key present at some point.
		if limit := (initial+inserts)/count + 2; calls > limit {
			t.Fatalf("round %d: %d calls for %d keys at COUNT %d", round, calls, initial+inserts, count)
		}
		check(t, ks)
	}
}

// TestScanDuringIndexGrowth scans while inserts drive the index through
// several doublings (and migrations) between calls.
func TestScanDuringIndexGrowth(t *testing.T) {
	ks := New()
	for i := range 100 {
		ks.Set(fmt.Appendf(nil, "s%d", i), nil, 0)
	}
	next := 0
	grew := 0
	seen, _ := scanAll(t, ks, 5, 0, func() {
		if next >= 12_000 { // then let the scan catch up and end
			return
		}
		was := len(ks.cur)
		for range 200 {
			ks.Set(fmt.Appendf(nil, "n%d", next), nil, 0)
			next++
		}
		if len(ks.cur) != was {
			grew++
		}
	})
	for i := range 100 {
		if seen[fmt.Sprintf("s%d", i)] == 0 {
			t.Fatalf("key s%d not returned", i)
		}
	}
	if grew < 3 {
		t.Fatalf("the index grew %d times during the scan, want at least 3", grew)
	}
	check(t, ks)
}

// TestCountsExact drives random writes, deletes, expiries and slot flushes
// and requires Len (DBSIZE, counting expired keys not yet reclaimed, as
// Redis does) and every SlotLen to equal a model's counts.
func TestCountsExact(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	ks := New()
	type m struct{ exp int64 }
	model := map[string]m{}
	now := int64(1000)
	tags := []string{"a", "b", "c", "d", "e"}
	for step := range 40_000 {
		k := fmt.Sprintf("{%s}%d", tags[r.IntN(len(tags))], r.IntN(3000))
		if r.IntN(7) == 0 {
			k = fmt.Sprintf("x%d", r.IntN(3000)) // spread slots
		}
		kb := []byte(k)
		switch op := r.IntN(10); {
		case op < 4:
			exp := int64(0)
			if r.IntN(3) == 0 {
				exp = now + int64(r.IntN(50))
			}
			ks.Set(kb, []byte("v"), exp)
			model[k] = m{exp}
		case op < 6:
			ks.Delete(kb, now)
			delete(model, k)
		case op == 6:
			now += int64(r.IntN(5))
		case op == 7: // reads delete expired keys they find
			me, had := model[k]
			want := had && (me.exp == 0 || me.exp > now)
			if _, ok := ks.Get(kb, now); ok != want {
				t.Fatalf("Get(%s) = %v, model %v", k, ok, want)
			}
			if !want {
				delete(model, k)
			}
		case op == 8:
			for range 3 {
				ks.ExpireStep(now, 20)
			}
			// Which keys sampling removed is random: resync the model from
			// the keyspace, whose exactness against it is checked below.
			for mk, me := range model {
				switch {
				case me.exp != 0 && me.exp <= now && !ks.present(mk):
					delete(model, mk)
				case !ks.present(mk):
					t.Fatalf("ExpireStep deleted %s, live until %d, at %d", mk, me.exp, now)
				}
			}
		case op == 9 && step%50 == 0:
			s := slot.Of(kb)
			n := ks.FlushSlot(s)
			want := 0
			for mk := range model {
				if slot.Of([]byte(mk)) == s {
					delete(model, mk)
					want++
				}
			}
			if n != want {
				t.Fatalf("FlushSlot = %d, model had %d", n, want)
			}
		}
		if ks.Len() != len(model) {
			t.Fatalf("step %d: Len = %d, model %d", step, ks.Len(), len(model))
		}
		if step%1000 == 0 {
			perSlot := map[uint16]int{}
			for mk := range model {
				perSlot[slot.Of([]byte(mk))]++
			}
			for s := range slot.Count {
				if got, want := ks.SlotLen(uint16(s)), perSlot[uint16(s)]; got != want {
					t.Fatalf("step %d: SlotLen(%d) = %d, model %d", step, s, got, want)
				}
			}
			check(t, ks)
		}
	}
}

// present reports whether key has an entry, live or expired (tests only).
func (ks *Keyspace) present(key string) bool {
	_, ok := ks.lookup([]byte(key))
	return ok
}
