// Package redistest starts Debian's redis-server 7.0 for tests and
// benchmarks: the one way the project's tests run a real Redis to compare
// with. Persistence is off unless the caller's arguments turn it on, and
// the server is killed when the test ends.
package redistest

import (
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dorivo/dorivo/internal/testenv"
)

// Server is a redis-server started for one test.
type Server struct {
	Addr string // host:port
	Port int
	// Cmd is its process: tests may stop and continue it (SIGSTOP,
	// SIGCONT); the cleanup continues it before killing it.
	Cmd *exec.Cmd
}

// Start starts redis-server on a free loopback port; extra are further
// server arguments ("--requirepass", "pw" or "--appendonly", "yes": later
// values win). Without redis-server the test skips, or fails under CI=true.
func Start(tb testing.TB, extra ...string) *Server {
	tb.Helper()
	for range 5 {
		port := FreePort(tb)
		s := start(tb, nil, port, extra, func(addr string) bool {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
			}
			return err == nil
		})
		if s != nil {
			return s
		}
	}
	tb.Fatal("redis-server did not start")
	return nil
}

// StartIn starts redis-server inside network namespace ns on port of its
// loopback.
func StartIn(tb testing.TB, ns *testenv.Netns, port int, extra ...string) *Server {
	tb.Helper()
	cli := testenv.RequireCommand(tb, "redis-cli")
	s := start(tb, []string{"ip", "netns", "exec", ns.Name}, port, extra, func(string) bool {
		out, _ := exec.Command("ip", "netns", "exec", ns.Name, cli, "-p", strconv.Itoa(port), "PING").Output()
		return strings.TrimSpace(string(out)) == "PONG"
	})
	if s == nil {
		tb.Fatalf("redis-server did not start in netns %s", ns.Name)
	}
	return s
}

// start runs redis-server (under wrap) on port and waits until ready says
// it serves; nil when it exited first (the port was taken meanwhile).
func start(tb testing.TB, wrap []string, port int, extra []string, ready func(addr string) bool) *Server {
	tb.Helper()
	bin := testenv.RequireCommand(tb, "redis-server")
	args := append([]string{bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", tb.TempDir()}, extra...)
	args = append(wrap, args...)
	cmd := exec.Command(args[0], args[1:]...)
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start redis-server: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	tb.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGCONT) // a test may have left it stopped
		_ = cmd.Process.Kill()
		<-exited
	})
	s := &Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), Port: port, Cmd: cmd}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case <-exited:
			return nil
		default:
		}
		if ready(s.Addr) {
			return s
		}
	}
	return nil
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
