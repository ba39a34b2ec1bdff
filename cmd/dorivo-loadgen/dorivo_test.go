package main

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/dorivo/dorivo/datapath/wire"
	"github.com/dorivo/dorivo/datapath/wire/auth"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/dorivo/dorivo/datapath/server"
)

// startDorivo starts the real datapath server (2 loops, TCP and UDP on one
// loopback port, threads unpinned to spare the shared CPUs) and returns its
// address.
func startDorivo(t testing.TB) string {
	addr, _ := startDorivoStoppable(t)
	return addr
}

// startDorivoStoppable is startDorivo that also returns a stop func, safe
// to call more than once (the test's cleanup calls it too).
func startDorivoStoppable(t testing.TB) (addr string, stop func()) {
	t.Helper()
	for range 5 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		s, err := server.New(server.Config{TCPAddr: addr, UDPAddr: addr, Loops: 2, NoPin: true, Auth: testAuth(),
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(); err != nil {
			continue // the port was taken in between: try another
		}
		var once sync.Once
		stop := func() {
			once.Do(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_ = s.Stop(ctx)
			})
		}
		t.Cleanup(stop)
		return addr, stop
	}
	t.Fatal("no free port for the Dorivo server after 5 tries")
	return "", nil
}

// TestAgainstDorivoServer drives the real Dorivo datapath: RESP with MSET,
// shard-aware source ports, datagrams, and writes recorded over one
// protocol verified over the other.
func TestAgainstDorivoServer(t *testing.T) {
	addr := startDorivo(t)
	noErrors := func(t *testing.T, args ...string) string {
		t.Helper()
		code, out, stderr := runCLI(t, append(append([]string{"--target", addr, "--quiet", "--conns", "2", "--pipeline", "4"}, keyFlags()...), args...)...)
		if code != exitOK {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, stderr)
		}
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) == 10 && f[0] != "op" && (f[1] == "0" || f[9] != "0") {
				t.Errorf("%v: row %v: want requests and no errors\n%s", args, f, out)
			}
		}
		return out
	}
	dir := t.TempDir()
	noErrors(t, "--requests", "2000", "--read-ratio", "0.4", "--mset-ratio", "0.2", "--mset-keys", "4")
	// Record over one protocol, verify over the other, before the next
	// run overwrites the same keys.
	for _, tc := range []struct {
		rec, verifyProto string
		load             []string
	}{
		{"tcp.rec", "udp", []string{"--shard-aware", "--loops", "2"}},
		{"udp.rec", "resp", []string{"--proto", "udp", "--value-size", "1024"}},
	} {
		rec := filepath.Join(dir, tc.rec)
		noErrors(t, append([]string{"--requests", "2000", "--record", rec}, tc.load...)...)
		code, out, stderr := runCLI(t, append(keyFlags(), "--target", addr, "--proto", tc.verifyProto, "--verify", rec)...)
		if code != exitOK || !strings.Contains(out, "0 missing, 0 wrong") {
			t.Errorf("verify %s over %s: exit %d\n%s%s", tc.rec, tc.verifyProto, code, out, stderr)
		}
	}
	keys := recordedKeys(t, filepath.Join(dir, "udp.rec"))
	redisDo(t, addr, "DEL", keys[0])
	code, out, _ := runCLI(t, append(keyFlags(), "--target", addr, "--proto", "udp", "--verify", filepath.Join(dir, "udp.rec"))...)
	if code != exitMismatch || !strings.Contains(out, fmt.Sprintf("missing %s\n", keys[0])) {
		t.Errorf("verify after DEL %s: exit %d\n%s", keys[0], code, out)
	}
}

// BenchmarkUDPAgainstDorivo measures the load generator against the real
// datapath (2 loops, in this process, unpinned): GETs and SETs half each,
// 100-byte values, 2 sockets, P in flight each. The load generator runs as
// a child process (this binary as dorivo-loadgen), so that its own CPU time
// is known apart from the server's: it reports datagrams/s and the client's
// CPU per datagram (utime+stime from rusage), which a busy machine disturbs
// less than throughput. Any error fails the benchmark, so that a faster
// figure is never bought with lost requests.
func BenchmarkUDPAgainstDorivo(b *testing.B) {
	addr := startDorivo(b)
	for _, p := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("pipeline%d", p), func(b *testing.B) {
			n := max(b.N, 1000)
			cmd := exec.Command(os.Args[0], append(keyFlags(), "--proto", "udp", "--target", addr, "--conns", "2", "--pipeline", strconv.Itoa(p),
				"--requests", strconv.Itoa(n), "--keyspace", "10000", "--value-size", "100", "--json", "--quiet")...)
			cmd.Env = append(os.Environ(), "DORIVO_LOADGEN_AS_MAIN=1")
			b.ResetTimer()
			out, err := cmd.Output()
			if err != nil {
				b.Fatalf("dorivo-loadgen: %v\n%s", err, out)
			}
			var rep struct {
				Elapsed float64 `json:"elapsed_s"`
				Total   struct {
					Requests int64 `json:"requests"`
					Errors   int64 `json:"errors"`
				} `json:"total"`
			}
			if err := json.Unmarshal(out, &rep); err != nil || rep.Total.Requests != int64(n) || rep.Total.Errors != 0 {
				b.Fatalf("%d of %d requests, %d errors (%v)\n%s", rep.Total.Requests, n, rep.Total.Errors, err, out)
			}
			ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
			cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
			b.ReportMetric(float64(rep.Total.Requests)/rep.Elapsed, "datagrams/s")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "client-cpu-ns/datagram")
		})
	}
}

// testKeyHex is the datagram key of the loadgen's tenants (tenant0 …
// tenant15) in the tests: their datagrams are signed, their replies
// verified, and replies may be longer than requests.
const testKeyHex = "00112233445566778899aabbccddeeff"

func testAuth() *atomic.Pointer[auth.Table] {
	k, _ := wire.ParseKey(testKeyHex)
	t := &auth.Table{Tenants: map[string]auth.Tenant{}}
	for i := range 16 {
		t.Tenants[fmt.Sprintf("tenant%d", i)] = auth.Tenant{Key: k}
	}
	p := new(atomic.Pointer[auth.Table])
	p.Store(t)
	return p
}

// keyFlags are the --tenant-key flags of testAuth's tenants.
func keyFlags() []string {
	var f []string
	for i := range 16 {
		f = append(f, "--tenant-key", fmt.Sprintf("tenant%d=%s", i, testKeyHex))
	}
	return f
}

// Datagrams of tenants with keys are signed with --tenant-key and their
// replies checked; without the keys the node drops every datagram of those
// tenants, the run times out on each, and the loadgen says so.
func TestTenantKeySignsDatagrams(t *testing.T) {
	addr := startDorivo(t)
	args := []string{"--target", addr, "--proto", "udp", "--quiet", "--conns", "1", "--requests", "200", "--value-size", "200", "--timeout", "500ms"}
	if code, out, stderr := runCLI(t, append(keyFlags(), args...)...); code != exitOK || !strings.Contains(out, "  0\n") {
		t.Fatalf("signed run: exit %d\n%s%s", code, out, stderr)
	}
	code, out, stderr := runCLI(t, args...)
	if code == exitOK || !strings.Contains(stderr, "no reply to a probe datagram") {
		t.Fatalf("unsigned run against keyed tenants: exit %d, want no reply at all\n%s%s", code, out, stderr)
	}
}
