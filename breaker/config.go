package breaker

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// WindowType selects how the closed-state sliding window is measured.
type WindowType uint8

const (
	// CountBased keeps the outcomes of the last WindowSize calls.
	CountBased WindowType = iota
	// TimeBased keeps WindowSize buckets of BucketWidth each (resilience4j: N one-second
	// partial aggregations); a bucket older than the window is subtracted as time moves on.
	TimeBased
)

func (w WindowType) String() string {
	switch w {
	case CountBased:
		return "count-based"
	case TimeBased:
		return "time-based"
	}
	return fmt.Sprintf("WindowType(%d)", uint8(w))
}

// Defaults. Slow calls are over 50 ms (Dorivo's brief); the rest are resilience4j's
// CircuitBreakerConfig defaults, except the backoff, which resilience4j leaves off. They suit a
// long-lived remote service; Dorivo's callers pass shorter windows and waits (a peer breaker
// wants seconds, not a minute, in open state).
const (
	DefaultWindowSize            = 100
	DefaultBucketWidth           = time.Second
	DefaultMinimumCalls          = 100
	DefaultFailureRateThreshold  = 50.0  // percent
	DefaultSlowCallRateThreshold = 100.0 // percent
	DefaultSlowCallDuration      = 50 * time.Millisecond
	DefaultHalfOpenCalls         = 10
	DefaultOpenWait              = 60 * time.Second
	// DefaultOpenWaitMultiplier is resilience4j's IntervalFunction default multiplier.
	DefaultOpenWaitMultiplier = 1.5
	// defaultMaxOpenWaitFactor caps the backed-off wait at 10 × OpenWait (Envoy's
	// max_ejection_time / base_ejection_time = 300 s / 30 s).
	defaultMaxOpenWaitFactor = 10
	// maxWindowSize bounds the memory a window preallocates.
	maxWindowSize = 1 << 20
)

// Config tunes a Breaker. A zero field takes its default, so Config{} is resilience4j's
// configuration with 50 ms slow calls.
type Config struct {
	WindowType WindowType
	// WindowSize is a number of calls (CountBased) or of buckets (TimeBased).
	WindowSize int
	// BucketWidth is one bucket's span (TimeBased only); the window spans WindowSize × BucketWidth.
	BucketWidth time.Duration
	// MinimumCalls is how many calls the window must hold before rates are judged. For
	// CountBased it is capped at WindowSize, as in resilience4j.
	MinimumCalls int

	// FailureRateThreshold and SlowCallRateThreshold are percentages in (0, 100]; the breaker
	// opens when either rate is at or above its threshold.
	FailureRateThreshold  float64
	SlowCallRateThreshold float64
	// SlowCallDuration: a call that took longer than this is slow, whether it failed or not.
	SlowCallDuration time.Duration

	// HalfOpenCalls is the number of probes let through in half-open; when that many have
	// been recorded the rates over them decide: closed, or open again.
	HalfOpenCalls int
	// MaxWaitInHalfOpen, if positive, reopens a half-open breaker whose probes have not all
	// reported within this time. Zero waits for them forever (resilience4j's default).
	MaxWaitInHalfOpen time.Duration

	// OpenWait is the first wait in open state. Each reopening from half-open multiplies it by
	// OpenWaitMultiplier (1 disables backoff), up to MaxOpenWait (default 10 × OpenWait).
	// Closing the breaker starts again from OpenWait.
	OpenWait           time.Duration
	OpenWaitMultiplier float64
	MaxOpenWait        time.Duration

	// IsFailure decides whether a non-nil error counts as a failure (default: all do).
	IsFailure func(error) bool
	// IsIgnored marks errors that are neither success nor failure, such as a caller's
	// context.Canceled (default: none). An ignored call in half-open gives its probe back.
	IsIgnored func(error) bool

	// Clock defaults to the system clock.
	Clock Clock
}

// ErrInvalidConfig is wrapped by every validation error from New and Config.Validate.
var ErrInvalidConfig = errors.New("invalid breaker config")

