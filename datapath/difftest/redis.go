package difftest

import (
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/dorivo/dorivo/userspace/testenv"
)

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

// StartRedis starts redis-server on a free loopback port with persistence
// off, kills it when the test ends, and returns its address. Without
// redis-server it skips the test, or fails it under CI=true.
func StartRedis(tb testing.TB, extra ...string) string {
	tb.Helper()
	bin := testenv.RequireCommand(tb, "redis-server")
	for attempt := 0; attempt < 5; attempt++ {
		port := FreePort(tb)
		args := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", tb.TempDir()}, extra...)
		cmd := exec.Command(bin, args...)
		if err := cmd.Start(); err != nil {
			tb.Fatalf("start redis-server: %v", err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		tb.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
			select {
			case <-exited:
				deadline = time.Time{} // port taken meanwhile: try another
				continue
			default:
			}
			if c, err := net.Dial("tcp", addr); err == nil {
				c.Close()
				return addr
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	tb.Fatal("redis-server did not start")
	return ""
}
