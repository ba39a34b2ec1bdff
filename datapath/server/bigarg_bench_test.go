package server

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"github.com/dorivo/dorivo/internal/redistest"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dorivo/dorivo/datapath/resp"
	"golang.org/x/sys/unix"
)

// Big requests through the TCP path: arguments of 1 to 100 MB, commands of
// 1M arguments, and a burst of 100,000 inline SET+GET in one write. The
// tests check every reply; the benchmarks run the same requests against
// Dorivo and redis-server. Each benchmark reports, besides wall time per op:
//   - server-cpu-ms/op: the server's CPU. redis-server's is the sum of its
//     threads' /proc/<pid>/task/*/schedstat. Dorivo runs in this process,
//     so its figure is the process's CPU minus that of the client threads
//     (the client goroutines lock their threads and read RUSAGE_THREAD);
//   - peak-MB: the server's peak RSS (VmHWM, reset through clear_refs
//     before the run) above its RSS when the run started;
//   - held-RSS-MB (big arguments): the server's RSS above that base while
//     it holds every byte of an argument but the last.

// bigTarget is a server under measurement.
type bigTarget struct {
	addr string
	pid  int // 0: this process
}

// cpu returns the server's CPU time so far, counting this process's client
// threads' time (client) out of it when the server is this process.
func (t bigTarget) cpu(client time.Duration) time.Duration {
	if t.pid == 0 {
		var ru unix.Rusage
		_ = unix.Getrusage(unix.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano()+ru.Stime.Nano()) - client
	}
	// Each thread's schedstat starts with its time on CPU in ns (stat's
	// utime and stime count 10 ms ticks: too coarse for small requests).
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", t.pid))
	var ns int64
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if v, err := strconv.ParseInt(strings.Fields(string(b))[0], 10, 64); err == nil {
			ns += v
		}
	}
	return time.Duration(ns)
}

func (t bigTarget) proc() string {
	if t.pid == 0 {
		return "self"
	}
	return strconv.Itoa(t.pid)
}

// rss returns VmRSS and VmHWM in bytes.
func (t bigTarget) rss() (cur, peak int64) {
	b, _ := os.ReadFile("/proc/" + t.proc() + "/status")
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			cur = v << 10
		case "VmHWM:":
			peak = v << 10
		}
	}
	return cur, peak
}

// resetPeak makes VmHWM the current RSS.
func (t bigTarget) resetPeak() {
	_ = os.WriteFile("/proc/"+t.proc()+"/clear_refs", []byte("5"), 0)
}

func dorivoTarget(b testing.TB, loops int) bigTarget {
	b.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", redistest.FreePort(b))
	s, err := New(Config{TCPAddr: addr, Loops: loops, NoPin: true})
	if err == nil {
		err = s.Start()
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Stop(ctx)
	})
	return bigTarget{addr: addr}
}

func redisTarget(b *testing.B) bigTarget {
	b.Helper()
	addr := redistest.Start(b).Addr
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	_, _ = c.Write([]byte("INFO server\r\n"))
	rd := bufio.NewReader(c)
	for {
		l, err := rd.ReadString('\n')
		if err != nil {
			b.Fatalf("INFO: %v", err)
		}
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "process_id:"); ok {
			pid, _ := strconv.Atoi(v)
			return bigTarget{addr: addr, pid: pid}
		}
	}
}

// threadCPU is the calling thread's CPU time; the caller has locked it.
func threadCPU() time.Duration {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_THREAD, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// bigRun measures b.N calls of op against t. op runs on a locked thread,
// gets the server's RSS at the start, and returns the CPU of any other
// client thread it used.
func bigRun(b *testing.B, t bigTarget, op func(i int, base int64) time.Duration) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	runtime.GC()
	base, _ := t.rss()
	t.resetPeak()
	var helpers time.Duration
	c0 := threadCPU()
	s0 := t.cpu(c0)
	b.ResetTimer()
	for i := range b.N {
		helpers += op(i, base)
	}
	b.StopTimer()
	c1 := threadCPU()
	s1 := t.cpu(c1 + helpers)
	_, peak := t.rss()
	b.ReportMetric(float64(s1-s0)/float64(time.Millisecond)/float64(b.N), "server-cpu-ms/op")
	b.ReportMetric(float64(peak-base)/(1<<20), "peak-MB")
}

