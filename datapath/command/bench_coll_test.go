package command

import (
	"testing"

	"github.com/dorivo/dorivo/shardstore/keyspace"
)

// BenchmarkCollExec measures redis-benchmark's collection writes on one
// key, as a loop executes them: reply and records into reused buffers.
func BenchmarkCollExec(b *testing.B) {
	for _, bc := range []struct {
		name string
		args []string
	}{
		{"hset", []string{"HSET", "myhash", "element:__rand_int__", "xxx"}},
		{"lpush", []string{"LPUSH", "mylist", "xxx"}},
		{"sadd", []string{"SADD", "myset", "element:__rand_int__"}},
		{"zadd", []string{"ZADD", "myzset", "0", "element:__rand_int__"}},
		{"lrange100", []string{"LRANGE", "mylist", "0", "99"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s, ks := NewSession(NewNode()), keyspace.New()
			args := make([][]byte, len(bc.args))
			for i, a := range bc.args {
				args[i] = []byte(a)
			}
			for range 200 {
				Exec(s, ks, [][]byte{[]byte("LPUSH"), []byte("mylist"), []byte("xxx")}, 1, nil, nil)
			}
			out := make([]byte, 0, 4096)
			var muts []Mutation
			b.ReportAllocs()
			for b.Loop() {
				out, muts = Exec(s, ks, args, 1, out[:0], muts[:0])
			}
		})
	}
}
