package server

import (
	"fmt"
	"github.com/dorivo/dorivo/internal/redistest"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/dorivo/dorivo/internal/testenv"
)

var rpsLine = regexp.MustCompile(`(?m)^\s*([A-Z]+)(?: \(\d+ keys\))?: ([0-9.]+) requests per second`)

// redisBenchmark runs redis-benchmark inside ns against port and returns
// requests per second by test name.
func redisBenchmark(tb testing.TB, ns *testenv.Netns, port int, pipe, n int) map[string]float64 {
	tb.Helper()
	out, err := exec.Command("ip", "netns", "exec", ns.Name, "redis-benchmark", "-p", strconv.Itoa(port), "-q",
		"-t", "set,get,incr,mset", "-r", "100000", "-c", "50", "-n", strconv.Itoa(n), "-P", strconv.Itoa(pipe)).CombinedOutput()
	if err != nil {
		tb.Fatalf("redis-benchmark: %v\n%s", err, out)
	}
	res := map[string]float64{}
	for _, m := range rpsLine.FindAllStringSubmatch(lastLines(string(out)), -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		res[m[1]] = v
	}
	return res
}

// BenchmarkVsRedisServer measures redis-benchmark throughput against Dorivo
// (one loop per CPU) and against redis-server started in the same network
// namespace, in the same run, and reports Dorivo/redis-server ratios.
// Run: go test -run XXX -bench VsRedisServer -benchtime 1x ./datapath/server
// (DORIVO_BENCH_N sets requests per test, default 200000; DORIVO_BENCH_LOOPS
// the loop count, default NumCPU).
func BenchmarkVsRedisServer(b *testing.B) {
	testenv.RequireCommand(b, "redis-benchmark")
	ns := testenv.NewNetns(b, "cmp")
	const dport, rport = 7501, 7502
	var s *Server
	var err error
	ns.Do(b, func() {
		loops, _ := strconv.Atoi(envOr("DORIVO_BENCH_LOOPS", "0"))
		s, err = New(Config{TCPAddr: fmt.Sprintf("127.0.0.1:%d", dport), Loops: loops})
		if err == nil {
			err = s.Start()
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer s.stopEngines()
	redistest.StartIn(b, ns, rport)
	n := 200000
	if v, err := strconv.Atoi(envOr("DORIVO_BENCH_N", "")); err == nil && v > 0 {
		n = v
	}
	b.ResetTimer()
	for range b.N {
		var table strings.Builder
		fmt.Fprintf(&table, "loops=%d GOMAXPROCS=%d n=%d c=50 r=100000\n%-6s %-3s %12s %12s %7s\n",
			s.Loops(), runtime.GOMAXPROCS(0), n, "test", "P", "dorivo rps", "redis rps", "ratio")
		for _, pipe := range []int{1, 16} {
			d := redisBenchmark(b, ns, dport, pipe, n)
			r := redisBenchmark(b, ns, rport, pipe, n)
			for _, test := range []string{"SET", "GET", "INCR", "MSET"} {
				ratio := d[test] / r[test]
				fmt.Fprintf(&table, "%-6s %-3d %12.0f %12.0f %7.2f\n", test, pipe, d[test], r[test], ratio)
				b.ReportMetric(ratio, fmt.Sprintf("%s-P%d-ratio", strings.ToLower(test), pipe))
			}
		}
		fmt.Print(table.String()) // b.Log would truncate the table
	}
}
