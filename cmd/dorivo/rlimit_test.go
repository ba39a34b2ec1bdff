package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dorivo/dorivo/datapath/resp"
	"github.com/dorivo/dorivo/internal/testenv"
)

const (
	limitsTCPPort = 16580
	limitsUDPPort = 16579
)

// noRaise runs argv without CAP_SYS_RESOURCE (dropped from the inheritable
// and bounding sets, so the exec'd root process lacks it): like an agent
// in a container, it cannot raise its hard descriptor limit.
func noRaise(argv ...string) []string {
	return append([]string{"setpriv", "--inh-caps=-sys_resource", "--bounding-set=-sys_resource"}, argv...)
}

// startLimited starts an agent in a fresh namespace under
// prlimit --nofile=SOFT:HARD, behind wrap, with extra agent flags.
func startLimited(t *testing.T, bin string, limit string, wrap func(...string) []string, extra ...string) (*agentProc, *testenv.Netns) {
	t.Helper()
	ns := testenv.NewNetns(t, "lim")
	pinDir := fmt.Sprintf("/sys/fs/bpf/dorivo-test-%d-%d", os.Getpid(), pinSeq.Add(1))
	t.Cleanup(func() { _ = os.RemoveAll(pinDir) })
	argv := append([]string{bin, "agent", "--iface", "lo", "--loops", "2", "--tcp-port", strconv.Itoa(limitsTCPPort),
		"--udp-port", strconv.Itoa(limitsUDPPort), "--pin-dir", pinDir, "--admin-addr", ""}, extra...)
	if wrap != nil {
		argv = wrap(argv...)
	}
	return startInNetns(t, ns, append([]string{"prlimit", "--nofile=" + limit}, argv...)...), ns
}

// nofile reads the agent's soft and hard descriptor limits.
func nofile(t *testing.T, a *agentProc) (soft, hard string) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", a.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); strings.HasPrefix(l, "Max open files") && len(f) >= 5 {
			return f[3], f[4]
		}
	}
	t.Fatalf("no open files line in /proc/%d/limits", a.cmd.Process.Pid)
	return "", ""
}

// reply is one RESP reply: kind '+', '-', ':' or '$', and its text.
type reply struct {
	kind byte
	str  string
}

// readReply reads a simple, error, integer or bulk reply.
func readReply(r *bufio.Reader) (*reply, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, fmt.Errorf("empty reply line")
	}
	rep := &reply{kind: line[0], str: line[1:]}
	if rep.kind == '$' {
		n, err := strconv.Atoi(rep.str)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("bulk length %q", rep.str)
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		rep.str = string(b[:n])
	}
	return rep, nil
}

