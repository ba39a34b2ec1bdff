package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestBadFlagsGiveOneLineNamingTheFlag needs no root: every check runs
// before the agent touches the kernel.
func TestBadFlagsGiveOneLineNamingTheFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"agent", "--udp-port", "70000"}, `invalid value "70000" for flag -udp-port: must be a port number 1..65535`},
		{[]string{"agent", "--tcp-port", "0"}, `flag -tcp-port: must be a port number`},
		{[]string{"agent", "--loops", "0"}, `--loops 0: must be 1..256`},
		{[]string{"agent", "--loops", "300"}, `--loops 300: must be 1..256`},
		{[]string{"agent", "--loops", "many"}, `invalid value "many" for flag -loops`},
		{[]string{"agent", "--quota", "acme"}, `invalid value "acme" for flag -quota: "acme" is not TENANT=RATE[:BURST]`},
		{[]string{"agent", "--quota", "acme=0"}, `flag -quota: rate of tenant "acme" must be > 0`},
		{[]string{"agent", "--quota", "acme=5:x"}, `flag -quota: burst "x" of tenant "acme"`},
		{[]string{"agent", "--allow", "10.0.0.0/33"}, `invalid value "10.0.0.0/33" for flag -allow: "10.0.0.0/33" is not a CIDR`},
		{[]string{"agent", "--tenant", ""}, `flag -tenant: tenant tag "" must be 1 to 64 bytes`},
		{[]string{"agent", "--iface", ""}, `--iface must name an interface`},
		{[]string{"agent", "--pin-dir", ""}, `--pin-dir must not be empty`},
		{[]string{"agent", "--listen", "localhost"}, `--listen "localhost" must be an IP address`},
		{[]string{"agent", "--no-steer=maybe"}, `invalid boolean value "maybe" for -no-steer`},
		{[]string{"agent", "--maxclients", "0"}, `invalid value "0" for flag -maxclients: must be an integer 1..1048576`},
		{[]string{"agent", "--client-query-buffer-limit", "1k"}, `flag -client-query-buffer-limit: must be an integer 1048576..`},
		{[]string{"agent", "--proto-max-bulk-len", "100"}, `flag -proto-max-bulk-len: must be an integer 1048576..`},
		{[]string{"agent", "--max-multibulk-len", "2147483648"}, `flag -max-multibulk-len: must be an integer 1..2147483647`},
		{[]string{"agent", "--cache-memory", "4tb"}, `invalid value "4tb" for flag -cache-memory: must be a size such as 536870912, 512mb or 4gb`},
		{[]string{"agent", "--cache-memory", "-1"}, `flag -cache-memory: must be a size`},
		{[]string{"agent", "--cache-memory", "9000000000gb"}, `flag -cache-memory: must be a size`},
		{[]string{"agent", "--protected-mode", "maybe"}, `invalid value "maybe" for flag -protected-mode: must be yes or no`},
		{[]string{"agent", "--tenant-key", "acme=xyz"}, `flag -tenant-key`},
		{[]string{"agent", "--timeout", "-1"}, `invalid value "-1" for flag -timeout: must be an integer 0..2147483647`},
		{[]string{"agent", "--client-output-buffer-limit", "normal 1 2"}, `flag -client-output-buffer-limit: Wrong number of arguments in buffer limit configuration.`},
		{[]string{"agent", "--client-output-buffer-limit", "master 1 2 3"}, `flag -client-output-buffer-limit: Invalid client class specified in buffer limit configuration.`},
		{[]string{"agent", "--client-pause-bytes", "1x"}, `invalid value "1x" for flag -client-pause-bytes: must be a size`},
		{[]string{"agent", "--config", "/nonexistent/dorivo.json"}, `--config: config file: open /nonexistent/dorivo.json`},
		{[]string{"agent", "--anomaly-interval", "0s"}, `--anomaly-interval must be positive`},
		{[]string{"agent", "--anomaly-interval", "often"}, `invalid value "often" for flag -anomaly-interval`},
		{[]string{"agent", "--peers", "1=a:1,x=b:2"}, `invalid value "1=a:1,x=b:2" for flag -peers: "x=b:2": want ID=HOST:PORT with a positive ID`},
		{[]string{"agent", "--peers", "1=a"}, `flag -peers: "1=a": address a: missing port in address`},
		{[]string{"agent", "--peers", "1=a:1,1=b:2"}, `flag -peers: node 1 listed twice`},
		{[]string{"agent", "--peers", "1=a:1,2=b:1,3=c:1", "--node-id", "4"}, `--node-id 4 is not in --peers`},
		{[]string{"agent", "--peers", "1=a:1,2=b:1", "--node-id", "1"}, `--peers lists 2 nodes: a cluster needs at least 3`},
		{[]string{"agent", "--peers", "1=a:1,2=b:1,3=c:1", "--node-id", "1", "--data-dir", ""}, `--peers needs a --data-dir`},
		{[]string{"agent", "--peers", "1=a:1,2=b:1,3=c:1", "--node-id", "1", "--peer-tls-cert", "c.pem"}, `--peer-tls-cert, --peer-tls-key and --peer-tls-ca go together`},
		{[]string{"agent", "--peers", "1=a:1,2=b:1,3=c:1", "--node-id", "1", "--peer-secret-file", "/nonexistent/secret"}, `--peer-secret-file: stat /nonexistent/secret`},
		{[]string{"agent", "--peers", "1=a:1,2=b:1,3=c:1", "--node-id", "1", "--peer-secret-file", "/etc/hostname"}, `--peer-secret-file /etc/hostname is readable by others (chmod o-r)`},
		{[]string{"agent", "--peers", "1=a:1,2=b:1,3=c:1", "--node-id", "1", "--peer-breaker-slow", "0s"}, `--peer-breaker-slow 0s: must be positive`},
		{[]string{"agent", "--stale-reads", ""}, `flag -stale-reads: tenant tag "" must be 1 to`},
		{[]string{"agent", "--node-id", "1"}, `--node-id and --peer-addr need --peers`},
		{[]string{"agent", "--bogus"}, `flag provided but not defined: -bogus`},
		{[]string{"agent", "stray"}, `unexpected argument "stray"`},
		{[]string{"status", "--json=maybe"}, `invalid boolean value "maybe" for -json`},
		{[]string{"status", "--quota", "x=y"}, `flag -quota: rate "y" of tenant "x"`},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
	} {
		var out, errb bytes.Buffer
		code := run(tc.args, &out, &errb)
		first, _, _ := strings.Cut(errb.String(), "\n")
		if code != 2 || !strings.Contains(first, tc.want) {
			t.Errorf("dorivo %s: exit %d, first line %q; want exit 2 and %q", strings.Join(tc.args, " "), code, first, tc.want)
		}
		if tc.args[0] != "frobnicate" && strings.Count(strings.TrimSpace(errb.String()), "\n") != 0 {
			t.Errorf("dorivo %s: error is not one line:\n%s", strings.Join(tc.args, " "), errb.String())
		}
	}
}

func TestStatusWithNothingPinned(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := run([]string{"status", "--pin-dir", dir}, &out, &errb); code != 1 {
		t.Fatalf("exit %d", code)
	}
	want := "dorivo status: no pinned maps under " + dir + ": is the agent running?\n"
	if errb.String() != want {
		t.Errorf("stderr %q, want %q", errb.String(), want)
	}
}

func TestHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"agent", "-h"}, &out, &errb); code != 0 || !strings.Contains(errb.String(), "-udp-port") {
		t.Errorf("agent -h: exit %d\n%s", code, errb.String())
	}
}