func benchTargets(b *testing.B, loops []int, fn func(b *testing.B, t bigTarget)) {
	for _, n := range loops {
		b.Run(fmt.Sprintf("dorivo-loops%d", n), func(b *testing.B) { fn(b, dorivoTarget(b, n)) })
	}
	b.Run("redis", func(b *testing.B) { fn(b, redisTarget(b)) })
}

// writeBigSet writes SET key <size bytes> from a 64 KiB chunk, stopping
// hold bytes before the end of the value.
func writeBigSet(w io.Writer, key string, size, hold int) error {
	if _, err := fmt.Fprintf(w, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n", len(key), key, size); err != nil {
		return err
	}
	chunk := bytes.Repeat([]byte("v"), 64<<10)
	for left := size - hold; left > 0; {
		n := min(left, len(chunk))
		if _, err := w.Write(chunk[:n]); err != nil {
			return err
		}
		left -= n
	}
	return nil
}

// outq returns the bytes c's socket has not had acknowledged yet.
func outq(c *net.TCPConn) int {
	rc, _ := c.SyscallConn()
	n := 0
	_ = rc.Control(func(fd uintptr) { n, _ = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ) })
	return n
}

// heldRSS waits until the server has been sent everything written on c and
// its RSS has settled, and returns that RSS.
func heldRSS(t bigTarget, c *net.TCPConn) int64 {
	for deadline := time.Now().Add(5 * time.Second); outq(c) > 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	prev := int64(-1)
	for range 100 {
		time.Sleep(20 * time.Millisecond)
		cur, _ := t.rss()
		if cur == prev {
			return cur
		}
		prev = cur
	}
	return prev
}

func BenchmarkBigArg(b *testing.B) {
	for _, mb := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("%dMB", mb), func(b *testing.B) {
			size := mb << 20
			benchTargets(b, []int{1}, func(b *testing.B, t bigTarget) {
				conn, err := net.Dial("tcp", t.addr)
				if err != nil {
					b.Fatal(err)
				}
				defer conn.Close()
				c := conn.(*net.TCPConn)
				rd := bufio.NewReader(c)
				b.SetBytes(int64(size))
				var held int64
				bigRun(b, t, func(i int, base int64) time.Duration {
					hold := 0
					if i == 0 {
						hold = 1
					}
					if err := writeBigSet(c, "big", size, hold); err != nil {
						b.Fatal(err)
					}
					if hold > 0 {
						b.StopTimer()
						held = heldRSS(t, c) - base
						b.StartTimer()
						if _, err := c.Write([]byte("v")); err != nil {
							b.Fatal(err)
						}
					}
					if _, err := c.Write([]byte("\r\n")); err != nil {
						b.Fatal(err)
					}
					if l, err := rd.ReadString('\n'); err != nil || l != "+OK\r\n" {
						b.Fatalf("SET reply %q, %v", l, err)
					}
					return 0
				})
				if held != 0 {
					b.ReportMetric(float64(held)/(1<<20), "held-RSS-MB")
				}
			})
		})
	}
}

// manyArgs returns name followed by n arguments k0, k1, ... (pairs k, v
// for MSET) as one multibulk request, and the reply it expects.
func manyArgs(name string, n int) ([]byte, string) {
	req := fmt.Appendf(nil, "*%d\r\n$%d\r\n%s\r\n", n+1, len(name), name)
	for i := range n {
		a := "k" + strconv.Itoa(i)
		if name == "MSET" && i%2 == 1 {
			a = "v" + strconv.Itoa(i)
		}
		req = fmt.Appendf(req, "$%d\r\n%s\r\n", len(a), a)
	}
	if name == "MSET" {
		return req, "+OK\r\n"
	}
	return req, ":0\r\n"
}

