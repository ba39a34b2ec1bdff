package durable

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/dorivo/dorivo/shardstore/slot"
)

const childDirEnv = "DORIVO_DURABLE_KILL_CHILD_DIR"

// holdChildEnv makes the test binary a child that opens the store in the
// named dir, prints READY and waits to be killed.
const holdChildEnv = "DORIVO_DURABLE_HOLD_CHILD_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(holdChildEnv); dir != "" {
		if _, err := Open(dir, Options{Logger: testLogger(nil)}); err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		fmt.Println("READY")
		select {}
	}
	if dir := os.Getenv(childDirEnv); dir != "" {
		killChild(dir, os.Getenv("DORIVO_DURABLE_KILL_CHILD_ROUND"))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// killChild writes unique keys from 8 goroutines and prints each one after
// its done callback reported success, until it is killed.
func killChild(dir, round string) {
	s, err := Open(dir, Options{Shards: 4, Logger: testLogger(nil)})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			ch := make(chan error, 1)
			for i := 0; ; i++ {
				k := fmt.Sprintf("{r%s.w%d}:%d", round, w, i)
				s.Propose(s.ShardOf(slot.Of([]byte(k))), AppendSet(nil, []byte(k), []byte(k), 0),
					func(_ uint64, err error) { ch <- err })
				if err := <-ch; err != nil {
					mu.Lock()
					fmt.Fprintln(out, "ERR", err)
					out.Flush()
					mu.Unlock()
					return
				}
				mu.Lock()
				fmt.Fprintln(out, "ACK", k)
				out.Flush()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// kill -9 of a process in the middle of writes to a real disk: every write
// it acknowledged is there after restart, round after round.
func TestKill9KeepsAcknowledgedWrites(t *testing.T) {
	dir := t.TempDir()
	var acked []string
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childDirEnv+"="+dir, fmt.Sprintf("DORIVO_DURABLE_KILL_CHILD_ROUND=%d", round))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		n := 0
		for sc.Scan() {
			line := sc.Text()
			if k, ok := strings.CutPrefix(line, "ACK "); ok {
				acked = append(acked, k)
				if n++; n == 2000 {
					if err := cmd.Process.Kill(); err != nil { // SIGKILL
						t.Fatal(err)
					}
				}
				continue
			}
			t.Fatalf("round %d: child: %s", round, line)
		}
		_ = cmd.Wait()
		if n < 2000 {
			t.Fatalf("round %d: child acknowledged only %d writes", round, n)
		}

		s := openStore(t, dir, Options{Shards: 4})
		for _, k := range acked {
			if v, ok := mustGet(t, s, k); !ok || v != k {
				t.Fatalf("round %d: acknowledged %s lost after kill -9 (got %q, %v)", round, k, v, ok)
			}
		}
		s.Close()
		t.Logf("round %d: %d acknowledged writes survive", round, len(acked))
	}
}
