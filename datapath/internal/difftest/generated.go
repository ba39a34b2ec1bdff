package difftest

import (
	"math/rand/v2"
	"strconv"
	"strings"
)

// Generated cases: many random inputs to the functions where a
// re-implementation is most likely to drift from Redis: glob matching
// (KEYS) and long double arithmetic and formatting (INCRBYFLOAT). The seed
// is fixed so that a failure reproduces.
func init() {
	r := rand.New(rand.NewPCG(7, 11))
	alphabet := []byte("ab[]^-\\*?x{}\x80\xff")
	var keys []string
	for range 60 {
		n := r.IntN(6)
		k := make([]byte, n)
		for i := range k {
			k[i] = alphabet[r.IntN(len(alphabet))]
		}
		keys = append(keys, string(k), "v")
	}
	globs := []Step{X(append([]string{"MSET"}, keys...)...)}
	for range 300 {
		n := 1 + r.IntN(7)
		p := make([]byte, n)
		for i := range p {
			p[i] = alphabet[r.IntN(len(alphabet))]
		}
		globs = append(globs, U("KEYS", string(p)))
	}
	Cases = append(Cases, Case{"generated glob patterns", globs})

	var floats []Step
	for i := range 200 {
		key := "f" + strconv.Itoa(i%5)
		var v string
		switch r.IntN(5) {
		case 0:
			v = strconv.FormatFloat(r.NormFloat64()*1000, 'f', r.IntN(12), 64)
		case 1:
			v = strconv.FormatFloat(r.Float64(), 'g', -1, 64)
		case 2:
			v = strconv.FormatFloat(r.NormFloat64()*1e15, 'e', r.IntN(20), 64)
		case 3:
			v = "0." + strings.Repeat("0", r.IntN(20)) + strconv.Itoa(r.IntN(1000))
		default:
			v = strconv.Itoa(r.IntN(2000) - 1000)
		}
		floats = append(floats, X("INCRBYFLOAT", key, v))
	}
	floats = append(floats, X("MGET", "f0", "f1", "f2", "f3", "f4"))
	Cases = append(Cases, Case{"generated incrbyfloat", floats})

	mb := strings.Repeat("m", 1<<20)
	Cases = append(Cases, Case{"proto-max-bulk-len", []Step{
		X("CONFIG", "SET", "proto-max-bulk-len", "1mb"), X("SET", "k", mb), X("APPEND", "k", "x"), X("STRLEN", "k"),
		X("SETRANGE", "k", "1048575", "xy"), X("SETRANGE", "k", "1048575", "x"), X("SETRANGE", "n", "1048576", "x"),
		X("APPEND", "n", mb), RawClosed("*2\r\n$4\r\nECHO\r\n$1048577\r\n"),
		Reconnect, X("CONFIG", "SET", "proto-max-bulk-len", "512mb"),
	}})
}
