package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// execClient sends rounds transactions MULTI; INCR k0; INCR k1; EXEC, one
// write each, reading the four replies before the next (latency, not
// throughput). Like pipeClient it is a separate process.
func execClient(addr string, keys []string, rounds int) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	r := bufio.NewReader(c)
	req := append(append(append(cmd("MULTI"), cmd("INCR", keys[0])...), cmd("INCR", keys[1])...), cmd("EXEC")...)
	rounds++
	for i := range rounds {
		if i == 1 {
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
		for j := range 4 {
			got, err := readReply(r)
			if err != nil {
				return err
			}
			if j == 3 && !strings.HasPrefix(got, "*2|:") {
				return fmt.Errorf("EXEC = %q", got)
			}
		}
	}
	return nil
}

// BenchmarkExec measures the latency of one MULTI; INCR; INCR; EXEC (one
// write, four replies, then the next) from a client process, with the two
// keys on one loop (the single-loop path, no holds) or on two loops (a
// cross-loop transaction: holds on each loop in order, the last loop
// commits at prepare, then the other commits). ns/op is wall time per
// transaction; allocs/op and B/op are the server process's.
// Run: go test -run XXX -bench Exec -benchtime 5000x -count 3 ./datapath/server
func BenchmarkExec(b *testing.B) {
	for _, tc := range []struct {
		name  string
		loops [2]int
	}{{"single-loop", [2]int{1, 1}}, {"cross-loop", [2]int{0, 1}}} {
		b.Run(tc.name, func(b *testing.B) {
			s, addr := startRoot(b, Config{Loops: 2})
			keys := make([]string, 2)
			for i, o := range tc.loops {
				tag, _ := keyOwnedBy(s, fmt.Sprintf("bench%d-", i), o, 0)
				keys[i] = "{" + tag + "}n"
			}
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "DORIVO_EXEC_CLIENT="+addr, "DORIVO_EXEC_KEYS="+strings.Join(keys, ","),
				"DORIVO_EXEC_ROUNDS="+strconv.Itoa(b.N))
			cmd.Stderr = os.Stderr
			in, err := cmd.StdinPipe()
			if err != nil {
				b.Fatal(err)
			}
			out, err := cmd.StdoutPipe()
			if err != nil {
				b.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			var ready [6]byte
			if _, err := io.ReadFull(out, ready[:]); err != nil || string(ready[:]) != "ready\n" {
				b.Fatalf("client did not get ready: %q %v", ready, err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			if _, err := in.Write([]byte("g")); err != nil {
				b.Fatal(err)
			}
			if err := cmd.Wait(); err != nil {
				b.Fatalf("client: %v", err)
			}
			b.StopTimer()
			var cross uint64
			for _, ls := range s.Stats() {
				cross += ls.TxCross
			}
			if cross0 := tc.loops[0] != tc.loops[1]; cross0 != (cross > 0) {
				b.Fatalf("%s: %d cross-loop transactions", tc.name, cross)
			}
		})
	}
}
