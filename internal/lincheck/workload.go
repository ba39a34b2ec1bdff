package lincheck

import (
	"context"
	"math/rand/v2"
	"strconv"
	"time"
)

// Stats counts a workload's outcomes.
type Stats struct {
	Ops        int // operations issued
	OK         int
	NotInteger int
	Failed     int
	Unknown    int
	Dropped    int // failed reads, not recorded
}

func (s *Stats) add(kind Kind, out Output) {
	s.Ops++
	switch {
	case out.Status == StatusOK:
		s.OK++
	case kind == KindGet:
		s.Dropped++
	case out.Status == StatusNotInteger:
		s.NotInteger++
	case out.Status == StatusFailed:
		s.Failed++
	default:
		s.Unknown++
	}
}

// Add sums two Stats.
func (s Stats) Add(o Stats) Stats {
	return Stats{s.Ops + o.Ops, s.OK + o.OK, s.NotInteger + o.NotInteger,
		s.Failed + o.Failed, s.Unknown + o.Unknown, s.Dropped + o.Dropped}
}

// NextValue returns a value no other write of this recorder's clients
// writes: a unique integer (spaced by 1e6, so INCRs from one write do not
// reach another), or, one time in twenty, a unique non-integer that makes
// INCR fail. Unique values make a read of a lost or phantom write illegal.
func (c *Client) NextValue(rng *rand.Rand) string {
	c.seq++
	if rng.IntN(20) == 0 {
		return "s" + strconv.Itoa(c.tag) + "-" + strconv.Itoa(c.seq)
	}
	return strconv.FormatInt(int64(c.tag+1)*1_000_000_000_000+int64(c.seq)*1_000_000, 10)
}

// Run issues ops random commands (GET 35%, SET 25%, INCR 30%, SET…GET 10%)
// on keys, one at a time, stopping early when ctx is done. It is the
// workload of the linearizability tests; one goroutine per Client.
func (c *Client) Run(ctx context.Context, rng *rand.Rand, keys []string, ops int) Stats {
	var st Stats
	for i := 0; i < ops && ctx.Err() == nil; i++ {
		key := keys[rng.IntN(len(keys))]
		var kind Kind
		var out Output
		switch p := rng.IntN(100); {
		case p < 35:
			kind, out = KindGet, c.Get(ctx, key)
		case p < 60:
			kind, out = KindSet, c.Set(ctx, key, c.NextValue(rng))
		case p < 90:
			kind, out = KindIncr, c.Incr(ctx, key)
		default:
			kind, out = KindSetGet, c.SetGet(ctx, key, c.NextValue(rng))
		}
		st.add(kind, out)
		if out.Status != StatusOK && out.Status != StatusNotInteger {
			// Back off, as a client retrying an error would: during a
			// failover a node refuses fast, and a spinning client only
			// grows the history.
			select {
			case <-time.After(failureBackoff):
			case <-ctx.Done():
			}
		}
	}
	return st
}

// failureBackoff is the pause after a failed or unknown operation.
const failureBackoff = 10 * time.Millisecond
