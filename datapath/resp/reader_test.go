package resp

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// fed is what a stream of requests parsed into.
type fed struct {
	reqs     []string // each request's arguments, %q-formatted
	err      error    // the error that ended the stream, if any
	leftover int      // input bytes of an incomplete last request
}

// feedReader feeds in to a Reader in pieces of next() bytes, as the server
// does: unread input accumulates, and the bytes the Reader took or a served
// request used are discarded, then overwritten, so that a Reader keeping a
// reference into discarded input would parse garbage. With stall, each
// complete request is parsed a second time before it is served, as for a
// request that has to wait, and must come back the same. It checks that the
// Reader never changes its input.
func feedReader(tb testing.TB, in []byte, next func() int, lim Limits, stall bool) fed {
	tb.Helper()
	var r Reader
	var res fed
	var unread []byte
	for at := 0; ; {
		k := min(next(), len(in)-at)
		unread = append(unread, in[at:at+k]...)
		at += k
		for {
			before := bytes.Clone(unread)
			args, n, complete, err := r.Parse(unread, nil, lim)
			if !bytes.Equal(before, unread) {
				tb.Fatalf("Parse changed its input")
			}
			if err != nil {
				res.err = err
				return res
			}
			if n < 0 || n > len(unread) || complete && len(unread) > 0 && n == 0 {
				tb.Fatalf("n = %d of %d, complete %v", n, len(unread), complete)
			}
			if complete {
				req := fmt.Sprintf("%q", args)
				if stall {
					again, n2, c2, err2 := r.Parse(unread, nil, lim)
					if got := fmt.Sprintf("%q", again); got != req || n2 != n || !c2 || err2 != nil {
						tb.Fatalf("re-parse of a request not served: %s, %d, %v, %v; first %s, %d", got, n2, c2, err2, req, n)
					}
				}
				res.reqs = append(res.reqs, req)
				r.Done()
			}
			unread = discard(unread, n)
			if !complete {
				break
			}
		}
		if at == len(in) {
			res.leftover = r.Pending() + len(unread)
			return res
		}
	}
}

// discard drops n bytes from the front of b into a new buffer and
// scribbles over the old one.
func discard(b []byte, n int) []byte {
	rest := bytes.Clone(b[n:])
	for i := range b {
		b[i] = 0xa5
	}
	return rest
}

// feedStateless is the same stream through the stateless Parse, each
// incomplete request parsed again from its start once more input came:
// what the server did before Reader.
func feedStateless(in []byte, next func() int, lim Limits) fed {
	var res fed
	var unread []byte
	for at := 0; ; {
		k := min(next(), len(in)-at)
		unread = append(unread, in[at:at+k]...)
		at += k
		for {
			args, n, err := Parse(unread, nil, lim)
			if err != nil {
				res.err = err
				return res
			}
			if n == 0 {
				break
			}
			res.reqs = append(res.reqs, fmt.Sprintf("%q", args))
			unread = unread[n:]
		}
		if at == len(in) {
			res.leftover = len(unread)
			return res
		}
	}
}

// splitDependent reports the errors whose occurrence depends on how much
// input has arrived when a request is parsed, in Redis as here.
func splitDependent(err error) bool {
	return errors.Is(err, ErrTooBigInline) || errors.Is(err, ErrTooBigMbulkCount) ||
		errors.Is(err, ErrTooBigBulkCount) || errors.Is(err, ErrQueryBufferLimit)
}

func sameFed(a, b fed) bool {
	return fmt.Sprint(a.reqs) == fmt.Sprint(b.reqs) && a.err == b.err && a.leftover == b.leftover
}

// checkSplits parses in in random pieces and checks the Reader against the
// stateless parser fed the same pieces (exactly) and against one Parse
// pass over the whole input (the same requests, unless a split-dependent
// error ended either stream).
func checkSplits(tb testing.TB, in []byte, seed uint64, lim Limits) {
	tb.Helper()
	sizes := func() func() int {
		rng := rand.New(rand.NewPCG(seed, seed>>32|1))
		return func() int {
			if rng.IntN(4) == 0 {
				return rng.IntN(4096) + 1
			}
			return rng.IntN(16) + 1
		}
	}
	got := feedReader(tb, bytes.Clone(in), sizes(), lim, seed&1 == 1)
	want := feedStateless(bytes.Clone(in), sizes(), lim)
	if !sameFed(got, want) {
		tb.Fatalf("split %x: Reader %+v, stateless Parse %+v", seed, got, want)
	}
	whole := feedStateless(bytes.Clone(in), func() int { return len(in) }, lim)
	if splitDependent(got.err) || splitDependent(whole.err) {
		n := min(len(got.reqs), len(whole.reqs))
		if fmt.Sprint(got.reqs[:n]) != fmt.Sprint(whole.reqs[:n]) {
			tb.Fatalf("split %x: Reader %+v, one pass %+v", seed, got, whole)
		}
		return
	}
	if !sameFed(got, whole) {
		tb.Fatalf("split %x: Reader %+v, one pass %+v", seed, got, whole)
	}
}

