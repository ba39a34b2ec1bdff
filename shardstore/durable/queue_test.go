package durable

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
)

// stallDriver proposes a write whose done callback blocks the driver
// goroutine until the returned release is called.
func stallDriver(t *testing.T, s *Store) (release func()) {
	t.Helper()
	entered, gate := make(chan struct{}), make(chan struct{})
	s.Propose(0, AppendSet(nil, []byte("stall"), []byte("x"), 0), func(_ uint64, err error) {
		if err != nil {
			t.Errorf("stall write: %v", err)
		}
		close(entered)
		<-gate
	})
	<-entered
	return func() { close(gate) }
}

// A full queue refuses at once, on the caller's goroutine, instead of
// blocking it; what was queued is still written.
func TestFullQueueRefusesWithoutBlocking(t *testing.T) {
	const size = 8
	s := openStore(t, t.TempDir(), Options{QueueSize: size})
	defer s.Close()
	release := stallDriver(t, s)
	var queued []<-chan result
	for i := range size {
		queued = append(queued, proposeAsync(s, []byte(fmt.Sprint(i)), AppendSet(nil, []byte(fmt.Sprint(i)), []byte("v"), 0)))
	}
	var got error
	returned := false
	s.Propose(0, AppendSet(nil, []byte("over"), []byte("v"), 0), func(_ uint64, err error) {
		if returned {
			t.Error("refusal delivered after Propose returned, want synchronously")
		}
		got = err
	})
	returned = true
	if !errors.Is(got, ErrOverloaded) {
		t.Fatalf("proposal beyond a full queue: %v, want ErrOverloaded", got)
	}
	release()
	for i, ch := range queued {
		if r := wait(t, ch); r.err != nil {
			t.Fatalf("queued write %d: %v", i, r.err)
		}
	}
	if st := s.Stats(); st.Rejected != 1 {
		t.Fatalf("stats %+v, want 1 rejected", st)
	}
}

// Close answers every proposal exactly once: written, or ErrClosed.
func TestCloseAnswersEveryProposalOnce(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	release := stallDriver(t, s)
	const n = 100
	var calls [n]atomic.Int32
	var idx [n]atomic.Uint64
	for i := range n {
		k := []byte(fmt.Sprint("k", i))
		s.Propose(0, AppendSet(nil, k, []byte("v"), 0), func(index uint64, err error) {
			calls[i].Add(1)
			switch {
			case err == nil:
				idx[i].Store(index)
			case !errors.Is(err, ErrClosed):
				t.Errorf("k%d: %v", i, err)
			}
		})
	}
	closed := make(chan error)
	go func() { closed <- s.Close() }()
	release()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	var late error
	s.Propose(0, []byte("x"), func(_ uint64, err error) { late = err })
	if !errors.Is(late, ErrClosed) {
		t.Fatalf("Propose after Close: %v", late)
	}
	s = openStore(t, dir, Options{})
	defer s.Close()
	for i := range n {
		if c := calls[i].Load(); c != 1 {
			t.Fatalf("k%d: done called %d times", i, c)
		}
		_, ok := mustGet(t, s, fmt.Sprint("k", i))
		if acked := idx[i].Load() != 0; acked && !ok {
			t.Fatalf("k%d acknowledged but lost", i)
		}
	}
}
