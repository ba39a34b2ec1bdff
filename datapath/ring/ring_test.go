package ring

import (
	"runtime"
	"sync"
	"testing"
)

type item struct {
	seq  uint64
	data [3]uint64
}

func TestCapacityRoundsUp(t *testing.T) {
	for _, tc := range []struct{ in, want int }{{1, 2}, {2, 2}, {3, 4}, {1000, 1024}, {1024, 1024}} {
		r, err := New[item](tc.in, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.Cap() != tc.want {
			t.Errorf("New(%d).Cap() = %d, want %d", tc.in, r.Cap(), tc.want)
		}
	}
	if _, err := New[item](0, nil, nil); err == nil {
		t.Error("New(0) succeeded")
	}
}

func TestFIFOFullAndWraparound(t *testing.T) {
	r, _ := New[item](4, nil, nil)
	next, want := uint64(0), uint64(0)
	for round := range 100 {
		pushed := 0
		for r.Push(item{seq: next}) {
			next++
			pushed++
		}
		if round == 0 && pushed != 4 {
			t.Fatalf("pushed %d into an empty ring of 4", pushed)
		}
		// Pop a varying number so head and tail wrap at different phases.
		for range 1 + round%4 {
			v, ok := r.Pop()
			if !ok {
				t.Fatalf("round %d: Pop on a non-empty ring failed", round)
			}
			if v.seq != want {
				t.Fatalf("round %d: got seq %d, want %d", round, v.seq, want)
			}
			want++
		}
	}
	for {
		v, ok := r.Pop()
		if !ok {
			break
		}
		if v.seq != want {
			t.Fatalf("drain: got seq %d, want %d", v.seq, want)
		}
		want++
	}
	if want != next {
		t.Fatalf("popped %d items, pushed %d", want, next)
	}
}

func TestStageIsInvisibleUntilFlush(t *testing.T) {
	var rings int
	bell := NewDoorbell(func() { rings++ })
	r, _ := New[item](8, bell, nil)
	for i := range 5 {
		if !r.Stage(&item{seq: uint64(i)}) {
			t.Fatal("Stage failed on a non-full ring")
		}
	}
	if r.Len() != 0 {
		t.Fatalf("consumer sees %d staged items before Flush", r.Len())
	}
	r.Flush()
	r.Flush()
	if r.Len() != 5 || rings != 1 {
		t.Fatalf("after Flush: Len %d (want 5), doorbell rang %d times (want 1)", r.Len(), rings)
	}
	// A second batch while the first wakeup is unacknowledged is coalesced.
	r.PushBatch([]item{{seq: 5}, {seq: 6}})
	if rings != 1 {
		t.Fatalf("unacknowledged doorbell rang again: %d", rings)
	}
	bell.Ack()
	buf := make([]item, 16)
	if n := r.PopBatch(buf); n != 7 || buf[6].seq != 6 {
		t.Fatalf("PopBatch = %d (last %d), want 7 ending in 6", n, buf[n-1].seq)
	}
	r.Push(item{seq: 7})
	if rings != 2 {
		t.Fatalf("doorbell after Ack rang %d times, want 2", rings)
	}
}

func TestParkIsWokenBySpace(t *testing.T) {
	var woken int
	space := NewDoorbell(func() { woken++ })
	r, _ := New[item](2, nil, space)
	r.Push(item{})
	if r.Park() {
		t.Fatal("Park succeeded with a free slot")
	}
	r.Push(item{})
	if !r.Park() {
		t.Fatal("Park on a full ring reported room")
	}
	r.Pop()
	if woken != 1 {
		t.Fatalf("space doorbell rang %d times, want 1", woken)
	}
	r.Pop()
	if woken != 1 {
		t.Fatalf("space doorbell rang again without a new Park: %d", woken)
	}
	space.Ack()
	r.Push(item{})
	r.Push(item{})
	if !r.Park() {
		t.Fatal("second Park on a full ring reported room")
	}
	r.Pop()
	if woken != 2 {
		t.Fatalf("space doorbell after Ack and Park rang %d times, want 2", woken)
	}
}

// TestConcurrentSPSC runs a producer and a consumer goroutine that sleep on
// their doorbells, with a ring much smaller than the stream; run with -race.
// Every item must arrive once, in order, with its payload intact.
func TestConcurrentSPSC(t *testing.T) {
	const total = 200000
	wakeC := make(chan struct{}, 1)
	spaceC := make(chan struct{}, 1)
	notify := func(c chan struct{}) func() {
		return func() {
			select {
			case c <- struct{}{}:
			default:
			}
		}
	}
	bell, space := NewDoorbell(notify(wakeC)), NewDoorbell(notify(spaceC))
	r, _ := New[item](64, bell, space)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // producer: batches of varying size
		defer wg.Done()
		for seq := uint64(0); seq < total; {
			n := 0
			for n < int(seq%37)+1 && seq < total {
				v := item{seq: seq, data: [3]uint64{seq * 3, ^seq, seq + 7}}
				if !r.Stage(&v) {
					break
				}
				seq++
				n++
			}
			r.Flush()
			if n == 0 {
				space.Ack() // this goroutine is the space bell's consumer
				if r.Park() {
					<-spaceC
				}
			}
		}
	}()
	buf := make([]item, 16)
	want := uint64(0)
	for want < total {
		bell.Ack()
		n := r.PopBatch(buf)
		for _, v := range buf[:n] {
			if v.seq != want || v.data != [3]uint64{want * 3, ^want, want + 7} {
				t.Fatalf("got %+v, want seq %d", v, want)
			}
			want++
		}
		if n == 0 {
			select {
			case <-wakeC:
			default:
				runtime.Gosched()
			}
		}
	}
	wg.Wait()
	if r.Len() != 0 {
		t.Fatalf("%d items left", r.Len())
	}
	t.Logf("%d items, %d consumer wakeups, %d producer wakeups", total, bell.Rings(), space.Rings())
}
