package breaker_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/dorivo/dorivo/breaker"
)

// A breaker for one peer: four calls decide, half of them failing opens it, and an open breaker
// turns calls away at once so the caller can take its fallback.
func Example() {
	peer, err := breaker.New("peer-2", breaker.Config{
		WindowSize:    4,
		MinimumCalls:  4,
		HalfOpenCalls: 2,
		OpenWait:      30 * time.Second, // Dorivo's callers pass seconds; the default is 60 s
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	peer.AddListener(func(t breaker.Transition) {
		fmt.Printf("%s: %v -> %v (%v at %.0f%%), retry in %v\n",
			t.Breaker, t.From, t.To, t.Reason, t.FailureRate, t.OpenFor)
	})
	errTimeout := errors.New("peer timed out")
	for _, result := range []error{nil, errTimeout, nil, errTimeout} {
		if !peer.Allow() {
			fmt.Println("rejected")
			continue
		}
		peer.Record(2*time.Millisecond, result)
	}
	fmt.Println("allowed:", peer.Allow())
	s := peer.Snapshot()
	fmt.Printf("%v, %d of %d calls failed, %d not permitted\n", s.State, s.FailedCalls, s.BufferedCalls, s.NotPermittedCalls)
	// Output:
	// peer-2: closed -> open (failure-rate at 50%), retry in 30s
	// allowed: false
	// open, 2 of 4 calls failed, 1 not permitted
}

// Do times the call itself; an open breaker returns ErrNotPermitted and the caller falls back.
func ExampleBreaker_Do() {
	disk, _ := breaker.New("disk", breaker.Config{})
	disk.TransitionTo(breaker.ForcedOpen) // an operator takes the disk out
	err := disk.Do(func() error { return nil })
	if errors.Is(err, breaker.ErrNotPermitted) {
		fmt.Println("fallback: hand leadership to a healthy replica")
	}
	// Output: fallback: hand leadership to a healthy replica
}