func BenchmarkManyArgs(b *testing.B) {
	for _, name := range []string{"DEL", "MSET"} {
		b.Run(name+"-1M", func(b *testing.B) {
			req, want := manyArgs(name, 1_000_000)
			benchTargets(b, []int{1, 2}, func(b *testing.B, t bigTarget) {
				c, err := net.Dial("tcp", t.addr)
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				rd := bufio.NewReader(c)
				b.SetBytes(int64(len(req)))
				bigRun(b, t, func(int, int64) time.Duration {
					if _, err := c.Write(req); err != nil {
						b.Fatal(err)
					}
					if l, err := rd.ReadString('\n'); err != nil || l != want {
						b.Fatalf("%s reply %q, %v", name, l, err)
					}
					return 0
				})
			})
		})
	}
}

// inlineBurst returns n inline SET k<i> v<i> + GET k<i> and their replies.
func inlineBurst(n int) (req, replies []byte) {
	for i := range n {
		k, v := "k"+strconv.Itoa(i), "v"+strconv.Itoa(i)
		req = fmt.Appendf(req, "SET %s %s\r\nGET %s\r\n", k, v, k)
		replies = fmt.Appendf(replies, "+OK\r\n$%d\r\n%s\r\n", len(v), v)
	}
	return req, replies
}

// burst writes req in one write while a second locked thread reads the
// replies, and checks them; it returns the reader thread's CPU.
func burst(c net.Conn, req, want []byte) (time.Duration, error) {
	type result struct {
		cpu time.Duration
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		t0 := threadCPU()
		got := make([]byte, len(want))
		_, err := io.ReadFull(c, got)
		if err == nil && !bytes.Equal(got, want) {
			i := 0
			for i < len(got) && got[i] == want[i] {
				i++
			}
			err = fmt.Errorf("replies differ at byte %d: %q, want %q", i, got[i:min(i+40, len(got))], want[i:min(i+40, len(want))])
		}
		done <- result{threadCPU() - t0, err}
	}()
	_, werr := c.Write(req)
	r := <-done
	if werr != nil {
		return r.cpu, werr
	}
	return r.cpu, r.err
}

