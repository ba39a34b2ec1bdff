package server

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/dorivo/dorivo/internal/testenv"
)

// TestRedisBenchmark runs redis-benchmark and redis-cli, unmodified, against
// the server: every reply must parse and none may be an error.
func TestRedisBenchmark(t *testing.T) {
	bench := testenv.RequireCommand(t, "redis-benchmark")
	cli := testenv.RequireCommand(t, "redis-cli")
	ns := testenv.NewNetns(t, "rbench")
	startIn(t, ns, Config{TCPAddr: "127.0.0.1:7401", Loops: 2})
	out := ns.Run(t, cli, "-p", "7401", "SET", "hello", "world")
	if strings.TrimSpace(out) != "OK" {
		t.Fatalf("redis-cli SET: %q", out)
	}
	out = ns.Run(t, cli, "-p", "7401", "GET", "hello")
	if strings.TrimSpace(out) != "world" {
		t.Fatalf("redis-cli GET: %q", out)
	}
	for _, pipe := range []string{"1", "16"} {
		args := []string{"ip", "netns", "exec", ns.Name, bench, "-p", "7401", "-q",
			"-t", "set,get,incr,mset", "-r", "100000", "-c", "50", "-n", "5000", "-P", pipe}
		cmd := exec.Command(args[0], args[1:]...)
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("redis-benchmark -P %s: %v\n%s", pipe, err, b)
		}
		o := string(b)
		t.Logf("redis-benchmark -P %s:\n%s", pipe, strings.TrimSpace(lastLines(o)))
		if strings.Contains(strings.ToLower(o), "error") {
			t.Fatalf("redis-benchmark -P %s reported errors:\n%s", pipe, o)
		}
		for _, test := range []string{"SET", "GET", "INCR", "MSET"} {
			if !strings.Contains(o, test) {
				t.Errorf("redis-benchmark -P %s: no result for %s", pipe, test)
			}
		}
	}
}

func lastLines(s string) string {
	// -q prints progress with carriage returns; keep the final lines.
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if i := strings.LastIndex(l, "\r"); i >= 0 {
			l = l[i+1:]
		}
		if strings.TrimSpace(l) != "" {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}
