package main

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dorivo/dorivo/cmd/dorivo-loadgen/internal/respclient"
	"github.com/dorivo/dorivo/cmd/dorivo-loadgen/internal/udptest"
	"github.com/dorivo/dorivo/datapath/resp"
	"github.com/dorivo/dorivo/internal/redistest"
)

// TestMain lets a test re-run this binary as dorivo-loadgen itself, to
// check real exit codes and output.
func TestMain(m *testing.M) {
	if os.Getenv("DORIVO_LOADGEN_AS_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(context.Background(), args, &o, &e, false)
	return code, o.String(), e.String()
}

func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--conns", "x"}, exitUsage, "--conns"},
		{[]string{"--no-such-flag"}, exitUsage, "--no-such-flag"},
		{[]string{"--conns", "0"}, exitUsage, "--conns 0"},
		{[]string{"--pipeline", "0"}, exitUsage, "--pipeline 0"},
		{[]string{"--proto", "http"}, exitUsage, "--proto"},
		{[]string{"--target", "localhost"}, exitUsage, "--target"},
		{[]string{"--read-ratio", "1.5"}, exitUsage, "--read-ratio"},
		{[]string{"--read-ratio", "0.7", "--mset-ratio", "0.5"}, exitUsage, "--mset-ratio"},
		{[]string{"--dist", "pareto"}, exitUsage, "--dist"},
		{[]string{"--dist", "zipf", "--zipf-s", "1"}, exitUsage, "--zipf-s"},
		{[]string{"--tenants", "0"}, exitUsage, "--tenants"},
		{[]string{"--keyspace", "5", "--tenants", "10"}, exitUsage, "--keyspace"},
		{[]string{"--rate", "-1"}, exitUsage, "--rate"},
		{[]string{"--duration", "0"}, exitUsage, "--duration"},
		{[]string{"--duration", "soon"}, exitUsage, "--duration"},
		{[]string{"--timeout", "0s"}, exitUsage, "--timeout"},
		{[]string{"--shard-aware"}, exitUsage, "--loops"},
		{[]string{"--shard-aware", "--loops", "300"}, exitUsage, "--loops 300"},
		{[]string{"--shard-aware", "--loops", "8", "--tenants", "100", "--conns", "2"}, exitUsage, "--conns 2"},
		{[]string{"--proto", "udp", "--mset-ratio", "0.1"}, exitUsage, "--mset-ratio"},
		{[]string{"--proto", "udp", "--value-size", "2000"}, exitUsage, "--value-size 2000"},
		{[]string{"--proto", "udp", "--shard-aware", "--loops", "2"}, exitUsage, "--shard-aware"},
		{[]string{"--record", "a", "--verify", "b"}, exitUsage, "--record and --verify"},
		{[]string{"--record", "x", "--keyspace", "10", "--tenants", "10", "--conns", "4"}, exitUsage, "--keyspace 10"},
		{[]string{"--record", "/nonexistent-dir/rec", "--target", "127.0.0.1:1"}, exitUsage, "--record"},
		{[]string{"--verify", "/nonexistent-file"}, exitUsage, "--verify"},
		{[]string{"stray-arg"}, exitUsage, "stray-arg"},
		{[]string{"--user", "acme"}, exitUsage, "--user"},
		{[]string{"--proto", "udp", "--password", "pw"}, exitUsage, "--password"},
		{[]string{"--target", closedPort(t), "--duration", "1s"}, exitFailure, "target 127.0.0.1:"},
		{[]string{"--proto", "udp", "--target", closedPort(t), "--timeout", "300ms"}, exitFailure, "target 127.0.0.1:"},
	} {
		code, stdout, stderr := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 || stdout != "" {
			t.Errorf("dorivo-loadgen %s: exit %d, stderr %q, stdout %q; want exit %d and one line naming %q",
				strings.Join(tc.args, " "), code, stderr, stdout, tc.code, tc.want)
		}
	}
}

// TestBinaryExitCodes runs the real binary: exit status and no stack trace.
func TestBinaryExitCodes(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"--conns", "-3"}, exitUsage},
		{[]string{"--target", closedPort(t)}, exitFailure},
		{[]string{"--help"}, exitOK},
	} {
		cmd := exec.Command(os.Args[0], tc.args...)
		cmd.Env = append(os.Environ(), "DORIVO_LOADGEN_AS_MAIN=1")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.code || strings.Contains(stderr.String(), "goroutine") {
			t.Errorf("%v: exit %d, stderr %q; want exit %d without a stack trace", tc.args, code, stderr.String(), tc.code)
		}
	}
}

func TestRunReportsEveryOp(t *testing.T) {
	addr := redistest.Start(t).Addr
	code, out, stderr := runCLI(t, "--target", addr, "--requests", "3000", "--conns", "2", "--pipeline", "8",
		"--read-ratio", "0.4", "--mset-ratio", "0.2", "--mset-keys", "4", "--dist", "zipf", "--zipf-s", "1.3", "--quiet")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 10 {
			rows[f[0]] = f
		}
	}
	for _, op := range []string{"GET", "SET", "MSET", "ALL"} {
		r := rows[op]
		if r == nil || r[1] == "0" || r[2] == "0" || r[9] != "0" {
			t.Errorf("%s row %v: want requests and req/s > 0, errors 0\n%s", op, r, out)
		}
	}
	code, out, _ = runCLI(t, "--target", addr, "--requests", "500", "--rate", "5000", "--json", "--quiet")
	if code != exitOK || !strings.Contains(out, `"mode": "open"`) || !strings.Contains(out, `"p99_9"`) {
		t.Fatalf("exit %d, JSON report:\n%s", code, out)
	}
}

