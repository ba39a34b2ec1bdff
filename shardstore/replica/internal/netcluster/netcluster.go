// Package netcluster runs scripts/cluster.sh for tests: three agents in
// network namespaces of their own, replicas of every shard, with the
// faults the replication tests inject (kill -9, restart, link down,
// SIGSTOP). Test-only.
package netcluster

import (
	"bytes"
	"context"
	"fmt"
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

// Node is one agent as cluster.sh printed it.
type Node struct {
	N    int
	Addr string // RESP, reachable from the host namespace
	PID  int
}

// Cluster is a running cluster.sh cluster.
type Cluster struct {
	t     testing.TB
	root  string
	env   []string
	Nodes [3]Node
	// Password is the default user's, from --requirepass in the agent
	// flags: the helpers that ask the nodes use it.
	Password string
}

var nodeLine = regexp.MustCompile(`^node ([1-3]) resp ([0-9.]+:[0-9]+) pid ([0-9]+)$`)

// Up builds the agent and the delay switch, starts the cluster with
// agentFlags (e.g. "--loops 1") and takes it down when the test ends. It
// fails the test when a cluster is already up here.
func Up(t testing.TB, agentFlags string) *Cluster {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the cluster needs root, and CI runs as root")
		}
		t.Skip("needs root")
	}
	root := moduleRoot(t)
	dir := t.TempDir()
	bin, delay := filepath.Join(dir, "dorivo"), filepath.Join(dir, "netdelay")
	build(t, root, bin, "./cmd/dorivo")
	build(t, root, delay, "./shardstore/replica/transport/internal/netdelay")
	c := &Cluster{t: t, root: root, Password: flagValue(agentFlags, "--requirepass"), env: []string{"DORIVO_BIN=" + bin, "DORIVO_NETDELAY_BIN=" + delay,
		"DORIVO_CLUSTER_STATE=" + filepath.Join(dir, "state"), "DORIVO_AGENT_FLAGS=" + agentFlags}}
	t.Cleanup(func() {
		if _, err := c.script("down"); err != nil {
			t.Errorf("cluster down: %v", err)
		}
	})
	out, err := c.script("up")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		c.parse(line)
	}
	c.settle()
	return c
}