// fuzzLimits are small limits that fuzzed inputs can reach; bigArg is
// lowered with them (lowerBigArg) so that they reach big elements too.
var fuzzLimits = Limits{MaxBulkLen: 1 << 16, MaxInline: 256, MaxQueryBuffer: 4096}

func lowerBigArg(tb testing.TB) {
	old := bigArg
	bigArg = 8
	tb.Cleanup(func() { bigArg = old })
}

// FuzzReader feeds its input to a Reader in random pieces (the seed picks
// them) and compares the requests, errors and leftover bytes with the
// stateless parser fed the same pieces and with one pass over the whole
// input; checkSplits says how they may differ.
func FuzzReader(f *testing.F) {
	for _, s := range []string{
		"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$12\r\nhello world!\r\n",
		"*1\r\n$20\r\n0123456789abcdefghij\r\n*0\r\n*-1\r\nPING\r\n",
		"SET k v\r\nGET k\nMGET \"a b\" 'c'\r\n\r\n",
		"*2\r\n$3\r\nGET\r\n:1\r\n", "*1\r\n$x\r\n", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$9999\r\nab",
		"*1\r\n$9\r\nab\x00\r\n\r\nxyz\r\n", "a b\x00c\n", "*1\r\n$1" + strings.Repeat("0", 300),
		strings.Repeat("x", 300), "*2\r\n$10\r\n0123456789XY$2\r\nab\r\n",
	} {
		f.Add([]byte(s), uint64(len(s)))
	}
	f.Fuzz(func(t *testing.T, in []byte, seed uint64) {
		lowerBigArg(t)
		checkSplits(t, in, seed, fuzzLimits)
	})
}

func TestReaderSplits(t *testing.T) {
	lowerBigArg(t)
	var in []byte
	for i := range 200 {
		k := "key:" + strconv.Itoa(i)
		in = AppendCommand(in, []byte("SET"), []byte(k), bytes.Repeat([]byte{byte('a' + i%26)}, i*7))
		in = append(in, "GET "+k+"\r\n"...)
		in = AppendCommand(in, []byte("DEL"), []byte(k), []byte("x"), []byte(""))
		in = append(in, "*0\r\n\r\n"...)
	}
	in = append(in, "*2\r\n$3\r\nGET\r\n$5\r\nab"...) // incomplete at the end
	for seed := range uint64(100) {
		checkSplits(t, in, seed, DefaultLimits)
	}
	// Errors after a request was partly taken are the stateless parser's.
	for _, tail := range []string{"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n:1\r\n", "*2\r\n$3\r\nGET\r\n$-5\r\n", "*2\r\n$3\r\nGET\r\n$1" + strings.Repeat("1", 70000)} {
		for seed := range uint64(4) {
			checkSplits(t, append(bytes.Clone(in[:len(in)-19]), tail...), seed, DefaultLimits)
		}
	}
}

// pieces feeds b in chunk-byte reads, as a server does, and returns the
// requests, the largest unread buffer the caller had to keep, and the
// bytes allocated meanwhile.
func pieces(tb testing.TB, b []byte, chunk int, each func(args [][]byte)) (maxUnread int, alloc uint64) {
	tb.Helper()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.TotalAlloc
	var r Reader
	var unread []byte
	args := make([][]byte, 0, 8)
	for at := 0; at < len(b); {
		k := min(chunk, len(b)-at)
		unread = append(unread, b[at:at+k]...)
		at += k
		maxUnread = max(maxUnread, len(unread))
		for {
			out, n, complete, err := r.Parse(unread, args, DefaultLimits)
			if err != nil {
				tb.Fatal(err)
			}
			if complete {
				each(out)
				r.Done()
				args = out[:0]
			}
			unread = unread[n:]
			if !complete {
				break
			}
		}
		unread = append(unread[:0:0], unread...) // a fresh buffer, as gnet's read buffer is reused
	}
	if len(unread) != 0 || r.Pending() != 0 {
		tb.Fatalf("%d bytes unread, %d pending", len(unread), r.Pending())
	}
	runtime.ReadMemStats(&ms)
	return maxUnread, ms.TotalAlloc - before
}

// A big argument arriving in 64 KiB reads is copied once into a buffer of
// its declared length: the caller never holds more than a read, and
// parsing allocates about the argument's size (the stateless parser,
// re-parsing the accumulated request at each read, allocated 9-20 times
// that in the server).
func TestReaderBigArg(t *testing.T) {
	const size = 10 << 20
	val := make([]byte, size)
	for i := range val {
		val[i] = byte(i * 7)
	}
	in := AppendCommand(nil, []byte("SET"), []byte("k"), val)
	in = AppendCommand(in, []byte("GET"), []byte("k"))
	var got []string
	maxUnread, alloc := pieces(t, in, 64<<10, func(args [][]byte) {
		if string(args[0]) == "SET" {
			if !bytes.Equal(args[2], val) || cap(args[2]) != size {
				t.Errorf("value of %d bytes (cap %d) differs", len(args[2]), cap(args[2]))
			}
		}
		got = append(got, string(args[0]))
	})
	if fmt.Sprint(got) != "[SET GET]" {
		t.Fatalf("requests %v", got)
	}
	if maxUnread > 64<<10+64 {
		t.Errorf("caller held %d bytes at once", maxUnread)
	}
	// The test's own 64 KiB read copies are in the figure too.
	if limit := uint64(size)*11/10 + 2*uint64(len(in))/(64<<10)*(64<<10+64); alloc > limit {
		t.Errorf("parsing allocated %d bytes for a %d-byte argument, want at most %d", alloc, size, limit)
	}
}

