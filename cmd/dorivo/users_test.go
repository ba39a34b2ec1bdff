package main

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dorivo/dorivo/datapath/resp"
	"github.com/dorivo/dorivo/internal/testenv"
)

const (
	usersPort  = 16590
	usersAdmin = "127.0.0.1:19590"
)

// authFailures reads dorivo_auth_failures_total from the agent's /metrics.
func authFailures(t *testing.T, ns *testenv.Netns) int {
	t.Helper()
	body, err := scrapeAt(t, ns, usersAdmin)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^dorivo_auth_failures_total (\d+)$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no dorivo_auth_failures_total in /metrics")
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// respConn is a raw RESP client: do returns a reply's exact bytes.
type respConn struct {
	c net.Conn
	r *bufio.Reader
}

func dialUsers(t *testing.T, ns *testenv.Netns) *respConn {
	t.Helper()
	var c net.Conn
	var err error
	ns.Do(t, func() { c, err = net.DialTimeout("tcp4", fmt.Sprintf("127.0.0.1:%d", usersPort), 2*time.Second) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &respConn{c: c, r: bufio.NewReader(c)}
}

func (c *respConn) do(t *testing.T, args ...string) string {
	t.Helper()
	var b [][]byte
	for _, a := range args {
		b = append(b, []byte(a))
	}
	_ = c.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.c.Write(resp.AppendCommand(nil, b...)); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := rawReply(c.r, &out); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return out.String()
}

// rawReply copies one RESP2 reply (arrays of simple, error, integer and
// bulk replies) to out.
func rawReply(r *bufio.Reader, out *strings.Builder) error {
	line, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	out.WriteString(line)
	n, _ := strconv.Atoi(strings.TrimSpace(line[1:]))
	switch line[0] {
	case '$':
		if n >= 0 {
			b := make([]byte, n+2)
			if _, err := io.ReadFull(r, b); err != nil {
				return err
			}
			out.Write(b)
		}
	case '*':
		for range n {
			if err := rawReply(r, out); err != nil {
				return err
			}
		}
	}
	return nil
}

// A restarted agent (SIGTERM, then kill -9) has exactly the users it had:
// ACL LIST is equal byte for byte. --aclfile seeds the first start, ACL
// SAVE writes the file, and the stored users win over the file later.
func TestAgentUsersSurviveRestartAndKill9(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "nsenter")
	bin := buildDorivo(t)
	ns := testenv.NewNetns(t, "users")
	dataDir := t.TempDir()
	aclfile := filepath.Join(t.TempDir(), "users.acl")
	seed := "user default on #" + sha("root-pw") + " ~* &* +@all\nuser ops on #" + sha("ops-pw") + " ~* &* +@all -flushall\n"
	if err := os.WriteFile(aclfile, []byte(seed), 0o600); err != nil {
		t.Fatal(err)
	}
	pinDir := fmt.Sprintf("/sys/fs/bpf/dorivo-test-%d-%d", os.Getpid(), pinSeq.Add(1))
	t.Cleanup(func() { _ = os.RemoveAll(pinDir) })
	args := []string{"--iface", "lo", "--loops", "2", "--pin-dir", pinDir, "--tcp-port", strconv.Itoa(usersPort),
		"--udp-port", strconv.Itoa(usersPort), "--admin-addr", usersAdmin, "--data-dir", dataDir, "--aclfile", aclfile}

	a := startAgent(t, bin, ns, args...)
	c := dialUsers(t, ns)
	if got := c.do(t, "ACL", "WHOAMI"); got != "-NOAUTH Authentication required.\r\n" {
		t.Fatalf("before AUTH: %q (the aclfile gave default a password)", got)
	}
	for _, cmd := range [][]string{
		{"AUTH", "root-pw"},
		{"ACL", "SETUSER", "acme", "on", ">acme-pw", "~{acme}*", "+@all", "-@admin"},
		{"ACL", "SETUSER", "ro", "on", "nopass", "~*", "+@read", "-strlen"},
		{"ACL", "DELUSER", "ops"},
		{"CONFIG", "SET", "requirepass", "new-root-pw"},
		{"ACL", "SETUSER", "acme", ">second-pw"},
	} {
		if got := c.do(t, cmd...); got != "+OK\r\n" && got != ":1\r\n" {
			t.Fatalf("%v: %q", cmd, got)
		}
	}
	want := c.do(t, "ACL", "LIST")
	if !strings.Contains(want, "user acme on #") || strings.Contains(want, "user ops") {
		t.Fatalf("ACL LIST before restart: %q", want)
	}
	check := func(when string) {
		t.Helper()
		c := dialUsers(t, ns)
		if got := c.do(t, "AUTH", "root-pw"); !strings.HasPrefix(got, "-WRONGPASS") {
			t.Fatalf("%s: the old password still works: %q", when, got)
		}
		if got := c.do(t, "AUTH", "new-root-pw"); got != "+OK\r\n" {
			t.Fatalf("%s: AUTH: %q", when, got)
		}
		if got := c.do(t, "ACL", "LIST"); got != want {
			t.Fatalf("%s: ACL LIST\n%q\nwant\n%q", when, got, want)
		}
		if got := c.do(t, "AUTH", "acme", "second-pw"); got != "+OK\r\n" {
			t.Fatalf("%s: AUTH acme: %q", when, got)
		}
	}

	if err := a.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("agent exit: %v\n%s", err, a.logString())
	}
	a = startAgent(t, bin, ns, args...)
	check("after a restart")
	if !strings.Contains(a.logString(), "--aclfile differs from the stored users") {
		t.Fatalf("no warning that the stored users won over the aclfile:\n%s", a.logString())
	}
	c = dialUsers(t, ns)
	c.do(t, "AUTH", "new-root-pw")
	if got := c.do(t, "ACL", "SETUSER", "late", "on", "nopass"); got != "+OK\r\n" {
		t.Fatalf("ACL SETUSER late: %q", got)
	}
	want = c.do(t, "ACL", "LIST")
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-a.done
	a.done <- nil
	a = startAgent(t, bin, ns, args...)
	check("after kill -9")

	c = dialUsers(t, ns)
	c.do(t, "AUTH", "new-root-pw")
	if got := c.do(t, "ACL", "SAVE"); got != "+OK\r\n" {
		t.Fatalf("ACL SAVE: %q", got)
	}
	before := authFailures(t, ns)
	for range 3 {
		if got := c.do(t, "AUTH", "acme", "guess"); !strings.HasPrefix(got, "-WRONGPASS") {
			t.Fatalf("wrong AUTH: %q", got)
		}
	}
	if got := authFailures(t, ns) - before; got != 3 {
		t.Fatalf("dorivo_auth_failures_total grew by %d over 3 wrong AUTHs", got)
	}
	if !strings.Contains(a.logString(), "AUTH failed") {
		t.Fatalf("no log line for the failed AUTHs:\n%s", a.logString())
	}
	saved, _ := os.ReadFile(aclfile)
	lines := strings.Count(want, "\r\nuser ")
	if strings.Count(string(saved), "\n") != lines || !strings.Contains(string(saved), "user late on nopass") {
		t.Fatalf("ACL SAVE wrote %q for %d users", saved, lines)
	}
}

func sha(s string) string { return fmt.Sprintf("%x", sha256.Sum256([]byte(s))) }
