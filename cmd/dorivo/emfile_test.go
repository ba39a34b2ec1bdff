package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/dorivo/dorivo/internal/testenv"
)

const emfileAdmin = "127.0.0.1:19591"

// metricValue reads one unlabelled counter from the agent's /metrics.
func metricValue(t *testing.T, ns *testenv.Netns, name string) int {
	t.Helper()
	body, err := scrapeAt(t, ns, emfileAdmin)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + name + ` (\d+)$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no %s in /metrics", name)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// An agent under a 256-descriptor limit whose descriptors run out (here:
// its soft limit lowered under it, as another consumer of descriptors or an
// operator would) survives 300 connection attempts that each hit EMFILE in
// accept: every one is closed at once and counted in
// dorivo_accept_shed_total, the clients already connected keep being
// served, and once descriptors are free again new clients are served.
// Before, gnet ended the event loop and the agent exited ("datapath died").
func TestAgentSurvivesEMFILEOnAccept(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "nsenter")
	testenv.RequireCommand(t, "prlimit")
	testenv.RequireCommand(t, "setpriv")
	bin := buildDorivo(t)
	agent, ns := startLimited(t, bin, "256:256", noRaise, "--admin-addr", emfileAdmin)
	pid := agent.cmd.Process.Pid
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range 20 {
		c, rep, err := dialRESP(t, ns, "PING")
		if err != nil || rep.str != "PONG" {
			t.Fatalf("PING: %v %+v", err, rep)
		}
		held = append(held, c)
	}
	shedBefore := metricValue(t, ns, "dorivo_accept_shed_total")

	// No descriptor left: every descriptor under the soft limit in use.
	// The limit goes just above gnet's spare descriptor (the highest one
	// on /dev/null; the spare must be under the limit to be of use, as it
	// is when a process really runs out), and held clients fill the holes
	// below it first.
	fds := func() (open map[int]bool, spare int) {
		ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			t.Fatal(err)
		}
		open, spare = map[int]bool{}, -1
		for _, e := range ents {
			n, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			open[n] = true
			if l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", pid, n)); l == "/dev/null" && n > spare {
				spare = n
			}
		}
		return open, spare
	}
	open, spare := fds()
	for n := 0; n < spare; n++ {
		if !open[n] {
			c, rep, err := dialRESP(t, ns, "PING")
			if err != nil || rep.str != "PONG" {
				t.Fatalf("PING filling descriptor %d: %v %+v", n, err, rep)
			}
			held = append(held, c)
		}
	}
	open, spare = fds()
	for n := 0; n < spare; n++ {
		if !open[n] {
			t.Fatalf("descriptor %d under the spare %d still free", n, spare)
		}
	}
	free := spare + 1
	setLimit := func(soft int) {
		t.Helper()
		if out, err := exec.Command("prlimit", "--pid", strconv.Itoa(pid), fmt.Sprintf("--nofile=%d:256", soft)).CombinedOutput(); err != nil {
			t.Fatalf("prlimit: %v %s", err, out)
		}
	}
	setLimit(free)
	const attempts = 300
	closed := 0
	var attemptConns []net.Conn // kept open: each holds its descriptor, if it got one
	defer func() {
		for _, c := range attemptConns {
			c.Close()
		}
	}()
	for i := range attempts {
		var c net.Conn
		var err error
		ns.Do(t, func() { c, err = net.DialTimeout("tcp4", fmt.Sprintf("127.0.0.1:%d", limitsTCPPort), 2*time.Second) })
		if err != nil {
			t.Fatalf("attempt %d: dial: %v (the listener is gone?)\n%s", i, err, agent.logString())
		}
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		c.Write([]byte("PING\r\n"))
		var b [64]byte
		n, err := c.Read(b[:])
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			var links []string
			for n := range free {
				l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", pid, n))
				links = append(links, fmt.Sprintf("%d=%s", n, l))
			}
			t.Fatalf("attempt %d: neither served nor closed in 2 s; descriptors %v\n%s", i, links, agent.logString())
		}
		if err != nil && n == 0 {
			closed++ // shed: closed without a reply
		}
		attemptConns = append(attemptConns, c)
	}
	select {
	case err := <-agent.done:
		agent.done <- err
		t.Fatalf("agent exited on EMFILE: %v\n%s", err, agent.logString())
	default:
	}
	// The clients connected before are still served.
	for i, c := range held {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte("PING\r\n"))
		var b [16]byte
		if n, err := c.Read(b[:]); err != nil || string(b[:n]) != "+PONG\r\n" {
			t.Fatalf("held client %d while out of descriptors: %q %v", i, b[:n], err)
		}
	}
	setLimit(256)
	for _, c := range append(held, attemptConns...) {
		c.Close()
	}
	held, attemptConns = nil, nil
	shed := metricValue(t, ns, "dorivo_accept_shed_total") - shedBefore
	t.Logf("%d of %d attempts closed without a reply, %d counted as shed, limit lowered to %d", closed, attempts, shed, free)
	if shed != attempts || closed != attempts {
		t.Fatalf("%d shed and %d closed of %d attempts: want each attempt that found no descriptor shed and counted", shed, closed, attempts)
	}
	testenv.WaitFor(t, "a new client to be served", func() bool {
		c, rep, err := dialRESP(t, ns, "PING")
		if err != nil {
			return false
		}
		c.Close()
		return rep.str == "PONG"
	})
}
