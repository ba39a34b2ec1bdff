package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dorivo/dorivo/internal/testenv"
)

// getInNetns GETs path from the admin server at addr inside ns, with a
// bearer token when token is set. The dial happens on the Do goroutine's
// thread, which is in the namespace (an http.Client would dial elsewhere).
func getInNetns(t *testing.T, ns *testenv.Netns, addr, path, token string) (int, string) {
	t.Helper()
	var code int
	var body []byte
	var gerr error
	ns.Do(t, func() {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			gerr = err
			return
		}
		defer c.Close()
		auth := ""
		if token != "" {
			auth = "Authorization: Bearer " + token + "\r\n"
		}
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n", path, auth)
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			gerr = err
			return
		}
		code = res.StatusCode
		body, gerr = io.ReadAll(res.Body)
	})
	if gerr != nil {
		t.Fatalf("GET %s%s: %v", addr, path, gerr)
	}
	return code, string(body)
}

// TestAgentAdminEndpoint runs the real agent with its admin server on
// 0.0.0.0: without flags it serves /metrics, no profiler, and warns; with
// --pprof and --admin-token-file it serves the profiler, only to requests
// carrying the token, and does not warn or log the token.
func TestAgentAdminEndpoint(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "nsenter")
	bin := buildDorivo(t)
	const admin = "127.0.0.1:19579"
	const warning = "admin endpoint is reachable beyond loopback without authentication"
	start := func(extra ...string) (*agentProc, *testenv.Netns) {
		ns := testenv.NewNetns(t, "adm")
		pinDir := fmt.Sprintf("/sys/fs/bpf/dorivo-test-%d-%d", os.Getpid(), pinSeq.Add(1))
		t.Cleanup(func() { _ = os.RemoveAll(pinDir) })
		return startAgent(t, bin, ns, append([]string{"--iface", "lo", "--loops", "1", "--tcp-port", "16680", "--udp-port", "16679",
			"--pin-dir", pinDir, "--admin-addr", "0.0.0.0:19579"}, extra...)...), ns
	}

	agent, ns := start()
	if !strings.Contains(agent.logString(), warning) {
		t.Errorf("0.0.0.0 without auth: no warning\n%s", agent.logString())
	}
	if code, body := getInNetns(t, ns, admin, "/metrics", ""); code != 200 || !strings.Contains(body, "dorivo_") {
		t.Errorf("/metrics: %d\n%s", code, body)
	}
	if code, _ := getInNetns(t, ns, admin, "/debug/pprof/", ""); code != 404 {
		t.Errorf("/debug/pprof/ without --pprof: %d, want 404", code)
	}
	agent.stop(t, 15)

	const token = "agent-admin-token-1234"
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	agent, ns = start("--pprof", "--admin-token-file", file)
	for _, tc := range []struct {
		path, token string
		want        int
	}{
		{"/metrics", "", 401},
		{"/metrics", token, 200},
		{"/debug/pprof/", "", 401},
		{"/debug/pprof/", token, 200},
		{"/debug/pprof/cmdline", token, 200},
	} {
		if code, _ := getInNetns(t, ns, admin, tc.path, tc.token); code != tc.want {
			t.Errorf("--pprof --admin-token-file: GET %s with token %q: %d, want %d", tc.path, tc.token, code, tc.want)
		}
	}
	if l := agent.logString(); strings.Contains(l, warning) || strings.Contains(l, token) {
		t.Errorf("with a token: warned, or logged the token\n%s", l)
	}
}
