package breaker_test

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dorivo/dorivo/breaker"
)

func TestDefaults(t *testing.T) {
	c := breaker.Config{}.WithDefaults()
	want := breaker.Config{
		WindowType:            breaker.CountBased,
		WindowSize:            100,
		BucketWidth:           time.Second,
		MinimumCalls:          100,
		FailureRateThreshold:  50,
		SlowCallRateThreshold: 100,
		SlowCallDuration:      50 * time.Millisecond,
		HalfOpenCalls:         10,
		OpenWait:              60 * time.Second,
		OpenWaitMultiplier:    1.5,
		MaxOpenWait:           600 * time.Second,
	}
	if c.Clock == nil || c.IsFailure != nil || c.IsIgnored != nil {
		t.Errorf("defaults: Clock %T (want the system clock), IsFailure set %v, IsIgnored set %v",
			c.Clock, c.IsFailure != nil, c.IsIgnored != nil)
	}
	c.Clock = nil
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", c, want)
	}
	if err := (breaker.Config{}).Validate(); err != nil {
		t.Errorf("the zero Config is invalid: %v", err)
	}
	// A caller's shorter wait scales the default cap with it.
	if got := (breaker.Config{OpenWait: 2 * time.Second}).WithDefaults().MaxOpenWait; got != 20*time.Second {
		t.Errorf("MaxOpenWait for a 2s OpenWait = %v, want 20s", got)
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		field string
		cfg   breaker.Config
	}{
		{"WindowType", breaker.Config{WindowType: 7}},
		{"WindowSize", breaker.Config{WindowSize: -1}},
		{"WindowSize", breaker.Config{WindowSize: 1 << 21}},
		{"BucketWidth", breaker.Config{WindowType: breaker.TimeBased, BucketWidth: -time.Second}},
		{"MinimumCalls", breaker.Config{MinimumCalls: -5}},
		{"FailureRateThreshold", breaker.Config{FailureRateThreshold: 150}},
		{"FailureRateThreshold", breaker.Config{FailureRateThreshold: -1}},
		{"FailureRateThreshold", breaker.Config{FailureRateThreshold: math.NaN()}},
		{"SlowCallRateThreshold", breaker.Config{SlowCallRateThreshold: 100.5}},
		{"SlowCallDuration", breaker.Config{SlowCallDuration: -time.Millisecond}},
		{"HalfOpenCalls", breaker.Config{HalfOpenCalls: -1}},
		{"MaxWaitInHalfOpen", breaker.Config{MaxWaitInHalfOpen: -time.Second}},
		{"OpenWait", breaker.Config{OpenWait: -time.Second}},
		{"OpenWaitMultiplier", breaker.Config{OpenWaitMultiplier: 0.5}},
		{"OpenWaitMultiplier", breaker.Config{OpenWaitMultiplier: math.Inf(1)}},
		{"MaxOpenWait", breaker.Config{OpenWait: time.Minute, MaxOpenWait: time.Second}},
	}
	for _, tc := range cases {
		err := tc.cfg.Validate()
		if err == nil {
			t.Errorf("%+v: no error, want one naming %s", tc.cfg, tc.field)
			continue
		}
		if !errors.Is(err, breaker.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.field+" is ") {
			t.Errorf("%s: error %q does not wrap ErrInvalidConfig or name the field", tc.field, err)
		}
		if strings.Count(err.Error(), " is ") != 1 {
			t.Errorf("%s: error %q names more than the one bad field", tc.field, err)
		}
	}
}

func TestNewNamesBreakerAndEveryBadField(t *testing.T) {
	_, err := breaker.New("disk", breaker.Config{FailureRateThreshold: 101, HalfOpenCalls: -2})
	if err == nil {
		t.Fatal("New accepted a bad config")
	}
	for _, want := range []string{`breaker "disk"`, "FailureRateThreshold is 101", "HalfOpenCalls is -2"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestTransitionToUnknownState(t *testing.T) {
	b, err := breaker.New("x", breaker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.TransitionTo(breaker.State(9)); err == nil || !strings.Contains(err.Error(), "State(9)") {
		t.Errorf("TransitionTo(9) = %v, want an error naming State(9)", err)
	}
	if b.State() != breaker.Closed || b.Snapshot().Seq != 0 {
		t.Errorf("a rejected transition changed the breaker: %+v", b.Snapshot())
	}
}