// TestVerifyFindsPlantedLoss records a run against redis-server, then
// deletes one recorded key and changes another behind the load
// generator's back: --verify must report exactly those two.
func TestVerifyFindsPlantedLoss(t *testing.T) {
	addr := redistest.Start(t).Addr
	rec := filepath.Join(t.TempDir(), "writes.rec")
	code, _, stderr := runCLI(t, "--target", addr, "--requests", "2000", "--conns", "3", "--pipeline", "4",
		"--tenants", "4", "--keyspace", "300", "--read-ratio", "0.3", "--mset-ratio", "0.3", "--record", rec, "--quiet")
	if code != exitOK {
		t.Fatalf("record run: exit %d: %s", code, stderr)
	}
	code, out, stderr := runCLI(t, "--target", addr, "--verify", rec)
	if code != exitOK || !strings.Contains(out, "0 missing, 0 wrong") {
		t.Fatalf("verify of an intact store: exit %d\n%s%s", code, out, stderr)
	}

	keys := recordedKeys(t, rec)
	if len(keys) < 2 {
		t.Fatalf("only %d keys recorded", len(keys))
	}
	lost, changed := keys[len(keys)/3], keys[2*len(keys)/3]
	redisDo(t, addr, "DEL", lost)
	redisDo(t, addr, "SET", changed, "tampered")

	code, out, _ = runCLI(t, "--target", addr, "--verify", rec)
	if code != exitMismatch {
		t.Fatalf("verify after planted loss: exit %d, want %d\n%s", code, exitMismatch, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasSuffix(lines[0], "1 missing, 1 wrong") ||
		lines[1] != "missing "+lost || !strings.HasPrefix(lines[2], "wrong "+changed+": want ") || !strings.HasSuffix(lines[2], `got "tampered"`) {
		t.Fatalf("verify report, want exactly %s missing and %s wrong:\n%s", lost, changed, out)
	}
	code, out, _ = runCLI(t, "--target", addr, "--verify", rec, "--json")
	if code != exitMismatch || !strings.Contains(out, `"missing": [`) || !strings.Contains(out, lost) {
		t.Fatalf("JSON verify: exit %d\n%s", code, out)
	}
}

// TestUDPRecordAndVerify drives the datagram protocol through the command
// line against the in-test responder, with 1024-byte values (the
// protocol's maximum), then plants a loss.
func TestUDPRecordAndVerify(t *testing.T) {
	srv := udptest.Start(t, 0)
	rec := filepath.Join(t.TempDir(), "udp.rec")
	code, out, stderr := runCLI(t, "--proto", "udp", "--target", srv.Addr, "--requests", "1000", "--pipeline", "8",
		"--value-size", "1024", "--record", rec, "--quiet")
	if code != exitOK || !strings.Contains(out, "udp "+srv.Addr) {
		t.Fatalf("UDP run: exit %d\n%s%s", code, out, stderr)
	}
	keys := recordedKeys(t, rec)
	srv.Delete(keys[0])
	code, out, _ = runCLI(t, "--proto", "udp", "--target", srv.Addr, "--verify", rec)
	if code != exitMismatch || !strings.Contains(out, "1 missing, 0 wrong") || !strings.Contains(out, "missing "+keys[0]+"\n") {
		t.Fatalf("UDP verify after a planted loss: exit %d\n%s", code, out)
	}
}

// TestAuth: a server that requires a password refuses the run with a
// one-line target error, and serves it with the right credentials, both
// the password-only and the ACL user form.
func TestAuth(t *testing.T) {
	addr := redistest.Start(t, "--requirepass", "s3cret").Addr
	code, out, _ := runCLI(t, "--target", addr, "--requests", "10", "--read-ratio", "1", "--quiet")
	if code != exitOK || !strings.Contains(out, "error GET NOAUTH Authentication required.: 10") {
		t.Errorf("no password: exit %d, want every request counted as NOAUTH:\n%s", code, out)
	}
	code, _, stderr := runCLI(t, "--target", addr, "--requests", "10", "--password", "wrong", "--quiet")
	if code != exitFailure || !strings.Contains(stderr, "target "+addr+": AUTH refused: WRONGPASS") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("wrong password: exit %d, stderr %q", code, stderr)
	}
	for _, args := range [][]string{{"--password", "s3cret"}, {"--user", "default", "--password", "s3cret"}} {
		code, out, stderr := runCLI(t, append([]string{"--target", addr, "--requests", "200", "--quiet"}, args...)...)
		if code != exitOK || !strings.Contains(out, "ALL") {
			t.Errorf("%v: exit %d\n%s%s", args, code, out, stderr)
		}
		if strings.Contains(out, "NOAUTH") {
			t.Errorf("%v: requests refused: %s", args, out)
		}
	}
}

func recordedKeys(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[string]bool{}
	var keys []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k := strings.Split(sc.Text(), "\t")[1]
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	return keys
}

func redisDo(t *testing.T, addr string, args ...string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var b [][]byte
	for _, a := range args {
		b = append(b, []byte(a))
	}
	if _, err := c.Write(resp.AppendCommand(nil, b...)); err != nil {
		t.Fatal(err)
	}
	var rep respclient.Reply
	if err := respclient.NewReader(c).ReadReply(&rep); err != nil || rep.Kind == respclient.Error {
		t.Fatalf("%v: %v %s", args, err, rep.Str)
	}
}
