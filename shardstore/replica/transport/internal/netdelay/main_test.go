package main

import (
	"strings"
	"testing"
	"time"
)

func testRelay() *relay {
	r := &relay{macs: map[[6]byte]*port{}}
	for i, name := range []string{"br", "dv1", "dv2"} {
		p := &port{name: name, wake: make(chan struct{}, 1)}
		if i > 0 {
			p.delay = 500 * time.Microsecond
		}
		r.ports = append(r.ports, p)
	}
	return r
}

func TestCommand(t *testing.T) {
	r := testRelay()
	for _, c := range []struct{ line, want string }{
		{"set dv2 delay=100ms", "dv2 delay=100ms loss=0 lost_in=0 lost_out=0"},
		{"set dv2 loss=30", "dv2 delay=100ms loss=30 lost_in=0 lost_out=0"}, // delay kept
		{"set dv2 delay=1m1s", "error: "},
		{"set dv2 loss=101", "error: "},
		{"set dv2 jitter=1ms", "error: "},
		{"show dv2", "dv2 delay=100ms loss=30 lost_in=0 lost_out=0"}, // bad sets changed nothing
		{"set dv9 loss=1", "error: "},
		{"clear dv2", "dv2 delay=0s loss=0 lost_in=0 lost_out=0"},
		{"drop dv2", "error: "},
	} {
		if got := r.command(c.line); got != c.want && !(c.want == "error: " && strings.HasPrefix(got, c.want)) {
			t.Errorf("%q: got %q, want %q", c.line, got, c.want)
		}
	}
}

// TestForward checks due times (base + both extras, never before the pair's
// last frame) and that loss counts on the side that dropped.
func TestForward(t *testing.T) {
	r := testRelay()
	br, dv1, dv2 := r.ports[0], r.ports[1], r.ports[2]
	last := map[*port]time.Time{}
	now := time.Now()
	dv1.extra.Store(int64(100 * time.Millisecond))
	dv2.extra.Store(int64(20 * time.Millisecond))
	forward(dv1, dv2, []byte("a"), now, last)
	if got, want := dv2.queue[0].due.Sub(now), 120500*time.Microsecond; got != want {
		t.Fatalf("dv1 -> dv2 due after %v, want %v", got, want)
	}
	dv1.extra.Store(0) // healed: the next frame still waits for the first
	forward(dv1, dv2, []byte("b"), now.Add(time.Millisecond), last)
	if f := dv2.next(); string(f.data) != "a" {
		t.Fatalf("first out %q, want a", f.data)
	}
	if f := dv2.next(); string(f.data) != "b" {
		t.Fatalf("second out %q, want b", f.data)
	}
	forward(br, dv1, []byte("c"), now, map[*port]time.Time{}) // host port: no base delay
	if got := dv1.queue[0].due.Sub(now); got != 0 {
		t.Fatalf("br -> dv1 due after %v, want 0", got)
	}
	dv2.loss.Store(100)
	for range 10 {
		forward(dv1, dv2, []byte("x"), now, last)
		forward(dv2, br, []byte("y"), now, last)
	}
	if dv2.lostIn.Load() != 10 || dv2.lostOut.Load() != 10 || len(dv2.queue) != 0 || len(br.queue) != 0 {
		t.Fatalf("loss 100: lost_in %d lost_out %d, queued %d and %d", dv2.lostIn.Load(), dv2.lostOut.Load(),
			len(dv2.queue), len(br.queue))
	}
	dv2.loss.Store(50)
	for range 1000 {
		forward(dv2, br, []byte("z"), now, last)
	}
	if lost := dv2.lostOut.Load() - 10; lost < 400 || lost > 600 {
		t.Fatalf("loss 50: lost %d of 1000", lost)
	}
}
