package collection

// List is a Redis list: a ring buffer of elements, O(1) at both ends and
// by index. Redis 7.0 reports every list as "quicklist" (listpack lists
// came in 7.2).
type List struct {
	buf  []string // len(buf) is 0 or a power of two
	head int      // slot of element 0
	n    int
}

// NewList returns an empty list.
func NewList() *List { return &List{} }

// Len returns the number of elements.
func (l *List) Len() int { return l.n }

// Encoding returns OBJECT ENCODING's name in Redis 7.0: "quicklist".
func (l *List) Encoding() string { return "quicklist" }

func (l *List) slot(i int) int { return (l.head + i) & (len(l.buf) - 1) }

func (l *List) grow() {
	if l.n < len(l.buf) {
		return
	}
	nb := make([]string, max(4, 2*len(l.buf)))
	for i := range l.n {
		nb[i] = l.buf[l.slot(i)]
	}
	l.buf, l.head = nb, 0
}

// PushLeft adds v at the head (LPUSH of one element).
func (l *List) PushLeft(v []byte) {
	l.grow()
	l.head = (l.head - 1) & (len(l.buf) - 1)
	l.buf[l.head] = string(v)
	l.n++
}

// PushRight adds v at the tail (RPUSH of one element).
func (l *List) PushRight(v []byte) {
	l.grow()
	l.buf[l.slot(l.n)] = string(v)
	l.n++
}

// PopLeft removes and returns the head.
func (l *List) PopLeft() (string, bool) {
	if l.n == 0 {
		return "", false
	}
	v := l.buf[l.head]
	l.buf[l.head] = ""
	l.head = l.slot(1)
	l.n--
	return v, true
}

// PopRight removes and returns the tail.
func (l *List) PopRight() (string, bool) {
	if l.n == 0 {
		return "", false
	}
	s := l.slot(l.n - 1)
	v := l.buf[s]
	l.buf[s] = ""
	l.n--
	return v, true
}

// normIndex maps a Redis index (negative from the tail) to 0..n-1, or -1.
func (l *List) normIndex(i int) int {
	if i < 0 {
		i += l.n
	}
	if i < 0 || i >= l.n {
		return -1
	}
	return i
}

// Index returns element i (LINDEX; negative counts from the tail).
func (l *List) Index(i int) (string, bool) {
	if i = l.normIndex(i); i < 0 {
		return "", false
	}
	return l.buf[l.slot(i)], true
}

// SetIndex sets element i (LSET) and reports whether i is in range.
func (l *List) SetIndex(i int, v []byte) bool {
	if i = l.normIndex(i); i < 0 {
		return false
	}
	l.buf[l.slot(i)] = string(v)
	return true
}

// RangeBounds normalizes LRANGE/LTRIM/ZRANGE's start and stop to 0-based
// inclusive bounds over n elements; ok is false when the range is empty.
func RangeBounds(start, stop, n int) (lo, hi int, ok bool) {
	if start < 0 {
		start += n
	}
	if stop < 0 {
		stop += n
	}
	start = max(start, 0)
	if start > stop || start >= n {
		return 0, 0, false
	}
	return start, min(stop, n-1), true
}

// Range returns elements start..stop (LRANGE).
func (l *List) Range(start, stop int) []string {
	lo, hi, ok := RangeBounds(start, stop, l.n)
	if !ok {
		return nil
	}
	out := make([]string, 0, hi-lo+1)
	for i := lo; i <= hi; i++ {
		out = append(out, l.buf[l.slot(i)])
	}
	return out
}

// Trim keeps only elements start..stop (LTRIM); the list may end empty.
func (l *List) Trim(start, stop int) {
	lo, hi, ok := RangeBounds(start, stop, l.n)
	if !ok {
		lo, hi = 0, -1
	}
	for range lo {
		l.PopLeft()
	}
	for l.n > hi-lo+1 {
		l.PopRight()
	}
}

// Insert puts v before (or after) the first element equal to pivot
// (LINSERT) and returns v's index, or -1 without the pivot.
func (l *List) Insert(before bool, pivot, v []byte) (at int) {
	at = -1
	for i := range l.n {
		if l.buf[l.slot(i)] == string(pivot) {
			at = i
			break
		}
	}
	if at < 0 {
		return -1
	}
	if !before {
		at++
	}
	l.PushRight(v)
	for i := l.n - 1; i > at; i-- {
		l.buf[l.slot(i)] = l.buf[l.slot(i-1)]
	}
	l.buf[l.slot(at)] = string(v)
	return at
}

// Remove deletes occurrences of v (LREM): the first count from the head
// for count > 0, the last -count from the tail for count < 0, all for 0.
// It returns how many it removed and the lowest index removed (the list
// is unchanged before it; Len() when nothing was).
func (l *List) Remove(count int, v []byte) (removed, first int) {
	limit := abs(count)
	first = l.n
	w := 0
	if count >= 0 {
		for r := range l.n {
			e := l.buf[l.slot(r)]
			if e == string(v) && (limit == 0 || removed < limit) {
				first = min(first, r)
				removed++
				continue
			}
			l.buf[l.slot(w)] = e
			w++
		}
		for i := w; i < l.n; i++ {
			l.buf[l.slot(i)] = ""
		}
		l.n = w
		return removed, min(first, l.n)
	}
	// From the tail: compact towards the tail, then move the head.
	w = l.n - 1
	for r := l.n - 1; r >= 0; r-- {
		e := l.buf[l.slot(r)]
		if e == string(v) && removed < limit {
			first = r
			removed++
			continue
		}
		l.buf[l.slot(w)] = e
		w--
	}
	for i := 0; i <= w; i++ {
		l.buf[l.slot(i)] = ""
	}
	l.head = l.slot(w + 1)
	l.n -= removed
	return removed, min(first, l.n)
}

// Pos returns the indexes of elements equal to v (LPOS): rank r ≠ 0 skips
// |r|-1 matches and searches from the tail when negative; count 0 means
// every match (else at most count); maxlen > 0 compares only that many
// elements.
func (l *List) Pos(v []byte, rank, count, maxlen int) []int {
	var out []int
	skip := abs(rank) - 1
	for k := 0; k < l.n && (maxlen <= 0 || k < maxlen); k++ {
		i := k
		if rank < 0 {
			i = l.n - 1 - k
		}
		if l.buf[l.slot(i)] != string(v) {
			continue
		}
		if skip > 0 {
			skip--
			continue
		}
		out = append(out, i)
		if count > 0 && len(out) == count {
			break
		}
	}
	return out
}

// All returns the elements head to tail.
func (l *List) All() []string { return l.Range(0, -1) }

// MemoryUsage estimates the bytes the list holds: the ring's slots and the
// element bytes. An estimate.
func (l *List) MemoryUsage() int {
	n := 48 + len(l.buf)*16
	for i := range l.n {
		n += len(l.buf[l.slot(i)])
	}
	return n
}