// WithDefaults returns c with every zero field replaced by its default.
func (c Config) WithDefaults() Config {
	setDefault(&c.WindowSize, DefaultWindowSize)
	setDefault(&c.BucketWidth, DefaultBucketWidth)
	setDefault(&c.MinimumCalls, DefaultMinimumCalls)
	setDefault(&c.FailureRateThreshold, DefaultFailureRateThreshold)
	setDefault(&c.SlowCallRateThreshold, DefaultSlowCallRateThreshold)
	setDefault(&c.SlowCallDuration, DefaultSlowCallDuration)
	setDefault(&c.HalfOpenCalls, DefaultHalfOpenCalls)
	setDefault(&c.OpenWait, DefaultOpenWait)
	setDefault(&c.OpenWaitMultiplier, DefaultOpenWaitMultiplier)
	if c.MaxOpenWait == 0 && c.OpenWait > 0 && c.OpenWait <= math.MaxInt64/defaultMaxOpenWaitFactor {
		c.MaxOpenWait = defaultMaxOpenWaitFactor * c.OpenWait
	}
	if c.Clock == nil {
		c.Clock = systemClock{}
	}
	return c
}

func setDefault[T int | float64 | time.Duration](field *T, def T) {
	if *field == 0 {
		*field = def
	}
}

// Validate reports every field of c (after defaults) that is out of range, each error naming
// its field and wrapping ErrInvalidConfig.
func (c Config) Validate() error {
	c = c.WithDefaults()
	var errs []error
	bad := func(field string, v any, want string) {
		errs = append(errs, fmt.Errorf("%w: %s is %v, want %s", ErrInvalidConfig, field, v, want))
	}
	if c.WindowType != CountBased && c.WindowType != TimeBased {
		bad("WindowType", c.WindowType, "CountBased or TimeBased")
	}
	if c.WindowSize < 1 || c.WindowSize > maxWindowSize {
		bad("WindowSize", c.WindowSize, fmt.Sprintf("1..%d", maxWindowSize))
	}
	if c.BucketWidth < 0 {
		bad("BucketWidth", c.BucketWidth, "> 0")
	}
	if c.MinimumCalls < 1 {
		bad("MinimumCalls", c.MinimumCalls, ">= 1")
	}
	if !(c.FailureRateThreshold > 0 && c.FailureRateThreshold <= 100) {
		bad("FailureRateThreshold", c.FailureRateThreshold, "a percentage in (0, 100]")
	}
	if !(c.SlowCallRateThreshold > 0 && c.SlowCallRateThreshold <= 100) {
		bad("SlowCallRateThreshold", c.SlowCallRateThreshold, "a percentage in (0, 100]")
	}
	if c.SlowCallDuration < 0 {
		bad("SlowCallDuration", c.SlowCallDuration, "> 0")
	}
	if c.HalfOpenCalls < 1 || c.HalfOpenCalls > maxWindowSize {
		bad("HalfOpenCalls", c.HalfOpenCalls, fmt.Sprintf("1..%d", maxWindowSize))
	}
	if c.MaxWaitInHalfOpen < 0 {
		bad("MaxWaitInHalfOpen", c.MaxWaitInHalfOpen, ">= 0 (0: no limit)")
	}
	if c.OpenWait < 0 {
		bad("OpenWait", c.OpenWait, "> 0")
	}
	if !(c.OpenWaitMultiplier >= 1) || math.IsInf(c.OpenWaitMultiplier, 1) {
		bad("OpenWaitMultiplier", c.OpenWaitMultiplier, "a finite number >= 1 (1: no backoff)")
	}
	if c.MaxOpenWait < c.OpenWait {
		bad("MaxOpenWait", c.MaxOpenWait, fmt.Sprintf(">= OpenWait (%v)", c.OpenWait))
	}
	return errors.Join(errs...)
}

// minCalls is MinimumCalls as the closed window applies it.
func (c *Config) minCalls() int {
	if c.WindowType == CountBased && c.MinimumCalls > c.WindowSize {
		return c.WindowSize
	}
	return c.MinimumCalls
}

// openWait is the wait for the attempts-th consecutive opening (1 = first):
// OpenWait × multiplier^(attempts-1), capped at MaxOpenWait.
func (c *Config) openWait(attempts int) time.Duration {
	if attempts <= 1 {
		return c.OpenWait
	}
	w := float64(c.OpenWait) * math.Pow(c.OpenWaitMultiplier, float64(attempts-1))
	if w >= float64(c.MaxOpenWait) || math.IsInf(w, 1) || math.IsNaN(w) {
		return c.MaxOpenWait
	}
	return time.Duration(w)
}
