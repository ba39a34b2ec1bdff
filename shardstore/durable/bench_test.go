package durable

import (
	"bufio"
	"fmt"
	"github.com/dorivo/dorivo/internal/redistest"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/dorivo/dorivo/shardstore/slot"
)

// BenchmarkPropose measures acknowledged (committed, fsynced, applied)
// writes through the store on a real disk directory, with N proposers each
// waiting for its write before the next, as N pipelining-free clients do.
// One op is one write; the metrics give the group-commit factor.
//
//	go test ./shardstore/durable -run '^$' -bench 'Propose|RedisAOF' -benchtime 2s
func BenchmarkPropose(b *testing.B) {
	for _, n := range []int{1, 50, 256} {
		b.Run(fmt.Sprintf("proposers=%d", n), func(b *testing.B) {
			s := openStore(b, b.TempDir(), Options{Shards: 4})
			defer s.Close()
			val := []byte("xxx") // redis-benchmark's default 3-byte value
			before := s.Stats()
			b.ResetTimer()
			var wg sync.WaitGroup
			for p := range n {
				wg.Go(func() {
					ch := make(chan error, 1)
					done := func(_ uint64, err error) { ch <- err }
					var rec []byte
					for i := p; i < b.N; i += n {
						key := fmt.Appendf(nil, "{c%d}:key:%d", p, i)
						rec = AppendSet(rec[:0], key, val, 0)
						s.Propose(s.ShardOf(slot.Of(key)), rec, done)
						if err := <-ch; err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			st := s.Stats()
			secs := b.Elapsed().Seconds()
			fsyncs := float64(st.Fsyncs - before.Fsyncs)
			b.ReportMetric(float64(b.N)/secs, "writes/s")
			b.ReportMetric(fsyncs/secs, "fsyncs/s")
			if fsyncs > 0 {
				b.ReportMetric(float64(b.N)/fsyncs, "writes/fsync")
			}
		})
	}
}

var rpsRE = regexp.MustCompile(`SET: ([0-9.]+) requests per second`)

// BenchmarkRedisAOFAlways is the peer: redis-server with appendonly yes and
// appendfsync always (one fsync per event-loop iteration, Redis's group
// commit), driven by redis-benchmark -t set -c 50 on the same machine in
// the same run. One op is one SET. Redis is reached over loopback TCP and
// this store in-process, so the peer pays RESP and syscalls the store does
// not yet; the comparison is of durable write paths, not of servers.
func BenchmarkRedisAOFAlways(b *testing.B) {
	bench, err := exec.LookPath("redis-benchmark")
	if err != nil {
		b.Skip("redis-benchmark not installed")
	}
	port := strconv.Itoa(redistest.Start(b, "--appendonly", "yes", "--appendfsync", "always").Port)
	n := max(b.N, 50)
	b.ResetTimer()
	out, err := exec.Command(bench, "-p", port, "-t", "set", "-n", strconv.Itoa(n), "-c", "50",
		"-r", "100000", "-q").CombinedOutput()
	b.StopTimer()
	if err != nil {
		b.Fatalf("redis-benchmark: %v\n%s", err, out)
	}
	var rps float64
	sc := bufio.NewScanner(bytesReader(out))
	sc.Split(scanCR)
	for sc.Scan() {
		if m := rpsRE.FindStringSubmatch(sc.Text()); m != nil {
			rps, _ = strconv.ParseFloat(m[1], 64)
		}
	}
	if rps == 0 {
		b.Fatalf("no SET rate in redis-benchmark output:\n%s", out)
	}
	b.ReportMetric(rps, "writes/s")
}

// BenchmarkGet reads random keys of 100,000 100-byte values back through
// Get, as the datapath's fetchers do for cold keys, with the read cache off
// (every read goes to pebble) and with 256 KiB of it. The store is reopened
// after the writes, so the reads meet sstables rather than the memtable.
//
//	go test ./shardstore/durable -run '^$' -bench Get -benchtime 200000x
func BenchmarkGet(b *testing.B) {
	const keys = 100_000
	dir := b.TempDir()
	s := openStore(b, dir, Options{Shards: 2})
	val := make([]byte, 100)
	var wg sync.WaitGroup
	for p := range 64 {
		wg.Go(func() {
			ch := make(chan error, 1)
			done := func(_ uint64, err error) { ch <- err }
			for i := p; i < keys; i += 64 {
				key := fmt.Appendf(nil, "key:%012d", i)
				s.Propose(s.ShardOf(slot.Of(key)), AppendSet(nil, key, val, 0), done)
				if err := <-ch; err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	for _, cache := range []int64{0, 256 << 10} {
		b.Run(fmt.Sprintf("cache=%d", cache), func(b *testing.B) {
			s := openStore(b, dir, Options{Shards: 2, CacheBytes: cache})
			defer s.Close()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				var key []byte
				i := uint64(time.Now().UnixNano())
				for pb.Next() {
					i = i*6364136223846793005 + 1442695040888963407
					key = fmt.Appendf(key[:0], "key:%012d", (i>>33)%keys)
					if _, _, found, err := s.Get(s.ShardOf(slot.Of(key)), key); err != nil || !found {
						b.Fatalf("Get(%s) = %v, %v", key, found, err)
					}
				}
			})
		})
	}
}
