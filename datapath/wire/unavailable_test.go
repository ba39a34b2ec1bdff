package wire

import (
	"bytes"
	"testing"
	"time"
)

func TestRetryAfterRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		d, want time.Duration
		body    []byte
	}{
		{0, 0, []byte{0, 0}},
		{1500 * time.Microsecond, 2 * time.Millisecond, []byte{0, 2}}, // rounded up
		{500 * time.Millisecond, 500 * time.Millisecond, []byte{0x01, 0xf4}},
		{time.Hour, MaxRetryAfter, []byte{0xff, 0xff}}, // clamped
		{-time.Second, 0, []byte{0, 0}},
	} {
		body := AppendRetryAfter(nil, tc.d)
		if !bytes.Equal(body, tc.body) {
			t.Errorf("AppendRetryAfter(%v) = %x, want %x", tc.d, body, tc.body)
		}
		b, err := AppendReply(nil, &Reply{ID: 5, Op: OpGet, Status: StatusUnavailable, Body: body})
		if err != nil {
			t.Fatal(err)
		}
		var r Reply
		if err := ParseReply(b, &r); err != nil {
			t.Fatal(err)
		}
		if got, ok := r.RetryAfter(); !ok || got != tc.want {
			t.Errorf("RetryAfter of %v = %v, %v; want %v", tc.d, got, ok, tc.want)
		}
	}
	// Not UNAVAILABLE, or an empty body: no retry-after.
	for _, r := range []Reply{{Status: StatusOK, Body: []byte{0, 1}}, {Status: StatusUnavailable, Body: []byte{}}} {
		if d, ok := r.RetryAfter(); ok {
			t.Errorf("%v with body %x: retry-after %v, want none", r.Status, r.Body, d)
		}
	}
}
