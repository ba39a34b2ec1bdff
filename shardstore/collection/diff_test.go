package collection

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/dorivo/dorivo/shardstore/collection/internal/redisclient"
)

// These tests compare the structures with a real redis-server 7.0.15.

var scoreInputs = []string{
	"1", "1.5", "0.1", "-0", "0", "1e300", "4e-320", "1e-400", "1e400", "-1e400",
	"inf", "-inf", "+inf", "Infinity", "-INFINITY", "iNf", "nan", "NaN", "-nan", "nan(123)",
	" 1", "1 ", "", "0x10", "0x1p-3", "0X.8", "0x", "0x1p", "1e", "1e+", "1.", ".5", "+.5e-2", ".",
	"abc", "1_000", "123456789012345678", "3.14159265358979323846", "-1.7976931348623157e308",
	"1.7976931348623159e308", "2.2250738585072014e-308", "1e-320", "0x1.fffffffffffffp1023",
	"inff", "infinityx", "100", "1e17", "1e16", "12345678901234567890", "-0.0001", "0.00001",
	"++1", "--1", "1e5e", "1.2.3", "\t1", "1\x00", "5e-324", "2.5e-324",
}

func zaddReply(t *testing.T, r *redisclient.Client, s string) string {
	r.Do(t, "DEL", "fz")
	if v := r.Do(t, "ZADD", "fz", s, "m"); v != int64(1) {
		return "error: " + fmt.Sprint(v)
	}
	return r.Do(t, "ZSCORE", "fz", "m").(string)
}

func TestScoreParseAndFormatMatchRedis(t *testing.T) {
	r := redisclient.Start(t)
	rng := rand.New(rand.NewPCG(1, 1))
	inputs := slices.Clone(scoreInputs)
	for range 300 {
		f := math.Float64frombits(rng.Uint64())
		if math.IsNaN(f) {
			continue
		}
		inputs = append(inputs, strconv.FormatFloat(f, 'g', -1, 64), strconv.FormatFloat(rng.NormFloat64()*1e6, 'f', rng.IntN(12), 64))
	}
	for _, in := range inputs {
		want := zaddReply(t, r, in)
		var got string
		if f, err := ParseScore([]byte(in)); err != nil {
			got = "error: ERR " + err.Error()
		} else {
			got = FormatScore(f + 0) // a listpack keeps -0 as 0
		}
		if got != want {
			t.Errorf("score %q: got %q, redis %q", in, got, want)
		}
	}
}

func TestScoreRangeMatchesRedis(t *testing.T) {
	r := redisclient.Start(t)
	z := NewZSet()
	args := []string{"ZADD", "rz"}
	for _, s := range []float64{math.Inf(-1), -2, -0.5, 0, 1, 1, 1.5, 3, 1e300, math.Inf(1)} {
		m := fmt.Sprintf("m%d", z.Len())
		z.Add([]byte(m), s, ZAddFlags{})
		args = append(args, FormatScore(s), m)
	}
	r.Do(t, args...)
	bounds := append(slices.Clone(scoreInputs), "(", "(1", "(1.5", "(-inf", "(+inf", "(nan", "(abc", "(", "( 1", "-2", "(-2")
	for _, lo := range bounds {
		for _, hi := range []string{"+inf", "(3", "1", "(1"} {
			want := r.Do(t, "ZRANGEBYSCORE", "rz", lo, hi, "WITHSCORES")
			var got any
			if rg, err := ParseScoreRange([]byte(lo), []byte(hi)); err != nil {
				got = redisclient.Error("ERR " + err.Error())
			} else {
				got = entriesReply(z.RangeByScore(rg, false, 0, -1))
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("ZRANGEBYSCORE %q %q: got %v, redis %v", lo, hi, got, want)
			}
		}
	}
}

func TestLexRangeMatchesRedis(t *testing.T) {
	r := redisclient.Start(t)
	z := NewZSet()
	args := []string{"ZADD", "lz"}
	for _, m := range []string{"", "a", "aa", "ab", "b", "c", "d\x00", "z"} {
		z.Add([]byte(m), 0, ZAddFlags{})
		args = append(args, "0", m)
	}
	r.Do(t, args...)
	items := []string{"-", "+", "[a", "(a", "[aa", "(b", "[", "(", "a", "", "++", "-a", "[z", "(zz", "[d"}
	for _, lo := range items {
		for _, hi := range items {
			want := r.Do(t, "ZRANGEBYLEX", "lz", lo, hi)
			var got any
			if rg, err := ParseLexRange([]byte(lo), []byte(hi)); err != nil {
				got = redisclient.Error("ERR " + err.Error())
			} else {
				got = membersReply(z.RangeByLex(rg, false, 0, -1))
				if n := z.CountLex(rg); n != len(got.([]any)) {
					t.Errorf("CountLex %q %q = %d, range has %d", lo, hi, n, len(got.([]any)))
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("ZRANGEBYLEX %q %q: got %q, redis %q", lo, hi, got, want)
			}
		}
	}
}

func entriesReply(es []ZEntry) []any {
	out := make([]any, 0, 2*len(es))
	for _, e := range es {
		out = append(out, e.Member, FormatScore(e.Score))
	}
	return out
}

func membersReply(es []ZEntry) []any {
	out := make([]any, 0, len(es))
	for _, e := range es {
		out = append(out, e.Member)
	}
	return out
}

func strs(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func expectSame(t *testing.T, what string, got, want any) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s: got %v, redis %v", what, got, want)
	}
}