// dialRESP connects to the agent in ns and sends args, returning the
// connection and its first reply.
func dialRESP(t *testing.T, ns *testenv.Netns, args ...string) (net.Conn, *reply, error) {
	t.Helper()
	var c net.Conn
	var err error
	ns.Do(t, func() { c, err = net.DialTimeout("tcp4", fmt.Sprintf("127.0.0.1:%d", limitsTCPPort), 2*time.Second) })
	if err != nil {
		return nil, nil, err
	}
	var b [][]byte
	for _, a := range args {
		b = append(b, []byte(a))
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(resp.AppendCommand(nil, b...)); err != nil {
		c.Close()
		return nil, nil, err
	}
	rep, err := readReply(bufio.NewReader(c))
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	return c, rep, nil
}

// infoMaxclients is the maxclients the agent reports in INFO limits.
func infoMaxclients(t *testing.T, ns *testenv.Netns) int {
	t.Helper()
	c, rep, err := dialRESP(t, ns, "INFO", "limits")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	m := regexp.MustCompile(`maxclients:(\d+)`).FindStringSubmatch(rep.str)
	if m == nil {
		t.Fatalf("INFO limits without maxclients: %q", rep.str)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestAgentFitsMaxclientsToLowFDLimit: under a 256-descriptor limit it
// cannot raise, the agent starts, logs Redis's three warnings, reports the
// reduced maxclients in INFO, and serves exactly that many clients: the
// next one gets Redis's max-clients error, and the agent stays up (before,
// about 200 connections hit EMFILE and killed it).
func TestAgentFitsMaxclientsToLowFDLimit(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "nsenter")
	testenv.RequireCommand(t, "prlimit")
	testenv.RequireCommand(t, "setpriv")
	bin := buildDorivo(t)
	agent, ns := startLimited(t, bin, "256:256", noRaise)
	log := agent.logString()
	re := regexp.MustCompile(`You requested maxclients of 10000 requiring at least (\d+) max file descriptors\.`)
	m := re.FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("no maxclients warning:\n%s", log)
	}
	need, _ := strconv.Atoi(m[1])
	reduced := infoMaxclients(t, ns)
	for _, want := range []string{
		"level=WARN",
		fmt.Sprintf("Server can't set maximum open files to %d because of OS error: Operation not permitted.", need),
		fmt.Sprintf("Current maximum open files is 256. maxclients has been reduced to %d to compensate for low ulimit. If you need higher maxclients increase 'ulimit -n'.", reduced),
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	// need = 10000 + 32 + what the agent had open; the reduced count
	// leaves the same reserve within 256.
	if reserve := need - 10000; reserve < minReservedFDs || reduced != 256-reserve {
		t.Errorf("need %d, reduced maxclients %d: want 256 - (need - 10000)", need, reduced)
	}
	if soft, hard := nofile(t, agent); soft != "256" || hard != "256" {
		t.Errorf("limits %s:%s, want 256:256 (it could not raise them)", soft, hard)
	}

	// What the agent holds with no client (listeners, epoll, BPF, store):
	// maxclients more must still fit under 256.
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", agent.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d descriptors open when idle, maxclients %d, limit 256", len(ents), reduced)
	if len(ents)+reduced > 256 {
		t.Errorf("%d descriptors open when idle plus maxclients %d exceed the limit 256", len(ents), reduced)
	}

	// reduced clients fit (the INFO connection is closed).
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range reduced {
		c, rep, err := dialRESP(t, ns, "PING")
		if err != nil || rep.str != "PONG" {
			t.Fatalf("client %d of %d: %v %+v\n%s", i+1, reduced, err, rep, agent.logString())
		}
		conns = append(conns, c)
	}
	c, rep, err := dialRESP(t, ns, "PING")
	if err == nil {
		c.Close()
	}
	if err != nil || rep.kind != '-' || rep.str != "ERR max number of clients reached" {
		t.Fatalf("client %d: %v %+v, want -ERR max number of clients reached", reduced+1, err, rep)
	}
	select {
	case err := <-agent.done:
		agent.done <- err
		t.Fatalf("agent exited with %d clients: %v\n%s", reduced, err, agent.logString())
	default:
	}
}

// hasCapSysResource reports whether this process may raise hard limits.
// Containers often drop it even for root (this VM's sandbox does).
func hasCapSysResource(t *testing.T) bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`CapEff:\s*([0-9a-f]+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no CapEff in /proc/self/status")
	}
	eff, _ := strconv.ParseUint(string(m[1]), 16, 64)
	const capSysResource = 24
	return eff&(1<<capSysResource) != 0
}

// TestAgentRaisesFDLimit: the agent raises the soft limit to the hard one
// (256:4096 becomes 4096:4096) and fits maxclients to that; with
// CAP_SYS_RESOURCE it raises the hard limit too, to what maxclients needs
// (maxclients kept) or, asked for more than fs.nr_open allows, to nr_open.
func TestAgentRaisesFDLimit(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "nsenter")
	testenv.RequireCommand(t, "prlimit")
	testenv.RequireCommand(t, "setpriv")
	bin := buildDorivo(t)

	agent, ns := startLimited(t, bin, "256:4096", noRaise)
	n := infoMaxclients(t, ns)
	if soft, hard := nofile(t, agent); soft != "4096" || hard != "4096" {
		t.Errorf("limits %s:%s, want the soft limit raised to the hard one, 4096:4096", soft, hard)
	}
	if !strings.Contains(agent.logString(), fmt.Sprintf("Current maximum open files is 4096. maxclients has been reduced to %d", n)) || n < 4096-200 {
		t.Errorf("256:4096: INFO maxclients %d\n%s", n, agent.logString())
	}
	agent.stop(t, 15)

	if !hasCapSysResource(t) {
		t.Skip("no CAP_SYS_RESOURCE in this environment (even as root): the hard-limit raise cannot be exercised")
	}
	agent, ns = startLimited(t, bin, "256:256", nil)
	m := regexp.MustCompile(`Increased maximum number of open files to (\d+) \(it was originally set to 256\)\.`).FindStringSubmatch(agent.logString())
	if m == nil {
		t.Fatalf("no raise logged:\n%s", agent.logString())
	}
	if soft, hard := nofile(t, agent); soft != m[1] || hard != m[1] {
		t.Errorf("limits %s:%s, want %s:%s", soft, hard, m[1], m[1])
	}
	if n := infoMaxclients(t, ns); n != 10000 || strings.Contains(agent.logString(), "maxclients has been reduced") {
		t.Errorf("maxclients %d, want 10000 unreduced\n%s", n, agent.logString())
	}
	agent.stop(t, 15)

	nrOpen, err := readNrOpen()
	if err != nil {
		t.Fatal(err)
	}
	agent, ns = startLimited(t, bin, "256:256", nil, "--maxclients", "1048576")
	n = infoMaxclients(t, ns)
	log := agent.logString()
	if !strings.Contains(log, fmt.Sprintf("Current maximum open files is %d. maxclients has been reduced to %d", nrOpen, n)) ||
		!strings.Contains(log, "because of OS error: Operation not permitted.") || n >= 1048576 || n < int(nrOpen)-1000 {
		t.Errorf("maxclients 1048576 over nr_open %d: INFO says %d\n%s", nrOpen, n, log)
	}
	if soft, _ := nofile(t, agent); soft != strconv.FormatUint(nrOpen, 10) {
		t.Errorf("soft limit %s, want nr_open %d", soft, nrOpen)
	}
}
