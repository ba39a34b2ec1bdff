package ring

import (
	"bytes"
	"runtime"
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

type blob struct {
	b   []byte
	end uint64
	seq uint64
}

// TestArenaConcurrent streams variable-size byte messages through a ring
// and an arena between two goroutines (run with -race): every payload
// arrives intact, so the producer never reuses bytes the consumer has not
// freed.
func TestArenaConcurrent(t *testing.T) {
	const total = 100000
	r, _ := New[blob](32, nil, nil)
	a, _ := NewArena(1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for seq := uint64(0); seq < total; {
			n := 1 + int(seq*13%200)
			if r.Free() == 0 { // check the ring first: a staged slot is then certain
				runtime.Gosched()
				continue
			}
			b, end, ok := a.Alloc(n)
			if !ok {
				runtime.Gosched()
				continue
			}
			for i := range b {
				b[i] = byte(seq) + byte(i)
			}
			r.Push(blob{b: b, end: end, seq: seq})
			seq++
		}
	}()
	for want := uint64(0); want < total; {
		v, ok := r.Pop()
		if !ok {
			runtime.Gosched()
			continue
		}
		if v.seq != want {
			t.Fatalf("seq %d, want %d", v.seq, want)
		}
		for i, c := range v.b {
			if c != byte(v.seq)+byte(i) {
				t.Fatalf("message %d byte %d corrupted", v.seq, i)
			}
		}
		a.Free(v.end)
		want++
	}
	<-done
}
