package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// execClient sends rounds transactions MULTI; INCR k0; INCR k1; EXEC (or,
// with mget, MGET k0 k1), one write each, reading the replies before the
// next (latency, not throughput). Like pipeClient it is a separate process.
// It says "connected" and reads the two keys from stdin, so that the
// benchmark can choose them by the loop the connection landed on.
func execClient(addr string, rounds int, mget bool) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Println("connected")
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil {
		return err
	}
	keys := strings.Split(strings.TrimSpace(line), ",")
	r := bufio.NewReader(c)
	req := append(append(append(cmd("MULTI"), cmd("INCR", keys[0])...), cmd("INCR", keys[1])...), cmd("EXEC")...)
	replies, last := 4, "*2|:"
	if mget {
		req, replies, last = cmd("MGET", keys[0], keys[1]), 1, "*2|$"
	}
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
		for j := range replies {
			got, err := readReply(r)
			if err != nil {
				return err
			}
			if j == replies-1 && !strings.HasPrefix(got, last) {
				return fmt.Errorf("reply = %q, want %s...", got, last)
			}
		}
	}
	return nil
}

// BenchmarkExec measures the latency of one MULTI; INCR; INCR; EXEC (one
// write, four replies, then the next) from a client process, with the two
// keys on the connection's loop (the single-loop path, no holds, nothing
// crosses loops) or one there and one on the other loop (a cross-loop
// transaction: holds on each loop in ascending order, each runs its part
// once it holds its keys, the reply leaves after the last, then releases). ns/op is wall time per transaction;
// allocs/op and B/op are the server process's. The mget cases measure MGET
// of the same two keys: across loops it takes holds too.
// Run: go test -run XXX -bench Exec -benchtime 5000x -count 3 ./datapath/server
func BenchmarkExec(b *testing.B) {
	for _, tc := range []struct {
		name  string
		cross bool
		mget  bool
	}{
		{"single-loop", false, false}, {"cross-loop", true, false},
		{"mget-single-loop", false, true}, {"mget-cross-loop", true, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s, addr := startRoot(b, Config{Loops: 2})
			before := s.Stats()
			cmd, in, out := benchClient(b, nil, []string{"DORIVO_EXEC_CLIENT=" + addr,
				"DORIVO_EXEC_ROUNDS=" + strconv.Itoa(b.N), "DORIVO_EXEC_MGET=" + strconv.FormatBool(tc.mget)}, "connected\n")
			own := -1
			for deadline := time.Now().Add(10 * time.Second); own < 0; time.Sleep(time.Millisecond) {
				for i, ls := range s.Stats() {
					if ls.Accepted > before[i].Accepted {
						own = i
					}
				}
				if time.Now().After(deadline) {
					b.Fatal("no loop accepted the client")
				}
			}
			loops := [2]int{own, own}
			if tc.cross {
				loops[1] = 1 - own
			}
			keys := make([]string, 2)
			for i, o := range loops {
				tag, _ := keyOwnedBy(s, fmt.Sprintf("bench%d-", i), o, 0)
				keys[i] = "{" + tag + "}n"
			}
			if got := dialRoot(b, addr).do("MSET", keys[0], "1", keys[1], "2"); got != "+OK" {
				b.Fatalf("MSET = %q", got)
			}
			base := s.Stats()
			if _, err := fmt.Fprintf(in, "%s,%s\n", keys[0], keys[1]); err != nil {
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
			var cross, sent uint64
			for i, ls := range s.Stats() {
				cross += ls.TxCross - base[i].TxCross
				sent += ls.CrossSent - base[i].CrossSent
			}
			if tc.cross != (cross > 0) || !tc.cross && sent > 0 {
				b.Fatalf("%s: %d cross-loop transactions, %d cross-loop messages", tc.name, cross, sent)
			}
		})
	}
}
