// Package fakeclock is a manual clock for breaker tests: time moves only when a test calls
// Advance, so windows, open waits and half-open timeouts are exact and tests never sleep.
package fakeclock

import (
	"sync"
	"time"
)

// Clock satisfies breaker.Clock. The zero value is not usable; call New.
type Clock struct {
	mu  sync.Mutex
	now time.Time // guarded by mu; only moves forward
}

// New returns a clock that reads start until advanced.
func New(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the current fake time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d; a negative d panics, since breakers assume a monotonic clock.
func (c *Clock) Advance(d time.Duration) {
	if d < 0 {
		panic("fakeclock: negative Advance")
	}
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}
