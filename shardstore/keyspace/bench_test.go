package keyspace

import (
	"bufio"
	"bytes"
	"fmt"
	"github.com/dorivo/dorivo/internal/redistest"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// benchKey is redis-benchmark's key format for -r: "key:" and 12 digits.
func benchKey(i int) []byte { return fmt.Appendf(nil, "key:%012d", i) }

// benchKeys returns n keys and a random order to visit them in.
func benchKeys(n int) (keys [][]byte, order []int32) {
	keys = make([][]byte, n)
	for i := range keys {
		keys[i] = benchKey(i)
	}
	r := rand.New(rand.NewPCG(7, 11))
	order = make([]int32, 1<<20)
	for i := range order {
		order[i] = int32(r.IntN(n))
	}
	return keys, order
}

var benchVal = bytes.Repeat([]byte("v"), 100)

// BenchmarkGet100k looks up random keys among 100k, as GET does.
func BenchmarkGet100k(b *testing.B) {
	keys, order := benchKeys(100_000)
	ks := New()
	for _, k := range keys {
		ks.Set(k, benchVal, 0)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, ok := ks.Get(keys[order[i&(len(order)-1)]], 1); !ok {
			b.Fatal("missing")
		}
		i++
	}
}

// BenchmarkGoMap100k is the reference: the same lookups in one Go map.
func BenchmarkGoMap100k(b *testing.B) {
	keys, order := benchKeys(100_000)
	m := make(map[string][]byte)
	for _, k := range keys {
		m[string(k)] = append([]byte(nil), benchVal...)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, ok := m[string(keys[order[i&(len(order)-1)]])]; !ok {
			b.Fatal("missing")
		}
		i++
	}
}

// BenchmarkGetCopy100k looks up random keys among 100k and copies the
// value out, as GET does into its reply.
func BenchmarkGetCopy100k(b *testing.B) {
	keys, order := benchKeys(100_000)
	ks := New()
	for _, k := range keys {
		ks.Set(k, benchVal, 0)
	}
	var reply [128]byte
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		v, ok := ks.Get(keys[order[i&(len(order)-1)]], 1)
		if !ok || copy(reply[:], v) != len(benchVal) {
			b.Fatal("missing")
		}
		i++
	}
}

// BenchmarkGoMapCopy100k is the reference for BenchmarkGetCopy100k.
func BenchmarkGoMapCopy100k(b *testing.B) {
	keys, order := benchKeys(100_000)
	m := make(map[string][]byte)
	for _, k := range keys {
		m[string(k)] = append([]byte(nil), benchVal...)
	}
	var reply [128]byte
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		v, ok := m[string(keys[order[i&(len(order)-1)]])]
		if !ok || copy(reply[:], v) != len(benchVal) {
			b.Fatal("missing")
		}
		i++
	}
}

// BenchmarkSet100k overwrites random keys among 100k with 100 B values.
func BenchmarkSet100k(b *testing.B) {
	keys, order := benchKeys(100_000)
	ks := New()
	for _, k := range keys {
		ks.Set(k, benchVal, 0)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ks.Set(keys[order[i&(len(order)-1)]], benchVal, 0)
		i++
	}
}

// BenchmarkInsert adds new keys of 100 B values, deleting the oldest once
// 100k are held, so that the table stays the same size.
func BenchmarkInsert(b *testing.B) {
	keys, _ := benchKeys(1 << 18)
	ks := New()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ks.Set(keys[i&(len(keys)-1)], benchVal, 0)
		if i >= 100_000 {
			ks.Delete(keys[(i-100_000)&(len(keys)-1)], 0)
		}
		i++
	}
}

// heapAlloc returns the live heap after a full collection.
func heapAlloc() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

const memKeys = 1_000_000

// BenchmarkMemory1M reports the heap bytes per key of 1M keys of 100 B
// values (redis-benchmark's keys), the figure compared with Redis's
// used_memory per key. Run with -benchtime=1x.
func BenchmarkMemory1M(b *testing.B) {
	for b.Loop() {
		before := heapAlloc()
		ks := New()
		for i := range memKeys {
			ks.Set(benchKey(i), benchVal, 0)
		}
		after := heapAlloc()
		if ks.Len() != memKeys {
			b.Fatalf("Len = %d", ks.Len())
		}
		b.ReportMetric(float64(after-before)/memKeys, "B/key")
		runtime.KeepAlive(ks)
	}
}

// BenchmarkRedisMemory1M loads the same 1M keys of 100 B into a private
// redis-server (internal/redistest) and reports its used_memory per key, minus used_memory
// before the load. Run with -benchtime=1x.
func BenchmarkRedisMemory1M(b *testing.B) {
	var c net.Conn
	c, err := net.Dial("tcp", redistest.Start(b).Addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	rd := bufio.NewReader(c)
	for b.Loop() {
		redisCmd(b, c, rd, "FLUSHALL")
		base := usedMemory(b, c, rd)
		loadRedis(b, c, rd)
		if n := redisInt(b, redisCmd(b, c, rd, "DBSIZE")); n != memKeys {
			b.Fatalf("redis DBSIZE = %d, want %d", n, memKeys)
		}
		b.ReportMetric(float64(usedMemory(b, c, rd)-base)/memKeys, "B/key")
	}
}

// loadRedis sets keys 0..memKeys-1 to 100 B values, pipelined 10,000
// requests at a time.
func loadRedis(b *testing.B, c net.Conn, rd *bufio.Reader) {
	w := bufio.NewWriter(c)
	val := string(benchVal)
	for lo := 0; lo < memKeys; lo += 10_000 {
		hi := min(lo+10_000, memKeys)
		for i := lo; i < hi; i++ {
			k := benchKey(i)
			fmt.Fprintf(w, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", len(k), k, len(val), val)
		}
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
		for i := lo; i < hi; i++ {
			readReply(b, rd)
		}
	}
}

func redisCmd(b *testing.B, c net.Conn, rd *bufio.Reader, args ...string) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&sb, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(sb.String())); err != nil {
		b.Fatal(err)
	}
	return readReply(b, rd)
}

// readReply reads one simple, integer, error or bulk reply.
func readReply(b *testing.B, rd *bufio.Reader) string {
	line, err := rd.ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	line = strings.TrimSuffix(line, "\r\n")
	switch line[0] {
	case '$':
		n, _ := strconv.Atoi(line[1:])
		if n < 0 {
			return ""
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(rd, buf); err != nil {
			b.Fatal(err)
		}
		return string(buf[:n])
	case '-':
		b.Fatalf("redis error: %s", line)
	}
	return line[1:]
}

func redisInt(b *testing.B, s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		b.Fatalf("not an integer: %q", s)
	}
	return n
}

func usedMemory(b *testing.B, c net.Conn, rd *bufio.Reader) int64 {
	info := redisCmd(b, c, rd, "INFO", "memory")
	for _, l := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(l, "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				b.Fatalf("used_memory %q: %v", v, err)
			}
			return n
		}
	}
	b.Fatalf("no used_memory in INFO memory: %q", info)
	return 0
}
