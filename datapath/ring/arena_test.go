package ring

import (
	"bytes"
	"testing"
)

func TestArenaFIFOReuseAndWrap(t *testing.T) {
	a, err := NewArena(100)
	if err != nil {
		t.Fatal(err)
	}
	if a.Size() != 128 {
		t.Fatalf("Size = %d, want 128", a.Size())
	}
	type alloc struct {
		b   []byte
		end uint64
		v   byte
	}
	var live []alloc
	v := byte(0)
	for i := range 1000 {
		n := 1 + (i*7)%64
		b, end, ok := a.Alloc(n)
		if !ok {
			if len(live) == 0 {
				t.Fatalf("alloc %d of %d bytes failed on an empty arena", i, n)
			}
			// Free the oldest and check it was not overwritten.
			old := live[0]
			if !bytes.Equal(old.b, bytes.Repeat([]byte{old.v}, len(old.b))) {
				t.Fatalf("allocation overwritten before it was freed")
			}
			a.Free(old.end)
			live = live[1:]
			continue
		}
		if len(b) != n || cap(b) != n {
			t.Fatalf("Alloc(%d) returned len %d cap %d", n, len(b), cap(b))
		}
		v++
		for j := range b {
			b[j] = v
		}
		live = append(live, alloc{b, end, v})
	}
	if _, _, ok := a.Alloc(129); ok {
		t.Fatal("Alloc larger than the arena succeeded")
	}
}
