package command

import (
	"fmt"
	"testing"

	"github.com/dorivo/dorivo/datapath/resp"
	"github.com/dorivo/dorivo/shardstore/keyspace"
)

// BenchmarkParseExec measures what a loop does per request: parse one
// RESP request and execute it, appending the reply and the mutations to
// reused buffers.
func BenchmarkParseExec(b *testing.B) {
	val := "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"
	for _, bc := range []struct {
		name string
		req  func(i int) string
	}{
		{"get", func(i int) string { return fmt.Sprintf("*2\r\n$3\r\nGET\r\n$16\r\nkey:%012d\r\n", i) }},
		{"set", func(i int) string {
			return fmt.Sprintf("*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$%d\r\n%s\r\n", i, len(val), val)
		}},
		{"incr", func(i int) string { return fmt.Sprintf("*2\r\n$4\r\nINCR\r\n$16\r\nctr:%012d\r\n", i) }},
		{"mget4", func(i int) string {
			return fmt.Sprintf("*5\r\n$4\r\nMGET\r\n$16\r\nkey:%012d\r\n$16\r\nkey:%012d\r\n$16\r\nkey:%012d\r\n$16\r\nkey:%012d\r\n", i, i+1, i+2, i+3)
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			node := NewNode()
			s := NewSession(node)
			ks := keyspace.New()
			const nkeys = 1024
			reqs := make([][]byte, nkeys)
			for i := range reqs {
				reqs[i] = []byte(bc.req(i))
				ks.Set(fmt.Appendf(nil, "key:%012d", i), []byte(val), 0)
			}
			args := make([][]byte, 0, 8)
			out := make([]byte, 0, 4096)
			muts := make([]Mutation, 0, 8)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				var err error
				args, _, err = resp.Parse(reqs[i%nkeys], args, resp.DefaultLimits)
				if err != nil {
					b.Fatal(err)
				}
				out, muts = Exec(s, ks, args, 1, out[:0], muts[:0])
				i++
			}
		})
	}
}
