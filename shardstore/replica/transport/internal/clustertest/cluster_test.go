package clustertest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

type node struct {
	n    int
	addr string
	pid  int
}

var nodeLine = regexp.MustCompile(`^node ([1-3]) resp ([0-9.]+:[0-9]+) pid ([0-9]+)$`)

func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || len(bytes.TrimSpace(out)) == 0 {
		t.Fatalf("go env GOMOD: %v", err)
	}
	return filepath.Dir(string(bytes.TrimSpace(out)))
}

// script runs scripts/cluster.sh with env, returning its stdout.
func script(t *testing.T, root string, env []string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{filepath.Join(root, "scripts/cluster.sh")}, args...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("cluster.sh %s: %w; stderr:\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), err
}

func build(t *testing.T, root, out, pkg string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
}

// ping sends RESP PING to addr from the current namespace and returns the
// round trip.
func ping(addr string) (time.Duration, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	r := bufio.NewReader(c)
	start := time.Now()
	if _, err := c.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return 0, err
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return 0, err
	}
	if line != "+PONG\r\n" {
		return 0, fmt.Errorf("PING %s: got %q", addr, line)
	}
	return time.Since(start), nil
}

// rttEnv makes the test binary, re-run inside a namespace by inNSRTT, print
// minRTT to the address it names and exit. A child process keeps the test's
// own threads out of the node's namespace.
const rttEnv = "CLUSTERTEST_RTT_ADDR"

func TestMain(m *testing.M) {
	if addr := os.Getenv(rttEnv); addr != "" {
		d, err := minRTT(addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(d.Nanoseconds())
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// minRTT is the least of 20 RESP PING round trips on one connection.
func minRTT(addr string) (time.Duration, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	r := bufio.NewReader(c)
	best := time.Hour
	for range 20 {
		c.SetDeadline(time.Now().Add(2 * time.Second))
		start := time.Now()
		if _, err := c.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
			return 0, err
		}
		if line, err := r.ReadString('\n'); err != nil || line != "+PONG\r\n" {
			return 0, fmt.Errorf("PING %s: reply %q: %v", addr, line, err)
		}
		best = min(best, time.Since(start))
	}
	return best, nil
}

// inNSRTT runs minRTT to addr from network namespace ns.
func inNSRTT(t *testing.T, ns, addr string) time.Duration {
	t.Helper()
	cmd := exec.Command("nsenter", "--net=/var/run/netns/"+ns, os.Args[0])
	cmd.Env = append(os.Environ(), rttEnv+"="+addr)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("RTT to %s from %s: %v", addr, ns, err)
	}
	ns64, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		t.Fatalf("RTT to %s from %s: %q", addr, ns, out)
	}
	return time.Duration(ns64)
}

// onBridge checks that the kernel routes ip through the cluster's own link,
// so the test never sends to a 10.77.0.x address elsewhere.
func onBridge(t *testing.T, ip string) {
	t.Helper()
	out, err := exec.Command("ip", "route", "get", ip).Output()
	if err != nil || !strings.Contains(string(out), "dev dorivo-br0") {
		t.Fatalf("%s is not routed through dorivo-br0: %q %v", ip, out, err)
	}
}

func leftovers(t *testing.T, state string, pids []int) []string {
	t.Helper()
	var left []string
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, ns := range []string{"dorivo-n1", "dorivo-n2", "dorivo-n3"} {
		if regexp.MustCompile(`(?m)^` + ns + `\b`).Match(out) {
			left = append(left, "netns "+ns)
		}
	}
	for _, link := range []string{"dorivo-br0", "dv1", "dv2", "dv3"} {
		if exec.Command("ip", "link", "show", "dev", link).Run() == nil {
			left = append(left, "link "+link)
		}
	}
	pins, _ := filepath.Glob("/sys/fs/bpf/dorivo-cluster-n*")
	for _, p := range pins {
		left = append(left, "pin dir "+p)
	}
	if _, err := os.Stat(state); err == nil {
		left = append(left, "state dir "+state)
	}
	for _, pid := range pids {
		if syscall.Kill(pid, 0) == nil {
			left = append(left, "process "+strconv.Itoa(pid))
		}
	}
	if out, _ := exec.Command("ip", "route", "show", "10.77.0.0/24").Output(); len(bytes.TrimSpace(out)) > 0 {
		left = append(left, "route "+string(bytes.TrimSpace(out)))
	}
	return left
}

func TestClusterScript(t *testing.T) {
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

	out, err := script(t, root, env, "up")
	if err != nil {
		t.Fatal(err)
	}
	var nodes []node
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		m := nodeLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("up printed %q, want node N resp IP:PORT pid PID", line)
		}
		n, _ := strconv.Atoi(m[1])
		pid, _ := strconv.Atoi(m[3])
		nodes = append(nodes, node{n: n, addr: m[2], pid: pid})
	}
	if len(nodes) != 3 {
		t.Fatalf("up printed %d nodes:\n%s", len(nodes), out)
	}
	var pids []int
	for i, nd := range nodes {
		if nd.n != i+1 || nd.addr != fmt.Sprintf("10.77.0.%d:6379", i+1) {
			t.Fatalf("node line %d: %+v", i, nd)
		}
		onBridge(t, strings.Split(nd.addr, ":")[0])
		// PID is the agent itself, not a shell or nsenter around it.
		if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", nd.pid)); err != nil || exe != bin {
			t.Fatalf("pid %d of node %d runs %q (%v), want %s", nd.pid, nd.n, exe, err, bin)
		}
		if _, err := ping(nd.addr); err != nil {
			t.Fatalf("node %d from the host namespace: %v", nd.n, err)
		}
		pids = append(pids, nd.pid)
	}

	// Node to node crosses two delayed hops (1 ms round trip), host to node one.
	between := inNSRTT(t, "dorivo-n1", nodes[1].addr)
	fromHost, err := minRTT(nodes[0].addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("min RESP PING round trip: node 1 -> node 2 %v, host -> node 1 %v", between, fromHost)
	if between < time.Millisecond {
		t.Fatalf("node 1 -> node 2 round trip %v: the 0.5 ms one-way delay is missing", between)
	}
	if fromHost < 500*time.Microsecond {
		t.Fatalf("host -> node 1 round trip %v: the node's 0.5 ms delay is missing", fromHost)
	}

	// kill -9 of the printed PID takes that node down, and only it.
	victim := nodes[1]
	if err := syscall.Kill(victim.pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(victim.pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("pid %d still there 10s after kill -9", victim.pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := ping(victim.addr); err == nil {
		t.Fatalf("node %d still answers after kill -9", victim.n)
	}
	for _, nd := range []node{nodes[0], nodes[2]} {
		if _, err := ping(nd.addr); err != nil {
			t.Fatalf("node %d after node %d was killed: %v", nd.n, victim.n, err)
		}
	}

	for i := range 2 { // down is idempotent
		if _, err := script(t, root, env, "down"); err != nil {
			t.Fatalf("down #%d: %v", i+1, err)
		}
		if left := leftovers(t, state, pids); len(left) > 0 {
			t.Fatalf("after down #%d: %v", i+1, left)
		}
	}
}