// manyArgs is name and n arguments a0, a1, ... as one request.
func manyArgs(name string, n int) [][]byte {
	args := [][]byte{[]byte(name)}
	for i := range n {
		args = append(args, []byte("a"+strconv.Itoa(i)))
	}
	return args
}

func TestReaderManyArgs(t *testing.T) {
	for _, name := range []string{"DEL", "MSET"} {
		want := manyArgs(name, 1_000_000)
		in := AppendCommand(nil, want...)
		calls := 0
		_, alloc := pieces(t, in, 64<<10, func(args [][]byte) {
			calls++
			if len(args) != len(want) {
				t.Fatalf("%s: %d arguments, want %d", name, len(args), len(want))
			}
			for i := range args {
				if !bytes.Equal(args[i], want[i]) {
					t.Fatalf("%s: argument %d = %q, want %q", name, i, args[i], want[i])
				}
			}
		})
		if calls != 1 {
			t.Fatalf("%s: %d requests", name, calls)
		}
		// Per argument: its bytes copied once, a slice header in the
		// Reader (grown by doubling) and one in the caller's slice. The
		// stateless parser rebuilt the slice headers at every read.
		if limit := uint64(len(in)) + 4*24*uint64(len(want)); alloc > limit {
			t.Errorf("%s: parsing allocated %d bytes for %d input bytes, want at most %d", name, alloc, len(in), limit)
		}
	}
}

// A burst of 100,000 inline SET+GET in one buffer parses in one pass, each
// line scanned once.
func TestReaderInlineBurst(t *testing.T) {
	var in []byte
	for i := range 100_000 {
		in = fmt.Appendf(in, "SET k%d v%d\r\nGET k%d\r\n", i, i, i)
	}
	i := 0
	pieces(t, in, len(in), func(args [][]byte) {
		want := fmt.Sprintf("[SET k%d v%d]", i/2, i/2)
		if i%2 == 1 {
			want = fmt.Sprintf("[GET k%d]", i/2)
		}
		if got := fmt.Sprintf("%s", args); got != want {
			t.Fatalf("request %d = %s, want %s", i, got, want)
		}
		i++
	})
	if i != 200_000 {
		t.Fatalf("%d requests", i)
	}
}

// The query buffer limit counts the bytes the Reader took.
func TestReaderQueryBufferLimit(t *testing.T) {
	lim := DefaultLimits
	lim.MaxQueryBuffer = 100
	var r Reader
	in := []byte("*1\r\n$200\r\n" + strings.Repeat("x", 60))
	_, n, complete, err := r.Parse(in, nil, lim)
	if err != nil || complete || n != len(in) {
		t.Fatalf("first part: n %d, complete %v, err %v", n, complete, err)
	}
	if _, _, _, err := r.Parse([]byte(strings.Repeat("x", 41)), nil, lim); err != ErrQueryBufferLimit {
		t.Fatalf("err = %v, want ErrQueryBufferLimit", err)
	}
}

func BenchmarkReader(b *testing.B) {
	for _, bc := range []struct{ name, in string }{
		{"get", "*2\r\n$3\r\nGET\r\n$16\r\nkey:000000000001\r\n"},
		{"set", "*3\r\n$3\r\nSET\r\n$16\r\nkey:000000000001\r\n$32\r\n" + strings.Repeat("v", 32) + "\r\n"},
		{"inline", "SET key:000000000001 vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv\r\n"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			buf := []byte(bc.in)
			args := make([][]byte, 0, 8)
			var r Reader
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				var err error
				args, _, _, err = r.Parse(buf, args, DefaultLimits)
				if err != nil {
					b.Fatal(err)
				}
				r.Done()
			}
		})
	}
}

// BenchmarkReaderSplit parses big requests arriving in 64 KiB reads.
func BenchmarkReaderSplit(b *testing.B) {
	for _, bc := range []struct {
		name string
		args [][]byte
	}{
		{"1MB", [][]byte{[]byte("SET"), []byte("k"), bytes.Repeat([]byte("v"), 1<<20)}},
		{"10MB", [][]byte{[]byte("SET"), []byte("k"), bytes.Repeat([]byte("v"), 10<<20)}},
		{"100MB", [][]byte{[]byte("SET"), []byte("k"), bytes.Repeat([]byte("v"), 100<<20)}},
		{"DEL-1M", manyArgs("DEL", 1_000_000)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			in := AppendCommand(nil, bc.args...)
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				pieces(b, in, 64<<10, func([][]byte) {})
			}
		})
	}
}
