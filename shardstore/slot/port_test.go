package slot

import "testing"

func TestPortForAimsAtOwner(t *testing.T) {
	for _, loops := range []int{1, 2, 3, 4, 7} {
		for owner := range loops {
			for _, from := range []uint16{0, 1, 2, 3, 32768, 32769, 40001, 60999} {
				p, ok := PortFor(from, owner, loops)
				if !ok {
					t.Fatalf("PortFor(%d, %d, %d) found none", from, owner, loops)
				}
				if p < from || PortOwner(p, loops) != owner {
					t.Fatalf("PortFor(%d, %d, %d) = %d (owner %d)", from, owner, loops, p, PortOwner(p, loops))
				}
				// Smallest: no port in [from, p) belongs to owner.
				for q := int(from); q < int(p); q++ {
					if PortOwner(uint16(q), loops) == owner {
						t.Fatalf("PortFor(%d, %d, %d) = %d, but %d is smaller", from, owner, loops, p, q)
					}
				}
			}
		}
	}
	if _, ok := PortFor(65535, 0, 2); ok && PortOwner(65535, 2) != 0 {
		t.Fatal("PortFor past 65535 claimed a port")
	}
}

// Plain Linux clients get even ephemeral ports from connect(): the rule must
// still spread them over every loop.
func TestPortOwnerSpreadsEvenPorts(t *testing.T) {
	for _, loops := range []int{2, 4, 6} {
		per := make([]int, loops)
		for p := 32768; p < 61000; p += 2 {
			per[PortOwner(uint16(p), loops)]++
		}
		for i, n := range per {
			if n == 0 || n*loops*10 < (61000-32768)/2*9 {
				t.Errorf("loops=%d: even ports reach loop %d %d times of %d", loops, i, n, (61000-32768)/2)
			}
		}
	}
}
