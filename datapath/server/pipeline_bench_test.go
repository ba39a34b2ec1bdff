package server

import (
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/dorivo/dorivo/internal/testenv"
)

// TestMain doubles as the load client of BenchmarkTCPPipeline: with
// DORIVO_PIPE_CLIENT=addr the test binary only runs that client. The client
// must be another process: in the same process its goroutine and the
// locked loop threads share GOMAXPROCS and the Go scheduler's wakeup
// latency dominates what is measured (~50x slower than from outside).
func TestMain(m *testing.M) {
	if addr := os.Getenv("DORIVO_EXEC_CLIENT"); addr != "" {
		rounds, _ := strconv.Atoi(os.Getenv("DORIVO_EXEC_ROUNDS"))
		mget := os.Getenv("DORIVO_EXEC_MGET") == "true"
		if err := execClient(addr, rounds, mget); err != nil {
			fmt.Fprintln(os.Stderr, "exec client:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if addr := os.Getenv("DORIVO_PIPE_CLIENT"); addr != "" {
		rounds, _ := strconv.Atoi(os.Getenv("DORIVO_PIPE_ROUNDS"))
		if err := pipeClient(addr, rounds); err != nil {
			fmt.Fprintln(os.Stderr, "pipeline client:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const pipeBatch = 64

// pipeClient writes rounds batches of 32 SET + 32 GET requests, reading
// every batch's replies before the next.
func pipeClient(addr string, rounds int) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	var req []byte
	replyLen := 0
	for i := range pipeBatch / 2 {
		k := fmt.Sprintf("key:%06d", i*7919%100000)
		req = append(req, cmd("SET", k, "0123456789")...)
		req = append(req, cmd("GET", k)...)
		replyLen += len("+OK\r\n") + len("$10\r\n0123456789\r\n")
	}
	buf := make([]byte, replyLen)
	want := []byte("+OK\r\n$10\r\n0123456789\r\n")
	// Warm up one round, say ready, wait for the go byte: the benchmark
	// times only the rounds, not process start.
	rounds++
	for r := range rounds {
		if r == 1 {
			fmt.Println("ready")
			var g [1]byte
			if _, err := os.Stdin.Read(g[:]); err != nil {
				return err
			}
		}
		if _, err := c.Write(req); err != nil {
			return err
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(c, buf); err != nil {
			return err
		}
		if r == 0 && string(buf[:len(want)]) != string(want) {
			return fmt.Errorf("unexpected replies %q", buf[:len(want)])
		}
	}
	return nil
}

// BenchmarkTCPPipeline measures the server per request over loopback: a
// client process writes batches of 64 pipelined SET/GET requests on one
// connection and reads the replies. ns/op is wall time per request;
// allocs/op and B/op are the server process's. loops1: every key is local;
// loops2: about half the requests cross to the other loop over the rings.
func BenchmarkTCPPipeline(b *testing.B) {
	for _, loops := range []int{1, 2} {
		b.Run(fmt.Sprintf("loops%d", loops), func(b *testing.B) {
			ns := testenv.NewNetns(b, "bpipe")
			addr := fmt.Sprintf("127.0.0.1:%d", 7700+loops)
			var s *Server
			var err error
			ns.Do(b, func() {
				if s, err = New(Config{TCPAddr: addr, Loops: loops, NoPin: envOr("DORIVO_NOPIN", "") != ""}); err == nil {
					err = s.Start()
				}
			})
			if err != nil {
				b.Fatal(err)
			}
			defer s.stopEngines()
			rounds := (b.N + pipeBatch - 1) / pipeBatch
			cmd, in, _ := benchClient(b, ns, []string{"DORIVO_PIPE_CLIENT=" + addr, "DORIVO_PIPE_ROUNDS=" + strconv.Itoa(rounds)}, "ready\n")
			b.ReportAllocs()
			b.ResetTimer()
			if _, err := in.Write([]byte("g")); err != nil {
				b.Fatal(err)
			}
			if err := cmd.Wait(); err != nil {
				b.Fatalf("client: %v", err)
			}
			b.StopTimer()
		})
	}
}
