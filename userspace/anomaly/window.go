package anomaly

// window keeps the mean and variance of the last cap samples: Welford's
// update for the sample that enters and its inverse for the one that
// leaves. Invariant: mean and m2 describe exactly the samples in ring
// (up to rounding, which recompute clears every cap additions).
type window struct {
	ring  []float64
	next  int // index the next sample goes to
	n     int // samples held, ≤ len(ring)
	mean  float64
	m2    float64 // sum of squared deviations from mean
	since int     // additions since the last recompute
}

func newWindow(size int) *window { return &window{ring: make([]float64, size)} }

func (w *window) add(x float64) {
	if w.n == len(w.ring) {
		old := w.ring[w.next]
		// Remove old: the inverse of Welford's step for n → n-1.
		n := float64(w.n)
		oldMean := w.mean
		w.mean = (n*w.mean - old) / (n - 1)
		w.m2 -= (old - oldMean) * (old - w.mean)
		w.n--
	}
	w.ring[w.next] = x
	if w.next++; w.next == len(w.ring) {
		w.next = 0
	}
	w.n++
	d := x - w.mean
	w.mean += d / float64(w.n)
	w.m2 += d * (x - w.mean)
	if w.since++; w.since >= len(w.ring) {
		w.recompute()
	}
}

// recompute sets mean and m2 from the ring, two-pass, so rounding error
// from the sliding updates cannot build up.
func (w *window) recompute() {
	w.since = 0
	var sum float64
	for i := range w.n {
		sum += w.at(i)
	}
	w.mean = sum / float64(w.n)
	w.m2 = 0
	for i := range w.n {
		d := w.at(i) - w.mean
		w.m2 += d * d
	}
}

// at returns the i-th held sample, oldest first.
func (w *window) at(i int) float64 {
	start := w.next - w.n
	if start < 0 {
		start += len(w.ring)
	}
	return w.ring[(start+i)%len(w.ring)]
}

// variance is the sample variance (n-1), 0 below two samples; never
// negative (rounding can take m2 slightly below 0 on a constant series).
func (w *window) variance() float64 {
	if w.n < 2 || w.m2 <= 0 {
		return 0
	}
	return w.m2 / float64(w.n-1)
}
