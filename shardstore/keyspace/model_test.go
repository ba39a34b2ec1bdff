package keyspace

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/dorivo/dorivo/shardstore/slot"
)

// modelEntry is the obviously correct model of one key.
type modelEntry struct {
	val string
	exp int64
}

// FuzzModel drives a Keyspace and a plain map with the same random
// operations and requires the same observable state and the internal
// invariants after each one.
func FuzzModel(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13})
	f.Add([]byte("set get expire scan flush append setrange"))
	f.Fuzz(func(t *testing.T, ops []byte) {
		ks := New()
		if len(ops)%2 == 1 {
			ks.hashMask = 3 // equal tags: probes and deletion shifts meet them
		}
		model := map[string]modelEntry{}
		now := int64(100)
		live := func(k string) (modelEntry, bool) {
			e, ok := model[k]
			if ok && e.exp != 0 && e.exp <= now {
				delete(model, k)
				return modelEntry{}, false
			}
			return e, ok
		}
		for i := 0; i+1 < len(ops); i += 2 {
			op, arg := ops[i]%12, ops[i+1]
			key := fmt.Sprintf("{%d}k%d", arg%3, arg%7)
			kb := []byte(key)
			if stamp, cold := ks.ColdStamp(kb); cold && op != 10 && (op != 2 || arg%2 == 0) {
				// The owner fills a cold value before a command uses it
				// (a DEL with an odd arg runs on the cold key).
				if e, ok := model[key]; !ok || !ks.Fill(kb, []byte(e.val), stamp) {
					t.Fatalf("cold %s cannot be filled (model has it: %v)", key, ok)
				}
			}
			switch op {
			case 0: // set, sometimes with an expiry
				exp := int64(0)
				if arg%2 == 1 {
					exp = now + int64(arg%5)
				}
				ks.Set(kb, []byte{arg}, exp)
				model[key] = modelEntry{string([]byte{arg}), exp}
			case 1:
				v, ok := ks.Get(kb, now)
				e, mok := live(key)
				if ok != mok || string(v) != e.val {
					t.Fatalf("Get(%s) = %q,%v; model %q,%v", key, v, ok, e.val, mok)
				}
			case 2:
				if got, want := ks.Delete(kb, now), func() bool { _, ok := live(key); delete(model, key); return ok }(); got != want {
					t.Fatalf("Delete(%s) = %v, want %v", key, got, want)
				}
			case 3:
				exp := now + int64(arg%4)
				if arg%4 == 0 {
					exp = 0
				}
				_, ok := live(key)
				if got := ks.SetExpire(kb, exp, now); got != ok {
					t.Fatalf("SetExpire(%s) = %v, want %v", key, got, ok)
				}
				if ok {
					e := model[key]
					e.exp = exp
					model[key] = e
				}
			case 4:
				now += int64(arg % 3)
			case 5:
				ks.ExpireStep(now, int(arg%30))
			case 6:
				v := ks.Append(kb, []byte{arg}, now)
				e, _ := live(key)
				e.val += string([]byte{arg})
				model[key] = e
				if string(v) != e.val {
					t.Fatalf("Append = %q, want %q", v, e.val)
				}
			case 7:
				off := int(arg % 5)
				v := ks.SetRange(kb, off, []byte{arg}, now)
				e, _ := live(key)
				b := []byte(e.val)
				for len(b) < off+1 {
					b = append(b, 0)
				}
				b[off] = arg
				e.val = string(b)
				model[key] = e
				if string(v) != e.val {
					t.Fatalf("SetRange = %q, want %q", v, e.val)
				}
			case 8:
				if arg%5 == 0 {
					ks.Flush()
					clear(model)
				} else {
					s := slotOf(key)
					ks.FlushSlot(s)
					for k := range model {
						if slotOf(k) == s {
							delete(model, k)
						}
					}
				}
			case 10: // drop values written at or before stamp arg%4
				clean := uint64(arg % 4)
				wasCold := map[string]bool{}
				ks.Each(func(k, _ []byte, _ int64) { wasCold[string(k)] = ks.IsCold(k) })
				ks.Evict(int64(arg%16), clean, 1+int(arg%8), nil)
				for _, order := range &ks.slots {
					for _, id := range order {
						e := ks.ent(id)
						if e.isCold() && !wasCold[string(e.key())] && e.stamp > clean {
							t.Fatalf("Evict(clean %d) dropped %q stamped %d", clean, e.key(), e.stamp)
						}
					}
				}
			case 11:
				ks.Stamp = uint64(arg % 6)
			case 9: // a full SCAN sees exactly the live keys
				seen := map[string]bool{}
				for c, first := uint64(0), true; first || c != 0; first = false {
					c = ks.Scan(c, 1+int(arg%4), now, func(k, _ []byte) { seen[string(k)] = true })
				}
				var got, want []string
				for k := range seen {
					got = append(got, k)
				}
				for k := range model {
					if _, ok := live(k); ok {
						want = append(want, k)
					}
				}
				sort.Strings(got)
				sort.Strings(want)
				if strings.Join(got, ",") != strings.Join(want, ",") {
					t.Fatalf("SCAN saw %v, live keys %v", got, want)
				}
			}
			check(t, ks)
		}
	})
}

func slotOf(k string) uint16 { return slot.Of([]byte(k)) }