func BenchmarkInlineBurst(b *testing.B) {
	req, want := inlineBurst(100_000)
	benchTargets(b, []int{1, 2}, func(b *testing.B, t bigTarget) {
		c, err := net.Dial("tcp", t.addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		b.SetBytes(int64(len(req)))
		bigRun(b, t, func(int, int64) time.Duration {
			cpu, err := burst(c, req, want)
			if err != nil {
				b.Fatal(err)
			}
			return cpu
		})
	})
}

// dialTB connects to addr and closes the connection when the test ends.
func dialTB(tb testing.TB, addr string) net.Conn {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// TestTCPInlineBurst writes 100,000 inline SET+GET in one write and checks
// every reply, on one loop and on two (where half the requests cross).
func TestTCPInlineBurst(t *testing.T) {
	req, want := inlineBurst(100_000)
	for _, loops := range []int{1, 2} {
		t.Run(fmt.Sprintf("loops%d", loops), func(t *testing.T) {
			c := dialTB(t, dorivoTarget(t, loops).addr)
			_ = c.SetDeadline(time.Now().Add(2 * time.Minute))
			if _, err := burst(c, req, want); err != nil {
				t.Fatal(err)
			}
			if _, err := burst(c, []byte("DBSIZE\r\n"), []byte(":100000\r\n")); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// randomWrites writes b in pieces of 1 byte to 64 KiB, so that the server
// reads it in many pieces cut anywhere.
func randomWrites(c net.Conn, b []byte, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, 1))
	for len(b) > 0 {
		n := min(len(b), 1+rng.IntN(64<<10))
		if rng.IntN(8) == 0 {
			n = min(len(b), 1+rng.IntN(8))
		}
		if _, err := c.Write(b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// TestTCPBigArg sets a 48 MB value arriving in many reads, with a request
// pipelined behind it, and reads it back whole; then one whose terminator
// arrives a byte at a time. While the server holds all of the value but its
// last byte, this process's RSS (the server's: the client's buffers were
// there before) may grow by 1.1 times the value and 16 MB of slack; the
// parser that re-read the accumulated request at each read held 9 times it.
func TestTCPBigArg(t *testing.T) {
	const size = 48 << 20
	val := make([]byte, size)
	for i := range val {
		val[i] = byte(i*131 + i>>16)
	}
	self := dorivoTarget(t, 1)
	c := dialTB(t, self.addr)
	_ = c.SetDeadline(time.Now().Add(2 * time.Minute))
	rd := bufio.NewReader(c)
	req := resp.AppendCommand(nil, []byte("SET"), []byte("big"), val)
	req = append(req, "PING\r\n"...)
	runtime.GC()
	debug.FreeOSMemory()
	base, _ := self.rss()
	cut := len(req) - len("PING\r\n") - 3 // before the value's last byte
	if err := randomWrites(c, req[:cut], 7); err != nil {
		t.Fatal(err)
	}
	held := heldRSS(self, c.(*net.TCPConn)) - base
	t.Logf("RSS grew by %.1f MB holding a %d MB argument", float64(held)/(1<<20), size>>20)
	if held > size*11/10+16<<20 {
		t.Errorf("RSS grew by %d MB holding a %d MB argument", held>>20, size>>20)
	}
	if err := randomWrites(c, req[cut:], 8); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"+OK\r\n", "+PONG\r\n"} {
		if l, err := rd.ReadString('\n'); err != nil || l != want {
			t.Fatalf("reply %q, %v; want %q", l, err, want)
		}
	}
	if _, err := c.Write(resp.AppendCommand(nil, []byte("GET"), []byte("big"))); err != nil {
		t.Fatal(err)
	}
	if l, err := rd.ReadString('\n'); err != nil || l != "$"+strconv.Itoa(size)+"\r\n" {
		t.Fatalf("GET header %q, %v", l, err)
	}
	got := make([]byte, size+2)
	if _, err := io.ReadFull(rd, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[:size], val) || string(got[size:]) != "\r\n" {
		t.Fatal("GET returned a different value")
	}
	// The terminator of a big argument split from it, a byte per write.
	req = resp.AppendCommand(nil, []byte("SET"), []byte("big"), val[:1<<20])
	for _, part := range [][]byte{req[:len(req)-2], req[len(req)-2 : len(req)-1], req[len(req)-1:], []byte("STRLEN big\r\n")} {
		if _, err := c.Write(part); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond) // separate reads, most likely
	}
	for _, want := range []string{"+OK\r\n", ":1048576\r\n"} {
		if l, err := rd.ReadString('\n'); err != nil || l != want {
			t.Fatalf("reply %q, %v; want %q", l, err, want)
		}
	}
}

// TestTCPManyArgs runs MSET with 1M arguments, then DEL with 1M keys (half
// of them set), in random pieces, on one loop and on two (where both run as
// cross-loop transactions).
func TestTCPManyArgs(t *testing.T) {
	const pairs = 500_000
	mset := [][]byte{[]byte("MSET")}
	del := [][]byte{[]byte("DEL")}
	for i := range pairs {
		k := []byte("k" + strconv.Itoa(i))
		mset = append(mset, k, []byte("v"+strconv.Itoa(i)))
		del = append(del, k, []byte("absent"+strconv.Itoa(i)))
	}
	for _, loops := range []int{1, 2} {
		t.Run(fmt.Sprintf("loops%d", loops), func(t *testing.T) {
			c := dialTB(t, dorivoTarget(t, loops).addr)
			_ = c.SetDeadline(time.Now().Add(2 * time.Minute))
			rd := bufio.NewReader(c)
			for _, step := range []struct {
				req  []byte
				want string
			}{
				{resp.AppendCommand(nil, mset...), "+OK\r\n"},
				{[]byte("DBSIZE\r\nGET k123456\r\n"), ":500000\r\n$7\r\nv123456\r\n"},
				{resp.AppendCommand(nil, del...), ":500000\r\n"},
				{[]byte("DBSIZE\r\n"), ":0\r\n"},
			} {
				if err := randomWrites(c, step.req, uint64(len(step.req))); err != nil {
					t.Fatal(err)
				}
				got := make([]byte, len(step.want))
				if _, err := io.ReadFull(rd, got); err != nil || string(got) != step.want {
					t.Fatalf("reply %q, %v; want %q", got, err, step.want)
				}
			}
		})
	}
}