func TestEncodingThresholdsMatchRedis(t *testing.T) {
	r := redisclient.Start(t)
	enc := func(k string) string { return r.Do(t, "OBJECT", "ENCODING", k).(string) }
	h := NewHash()
	for i := range 514 {
		f := fmt.Sprint("f", i)
		h.Set([]byte(f), []byte("v"))
		r.Do(t, "HSET", "h", f, "v")
		if i < 2 || i > 508 {
			expectSame(t, fmt.Sprint("hash of ", i+1), h.Encoding(), enc("h"))
		}
	}
	for _, c := range [][2]int{{64, 1}, {1, 64}, {65, 1}, {1, 65}} {
		k := fmt.Sprint("h", c)
		h := NewHash()
		h.Set([]byte("x"), []byte("y"))
		h.Set([]byte(strings.Repeat("f", c[0])), []byte(strings.Repeat("v", c[1])))
		r.Do(t, "HSET", k, "x", "y", strings.Repeat("f", c[0]), strings.Repeat("v", c[1]))
		expectSame(t, fmt.Sprint("hash field/value ", c), h.Encoding(), enc(k))
		h.Delete([]byte(strings.Repeat("f", c[0])))
		h.Set([]byte("a"), []byte("b"))
		r.Do(t, "HDEL", k, strings.Repeat("f", c[0]))
		r.Do(t, "HSET", k, "a", "b")
		expectSame(t, fmt.Sprint("hash after delete ", c), h.Encoding(), enc(k))
	}
	s := NewSet()
	for i := range 514 {
		m := strconv.Itoa(i*7 - 100)
		s.Add([]byte(m))
		r.Do(t, "SADD", "s", m)
		if i > 505 || i < 3 {
			expectSame(t, fmt.Sprint("set of ", i+1), s.Encoding(), enc("s"))
		}
	}
	for _, m := range []string{"01", "-0", "+1", "9223372036854775807", "9223372036854775808", "-9223372036854775808", " 1", "a"} {
		s := NewSet()
		s.Add([]byte(m))
		k := "s" + m
		r.Do(t, "SADD", k, m)
		expectSame(t, fmt.Sprintf("set of %q", m), s.Encoding(), enc(k))
		s.Add([]byte("5"))
		r.Do(t, "SADD", k, "5")
		expectSame(t, fmt.Sprintf("set of %q, 5", m), s.Encoding(), enc(k))
		if s.Encoding() == "intset" { // a hashtable's order is Redis's dict order
			expectSame(t, fmt.Sprintf("SMEMBERS of %q, 5", m), strs(s.Members()), r.Do(t, "SMEMBERS", k))
		}
	}
	z := NewZSet()
	for i := range 130 {
		m := fmt.Sprint("m", i)
		z.Add([]byte(m), float64(i), ZAddFlags{})
		r.Do(t, "ZADD", "z", strconv.Itoa(i), m)
		expectSame(t, fmt.Sprint("zset of ", i+1), z.Encoding(), enc("z"))
	}
	for _, n := range []int{64, 65} {
		z := NewZSet()
		z.Add([]byte(strings.Repeat("m", n)), 1, ZAddFlags{})
		k := fmt.Sprint("z", n)
		r.Do(t, "ZADD", k, "1", strings.Repeat("m", n))
		expectSame(t, fmt.Sprint("zset member of ", n), z.Encoding(), enc(k))
	}
	l := NewList()
	l.PushLeft([]byte("a"))
	r.Do(t, "LPUSH", "l", "a")
	expectSame(t, "list", l.Encoding(), enc("l"))
}

// The fuzzer's ParseScore corpus, odd strings included, must parse as
// redis-server parses it.
func TestFuzzCorpusScoresMatchRedis(t *testing.T) {
	r := redisclient.Start(t)
	files, err := filepath.Glob("testdata/fuzz/FuzzParseScore/*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		lit, ok := strings.CutPrefix(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[1]), "[]byte(")
		if !ok {
			t.Fatalf("%s: not a []byte entry", name)
		}
		in, err := strconv.Unquote(strings.TrimSuffix(lit, ")"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := zaddReply(t, r, in)
		got := "error: ERR value is not a valid float"
		if f, err := ParseScore([]byte(in)); err == nil {
			got = FormatScore(f + 0)
		}
		if got != want {
			t.Errorf("score %q: got %q, redis %q", in, got, want)
		}
		wantR := fmt.Sprint(r.Do(t, "ZRANGEBYSCORE", "fz", in, "+inf"))
		gotR := "ERR min or max is not a float"
		if rg, err := ParseScoreRange([]byte(in), []byte("+inf")); err == nil {
			z := NewZSet()
			if f, err := ParseScore([]byte(want)); err == nil && !strings.HasPrefix(want, "error") {
				z.Add([]byte("m"), f, ZAddFlags{})
			}
			gotR = fmt.Sprint(membersReply(z.RangeByScore(rg, false, 0, -1)))
		}
		if gotR != wantR {
			t.Errorf("range from %q: got %s, redis %s", in, gotR, wantR)
		}
	}
}
