package collection

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// Benchmarks of the hot operations on values big enough to be in their
// hashtable/skiplist encodings (and a small listpack hash for contrast).

func keys(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, "member:%08d", i)
	}
	return out
}

func BenchmarkHashSetGet(b *testing.B) {
	for _, n := range []int{100, 100000} {
		ks := keys(n)
		b.Run(fmt.Sprint("HSET/", n), func(b *testing.B) {
			h := NewHash()
			b.ReportAllocs()
			for i := range b.N {
				h.Set(ks[i%n], ks[i%n])
			}
		})
		h := NewHash()
		for _, k := range ks {
			h.Set(k, k)
		}
		b.Run(fmt.Sprint("HGET/", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := range b.N {
				if _, ok := h.Get(ks[i%n]); !ok {
					b.Fatal("missing")
				}
			}
		})
	}
}

func BenchmarkListPushPop(b *testing.B) {
	v := []byte("value-of-sixteen")
	b.Run("LPUSH+LPOP", func(b *testing.B) {
		l := NewList()
		for range 1000 {
			l.PushRight(v)
		}
		b.ReportAllocs()
		for range b.N {
			l.PushLeft(v)
			l.PopLeft()
		}
	})
	b.Run("LPUSH", func(b *testing.B) {
		l := NewList()
		b.ReportAllocs()
		for range b.N {
			l.PushLeft(v)
		}
	})
	b.Run("LRANGE_100", func(b *testing.B) {
		l := NewList()
		for range 1000 {
			l.PushRight(v)
		}
		b.ReportAllocs()
		for range b.N {
			if len(l.Range(0, 99)) != 100 {
				b.Fatal("short range")
			}
		}
	})
}

func BenchmarkSetAddHas(b *testing.B) {
	n := 100000
	ks := keys(n)
	b.Run("SADD", func(b *testing.B) {
		s := NewSet()
		b.ReportAllocs()
		for i := range b.N {
			s.Add(ks[i%n])
		}
	})
	s := NewSet()
	for _, k := range ks {
		s.Add(k)
	}
	b.Run("SISMEMBER", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			if !s.Has(ks[i%n]) {
				b.Fatal("missing")
			}
		}
	})
	ints := NewSet()
	for i := range 500 {
		ints.Add(fmt.Appendf(nil, "%d", i*3))
	}
	b.Run("SISMEMBER/intset", func(b *testing.B) {
		m := []byte("300")
		b.ReportAllocs()
		for range b.N {
			if !ints.Has(m) {
				b.Fatal("missing")
			}
		}
	})
}

func BenchmarkZSet(b *testing.B) {
	n := 100000
	ks := keys(n)
	rng := rand.New(rand.NewPCG(1, 1))
	scores := make([]float64, n)
	for i := range scores {
		scores[i] = rng.Float64() * 1e6
	}
	b.Run("ZADD", func(b *testing.B) {
		z := NewZSet()
		b.ReportAllocs()
		for i := range b.N {
			z.Add(ks[i%n], scores[(i*7)%n], ZAddFlags{})
		}
	})
	z := NewZSet()
	for i, k := range ks {
		z.Add(k, scores[i], ZAddFlags{})
	}
	b.Run("ZRANGE_rank_10", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			start := i % (n - 10)
			if len(z.RangeByRank(start, start+9, false)) != 10 {
				b.Fatal("short range")
			}
		}
	})
	b.Run("ZRANGEBYSCORE_LIMIT_10", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			lo := float64(i%900000) + 0.5
			r := ScoreRange{ScoreBound{Value: lo}, ScoreBound{Value: lo + 1e5}}
			if len(z.RangeByScore(r, false, 0, 10)) != 10 {
				b.Fatal("short range")
			}
		}
	})
	b.Run("ZRANK", func(b *testing.B) {
		b.ReportAllocs()
		for i := range b.N {
			if _, ok := z.Rank(ks[i%n], false); !ok {
				b.Fatal("missing")
			}
		}
	})
}

func BenchmarkFormatScore(b *testing.B) {
	buf := make([]byte, 0, 32)
	b.ReportAllocs()
	for i := range b.N {
		buf = AppendScore(buf[:0], float64(i)*0.1)
	}
}
