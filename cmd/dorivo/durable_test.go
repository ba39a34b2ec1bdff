package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dorivo/dorivo/internal/testenv"
)

const (
	killPort  = 16580
	killAdmin = "127.0.0.1:19580"
)

// buildLoadgen builds cmd/dorivo-loadgen next to the agent binary.
func buildLoadgen(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "dorivo-loadgen")
	if out, err := exec.Command("go", "build", "-o", bin, "../dorivo-loadgen").CombinedOutput(); err != nil {
		t.Fatalf("go build loadgen: %v\n%s", err, out)
	}
	return bin
}

// journalLines counts the writes recorded so far (one line each).
func journalLines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

// laterWrite reports whether value got was written by the same loadgen
// connection of the same run as want, after it. Values carry
// nonce<<48 | conn<<36 | seq in hex (workload.AppendValue): a write in
// flight when the agent was killed may be durable though its reply never
// came, and since a key's records are in one log in order, holding it
// implies the acknowledged write before it was durable too.
// A value of a later run (laterNonces) is a later write too.
func laterWrite(want, got string, laterNonces []uint64) bool {
	w, ok1 := valueID(want)
	g, ok2 := valueID(got)
	return ok1 && ok2 && (w>>36 == g>>36 && g > w || slices.Contains(laterNonces, g>>48))
}

func valueID(v string) (uint64, bool) {
	n, err := strconv.ParseUint(strings.TrimRight(v, "x"), 16, 64)
	return n, err == nil
}

// journalNonce returns the run nonce of the values in a loadgen journal
// ("OP\tkey\tvalue" lines).
func journalNonce(t *testing.T, path string) uint64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Split(line, "\t")
	id, ok := valueID(f[len(f)-1])
	if len(f) != 3 || !ok {
		t.Fatalf("journal %s starts with %q", path, line)
	}
	return id >> 48
}

// kill -9 of the real agent under write load: every write the load
// generator saw acknowledged (and recorded) reads back with its value after
// the agent restarts on the same --data-dir. Two rounds, the second with
// another loop count, so the restart also reshapes the store, and with 64
// KiB of --cache-memory, so most values come back cold and every read of
// them goes through the store.
func TestAgentKill9KeepsAcknowledgedWrites(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "nsenter")
	bin := buildDorivo(t)
	loadgen := buildLoadgen(t)
	ns := testenv.NewNetns(t, "kill9")
	dataDir := t.TempDir()
	var records []string // one journal per round
	var nonces []uint64
	target := fmt.Sprintf("127.0.0.1:%d", killPort)

	// One pin dir throughout: a killed agent leaves its links pinned, and
	// the restarted one takes them over, as it would on a real node.
	pinDir := fmt.Sprintf("/sys/fs/bpf/dorivo-test-%d-%d", os.Getpid(), pinSeq.Add(1))
	t.Cleanup(func() { _ = os.RemoveAll(pinDir) })
	agentArgs := func(loops int, cacheMemory string) []string {
		return []string{"--iface", "lo", "--loops", fmt.Sprint(loops), "--pin-dir", pinDir,
			"--tcp-port", fmt.Sprint(killPort), "--udp-port", fmt.Sprint(killPort),
			"--admin-addr", killAdmin, "--data-dir", dataDir, "--cache-memory", cacheMemory}
	}
	inNs := func(argv ...string) *exec.Cmd {
		return exec.Command("nsenter", append([]string{"--net=/var/run/netns/" + ns.Name}, argv...)...)
	}

	for round, r := range []struct {
		loops       int
		cacheMemory string
	}{{2, "1gb"}, {1, "64kb"}} {
		loops := r.loops
		agent := startAgent(t, bin, ns, agentArgs(loops, r.cacheMemory)...)
		record := filepath.Join(t.TempDir(), "acked.journal")
		lg := inNs(loadgen, "--target", target, "--conns", "8", "--pipeline", "8", "--read-ratio", "0",
			"--mset-ratio", "0.2", "--mset-keys", "4", "--keyspace", "20000", "--value-size", "64",
			"--duration", "60s", "--timeout", "2s", "--record", record, "--quiet",
			"--seed", fmt.Sprint(round+1))
		var lgOut strings.Builder
		lg.Stdout, lg.Stderr = &lgOut, &lgOut
		if err := lg.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill once a good number of writes were acknowledged; the wait is
		// bounded only so a broken agent cannot hang the test.
		deadline := time.Now().Add(50 * time.Second)
		for journalLines(t, record) < 3000 {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: only %d writes acknowledged\nloadgen: %s\nagent:\n%s",
					round, journalLines(t, record), lgOut.String(), agent.logString())
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err := agent.stop(t, syscall.SIGKILL); err == nil {
			t.Fatalf("round %d: agent exited cleanly, want killed", round)
		}
		_ = lg.Wait() // fails: its server died mid-run
		t.Logf("round %d (%d loops): %d writes acknowledged before kill -9", round, loops, journalLines(t, record))

		records, nonces = append(records, record), append(nonces, journalNonce(t, record))

		agent = startAgent(t, bin, ns, agentArgs(loops, r.cacheMemory)...)
		// Every round's acknowledged writes, through every restart since.
		for j, record := range records {
			verifyJournal(t, loadgen, inNs, target, record, nonces[j+1:], fmt.Sprintf("round %d, writes of round %d", round, j))
		}
		body, err := scrapeAt(t, ns, killAdmin)
		if err != nil {
			t.Fatalf("round %d: scrape: %v", round, err)
		}
		var fetches float64
		for k, v := range parseLoopMetrics(body) {
			if strings.HasPrefix(k, "dorivo_loop_cold_fetches_total") {
				fetches += v
			}
		}
		if wantCold := r.cacheMemory == "64kb"; (fetches > 1000) != wantCold {
			t.Fatalf("round %d: %.0f cold values fetched with --cache-memory %s", round, fetches, r.cacheMemory)
		}
		t.Logf("round %d: %.0f cold values fetched from the store", round, fetches)
		if err := agent.stop(t, syscall.SIGTERM); err != nil {
			t.Fatalf("round %d: agent stop: %v\n%s", round, err, agent.logString())
		}
	}
}

// verifyJournal reads back every write recorded in record: none may be
// missing, and a key may only hold its acknowledged value or a later write.
func verifyJournal(t *testing.T, loadgen string, inNs func(...string) *exec.Cmd, target, record string, laterNonces []uint64, what string) {
	t.Helper()
	out, err := inNs(loadgen, "--target", target, "--verify", record, "--timeout", "5s", "--json").Output()
	var res struct {
		Writes  int      `json:"writes"`
		Keys    int      `json:"keys"`
		Missing []string `json:"missing"`
		Wrong   []struct{ Key, Want, Got string }
	}
	if jerr := json.Unmarshal(out, &res); jerr != nil {
		t.Fatalf("%s: verify: %v / %v\n%s", what, err, jerr, out)
	}
	if len(res.Missing) > 0 {
		t.Fatalf("%s: %d acknowledged keys lost after kill -9, e.g. %s", what, len(res.Missing), res.Missing[0])
	}
	for _, w := range res.Wrong {
		if !laterWrite(w.Want, w.Got, laterNonces) {
			t.Fatalf("%s: %s holds %q after kill -9, want its acknowledged %q (or a later write)", what, w.Key, w.Got, w.Want)
		}
	}
	t.Logf("%s: %d acknowledged writes over %d keys read back; %d keys hold a later write",
		what, res.Writes, res.Keys, len(res.Wrong))
}
