package clustertest

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// show asks the switch for port dev's faults and loss counters.
func show(t *testing.T, netdelay, state, dev string) (lostIn, lostOut int) {
	t.Helper()
	out, err := exec.Command(netdelay, "-control", filepath.Join(state, "netdelay.sock"), "-ctl", "show "+dev).Output()
	if err != nil {
		t.Fatalf("netdelay show %s: %v", dev, err)
	}
	m := regexp.MustCompile(`lost_in=(\d+) lost_out=(\d+)`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("netdelay show %s: %q", dev, out)
	}
	lostIn, _ = strconv.Atoi(m[1])
	lostOut, _ = strconv.Atoi(m[2])
	return lostIn, lostOut
}

// TestClusterFaults slows node 2 by 100 ms and blackholes it with
// cluster.sh delay/loss, and heals it: the RESP PING round trips to it (from
// the host and from node 1) grow by the extra delay both ways, node 3 keeps
// its own, a blackholed node 2 does not answer while the others do, and after
// heal it is back near its base.
func TestClusterFaults(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("cluster.sh needs root, and CI runs as root")
		}
		t.Skip("needs root")
	}
	root := moduleRoot(t)
	dir := t.TempDir()
	bin, netdelay, state := filepath.Join(dir, "dorivo"), filepath.Join(dir, "netdelay"), filepath.Join(dir, "state")
	build(t, root, bin, "./cmd/dorivo")
	build(t, root, netdelay, "./shardstore/replica/transport/internal/netdelay")
	env := []string{"DORIVO_BIN=" + bin, "DORIVO_NETDELAY_BIN=" + netdelay, "DORIVO_CLUSTER_STATE=" + state,
		"DORIVO_AGENT_FLAGS=--loops 1"}
	if left := leftovers(t, state, nil); len(left) > 0 {
		t.Fatalf("a cluster is already up here (%v): run scripts/cluster.sh down", left)
	}
	t.Cleanup(func() {
		if _, err := script(t, root, env, "down"); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	if _, err := script(t, root, env, "up"); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		out, err := script(t, root, env, args...)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out)
	}
	rtts := func(phase string) (host2, n1to2, n1to3 time.Duration) {
		t.Helper()
		host2, err := minRTT("10.77.0.2:6379")
		if err != nil {
			t.Fatalf("%s: host -> node 2: %v", phase, err)
		}
		n1to2, n1to3 = inNSRTT(t, "dorivo-n1", "10.77.0.2:6379"), inNSRTT(t, "dorivo-n1", "10.77.0.3:6379")
		t.Logf("%s: min RESP PING round trip host -> node 2 %v, node 1 -> node 2 %v, node 1 -> node 3 %v",
			phase, host2, n1to2, n1to3)
		return host2, n1to2, n1to3
	}

	const extra = 100 * time.Millisecond
	baseHost, base12, base13 := rtts("base")

	if got, want := run("delay", "2", "100ms"), "dv2 delay=100ms loss=0"; !strings.HasPrefix(got, want) {
		t.Fatalf("delay 2 100ms printed %q, want %q...", got, want)
	}
	host2, n1to2, n1to3 := rtts("node 2 delayed 100ms")
	// Both ways: the request to node 2 and its reply each carry the extra.
	// The minimum round trips jitter by some microseconds between phases
	// (one run had base 1.2746 ms, then 201.2608 ms): allow 1 ms of it.
	const jitter = time.Millisecond
	if host2 < baseHost+2*extra-jitter || n1to2 < base12+2*extra-jitter {
		t.Fatalf("delay 100ms on node 2: round trips host %v (base %v), node 1 %v (base %v), want each >= base + %v - %v",
			host2, baseHost, n1to2, base12, 2*extra, jitter)
	}
	if n1to3 >= extra { // node 3 is not slowed, nor held behind node 2's frames
		t.Fatalf("delay on node 2 slowed node 1 -> node 3 to %v (base %v)", n1to3, base13)
	}

	if got, want := run("loss", "2", "100"), "dv2 delay=100ms loss=100"; !strings.HasPrefix(got, want) {
		t.Fatalf("loss 2 100 printed %q, want %q...", got, want)
	}
	in0, out0 := show(t, netdelay, state, "dv2")
	if d, err := ping("10.77.0.2:6379"); err == nil {
		t.Fatalf("node 2 blackholed, but answered PING in %v", d)
	}
	for _, addr := range []string{"10.77.0.1:6379", "10.77.0.3:6379"} {
		if _, err := ping(addr); err != nil {
			t.Fatalf("node 2 blackholed, %s: %v", addr, err)
		}
	}
	time.Sleep(500 * time.Millisecond) // node 2's raft keeps sending: its own frames are lost too
	in1, out1 := show(t, netdelay, state, "dv2")
	t.Logf("blackholed node 2: frames lost to it %d, from it %d", in1-in0, out1-out0)
	if in1 <= in0 || out1 <= out0 {
		t.Fatalf("loss 100 on node 2: lost_in %d -> %d, lost_out %d -> %d, want both to grow", in0, in1, out0, out1)
	}

	if got, want := run("heal", "2"), "dv2 delay=0s loss=0"; !strings.HasPrefix(got, want) {
		t.Fatalf("heal 2 printed %q, want %q...", got, want)
	}
	host2, n1to2, _ = rtts("healed")
	if host2 >= extra || n1to2 >= extra {
		t.Fatalf("healed node 2: round trips host %v, node 1 %v, want back below the %v extra", host2, n1to2, extra)
	}
	if _, err := script(t, root, env, "delay", "2", "-5ms"); err == nil {
		t.Fatal("delay 2 -5ms was accepted")
	}
}