// settle waits until every node names the same leader for every shard,
// its preferred one (shard i prefers node i%3+1), which the nodes hand
// leadership to after start: tests begin from a cluster whose leaders no
// longer move.
func (c *Cluster) settle() {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := c.settled()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("cluster not settled 30s after start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var infoShardLeader = regexp.MustCompile(`(?m)^shard(\d+):.*leader=(\d+)`)

func (c *Cluster) settled() error {
	for _, n := range c.Nodes {
		host, port, _ := strings.Cut(n.Addr, ":")
		cmd := exec.Command("redis-cli", "-h", host, "-p", port, "INFO", "cluster")
		cmd.Env = append(os.Environ(), "REDISCLI_AUTH="+c.Password)
		out, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("node %d INFO cluster: %v", n.N, err)
		}
		ms := infoShardLeader.FindAllStringSubmatch(string(out), -1)
		if len(ms) == 0 {
			return fmt.Errorf("node %d INFO cluster lists no shard", n.N)
		}
		for _, m := range ms {
			sh, _ := strconv.Atoi(m[1])
			if want := strconv.Itoa(sh%3 + 1); m[2] != want {
				return fmt.Errorf("node %d: shard %d led by %s, not yet by its preferred node %s", n.N, sh, m[2], want)
			}
		}
	}
	return nil
}

// flagValue returns the word after name in flags ("" if absent).
func flagValue(flags, name string) string {
	f := strings.Fields(flags)
	for i := range len(f) - 1 {
		if f[i] == name {
			return f[i+1]
		}
	}
	return ""
}

func (c *Cluster) parse(line string) Node {
	c.t.Helper()
	m := nodeLine.FindStringSubmatch(strings.TrimSpace(line))
	if m == nil {
		c.t.Fatalf("cluster.sh printed %q, want node N resp IP:PORT pid PID", line)
	}
	n, _ := strconv.Atoi(m[1])
	pid, _ := strconv.Atoi(m[3])
	c.Nodes[n-1] = Node{N: n, Addr: m[2], PID: pid}
	return c.Nodes[n-1]
}

// Addrs returns the nodes' RESP addresses.
func (c *Cluster) Addrs() []string {
	return []string{c.Nodes[0].Addr, c.Nodes[1].Addr, c.Nodes[2].Addr}
}

// Kill sends SIGKILL to node n and waits for it to be gone.
func (c *Cluster) Kill(n int) {
	c.t.Helper()
	pid := c.Nodes[n-1].PID
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		c.t.Fatalf("kill -9 node %d: %v", n, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var ws syscall.WaitStatus
		// Not our child (cluster.sh started it): poll until it is gone.
		if _, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil); err != nil && syscall.Kill(pid, 0) != nil {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("node %d (pid %d) still there 10s after kill -9", n, pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Start starts node n again (after Kill).
func (c *Cluster) Start(n int) {
	c.t.Helper()
	out, err := c.script("start", strconv.Itoa(n))
	if err != nil {
		c.t.Fatal(err)
	}
	c.parse(out)
}

// Signal sends sig (SIGSTOP, SIGCONT) to node n.
func (c *Cluster) Signal(n int, sig syscall.Signal) {
	c.t.Helper()
	if err := syscall.Kill(c.Nodes[n-1].PID, sig); err != nil {
		c.t.Fatalf("signal %v to node %d: %v", sig, n, err)
	}
}

// Link sets node n's only interface up or down: down cuts it off from the
// other nodes and from clients.
func (c *Cluster) Link(n int, up bool) {
	c.t.Helper()
	state := "down"
	if up {
		state = "up"
	}
	ns, dev := "dorivo-n"+strconv.Itoa(n), "dv"+strconv.Itoa(n)
	if out, err := exec.Command("ip", "-n", ns, "link", "set", dev, state).CombinedOutput(); err != nil {
		c.t.Fatalf("ip -n %s link set %s %s: %v %s", ns, dev, state, err, out)
	}
	if up { // the address's route comes back with the link
		_ = exec.Command("ip", "-n", ns, "addr", "add", fmt.Sprintf("10.77.0.%d/24", n), "dev", dev).Run()
	}
}

// Delay adds d to every frame node n sends and receives, on top of the
// switch's base delay (cluster.sh delay); 0 takes it off.
func (c *Cluster) Delay(n int, d time.Duration) {
	c.t.Helper()
	c.fault("delay", n, d.String())
}

// Loss drops pct percent (0..100, at random) of the frames node n sends and
// receives (cluster.sh loss); 100 blackholes it.
func (c *Cluster) Loss(n int, pct int) {
	c.t.Helper()
	c.fault("loss", n, strconv.Itoa(pct))
}

// Heal takes node n's extra delay and loss off (cluster.sh heal).
func (c *Cluster) Heal(n int) {
	c.t.Helper()
	c.fault("heal", n)
}

func (c *Cluster) fault(cmd string, n int, args ...string) {
	c.t.Helper()
	if _, err := c.script(append([]string{cmd, strconv.Itoa(n)}, args...)...); err != nil {
		c.t.Fatal(err)
	}
}

func (c *Cluster) script(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{filepath.Join(c.root, "scripts/cluster.sh")}, args...)...)
	cmd.Dir = c.root
	cmd.Env = append(os.Environ(), c.env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("cluster.sh %s: %w; stderr:\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// NodeDir returns node n's directory in cluster.sh's state dir: its
// agent.log and its data dir, data.
func (c *Cluster) NodeDir(n int) string {
	for _, e := range c.env {
		if dir, ok := strings.CutPrefix(e, "DORIVO_CLUSTER_STATE="); ok {
			return filepath.Join(dir, "n"+strconv.Itoa(n))
		}
	}
	return ""
}

// Log returns the tail of node n's agent log, for failure messages.
func (c *Cluster) Log(n int) string {
	b, _ := os.ReadFile(filepath.Join(c.NodeDir(n), "agent.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func moduleRoot(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || len(bytes.TrimSpace(out)) == 0 {
		t.Fatalf("go env GOMOD: %v", err)
	}
	return filepath.Dir(string(bytes.TrimSpace(out)))
}

func build(t testing.TB, root, out, pkg string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
}
