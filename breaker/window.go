package breaker

// outcome is one call's classification: a set of the bits below (0 = fast success).
type outcome uint8

const (
	outcomeFailed outcome = 1 << iota
	outcomeSlow
)

// tally counts calls by outcome.
type tally struct {
	calls, failed, slow, slowFailed int
}

func (t *tally) add(o outcome) {
	t.calls++
	t.count(o, 1)
}

func (t *tally) sub(u tally) {
	t.calls -= u.calls
	t.failed -= u.failed
	t.slow -= u.slow
	t.slowFailed -= u.slowFailed
}

func (t *tally) count(o outcome, n int) {
	if o&outcomeFailed != 0 {
		t.failed += n
	}
	if o&outcomeSlow != 0 {
		t.slow += n
		if o&outcomeFailed != 0 {
			t.slowFailed += n
		}
	}
}

// rates returns the failure and slow-call rates in percent, or -1, -1 below minCalls
// (resilience4j's "below minimum number of calls").
func (t *tally) rates(minCalls int) (failure, slow float64) {
	if t.calls == 0 || t.calls < minCalls {
		return -1, -1
	}
	n := float64(t.calls)
	return float64(t.failed) * 100 / n, float64(t.slow) * 100 / n
}

// window is a sliding window, by count or by time, guarded by the breaker's mutex. Both kinds
// keep total equal to the sum of what they hold, so a snapshot is O(1); memory is allocated
// once, in newWindow.
type window struct {
	total tally

	// Count-based: ring holds the last len(ring) outcomes; next is the slot to overwrite and
	// filled how many slots hold a call.
	ring   []outcome
	next   int
	filled int

	// Time-based: buckets[e % len] aggregates the calls of bucket epoch e (time / width);
	// head is the newest epoch; epochs head-len+1..head are inside the window.
	buckets []tally
	width   int64
	head    int64
}

func newCountWindow(size int) *window {
	return &window{ring: make([]outcome, size)}
}

func newTimeWindow(size int, width int64) *window {
	return &window{buckets: make([]tally, size), width: width}
}

// reset empties the window; now (nanoseconds on the breaker's clock) starts a time window.
func (w *window) reset(now int64) {
	w.total = tally{}
	clear(w.ring)
	w.next, w.filled = 0, 0
	clear(w.buckets)
	if w.width > 0 {
		w.head = now / w.width
	}
}

// add records one outcome at now.
func (w *window) add(now int64, o outcome) {
	if w.buckets == nil {
		if w.filled == len(w.ring) {
			old := w.ring[w.next]
			w.total.calls--
			w.total.count(old, -1)
		} else {
			w.filled++
		}
		w.ring[w.next] = o
		if w.next++; w.next == len(w.ring) {
			w.next = 0
		}
		w.total.add(o)
		return
	}
	w.advance(now)
	w.buckets[w.head%int64(len(w.buckets))].add(o)
	w.total.add(o)
}

// advance moves a time window's head to now's epoch, subtracting and clearing every bucket
// that falls out (at most len(buckets) of them). A clock that went back changes nothing.
func (w *window) advance(now int64) {
	if w.buckets == nil {
		return
	}
	e := now / w.width
	steps := e - w.head
	if steps <= 0 {
		return
	}
	n := int64(len(w.buckets))
	steps = min(steps, n)
	for i := int64(1); i <= steps; i++ {
		b := &w.buckets[(w.head+i)%n]
		w.total.sub(*b)
		*b = tally{}
	}
	w.head = e
}
