package breaker

import "time"

// Clock tells the breaker the time. Tests inject a fake one; the default reads time.Now, whose
// monotonic reading makes the breaker immune to wall-clock steps.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }
