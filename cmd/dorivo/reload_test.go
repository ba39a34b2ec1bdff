package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/dorivo/dorivo/bpf"
	"github.com/dorivo/dorivo/internal/testenv"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// TestAgentReloadsConfigOnSIGHUP edits --config under a running agent and
// checks the pinned maps follow: a changed quota, a removed tenant zeroed,
// the ACL emptied and disabled; a broken file is refused and changes
// nothing.
func TestAgentReloadsConfigOnSIGHUP(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "nsenter")
	bin := buildDorivo(t)
	ns := testenv.NewNetns(t, "hup")
	pinDir := fmt.Sprintf("/sys/fs/bpf/dorivo-test-%d-%d", os.Getpid(), pinSeq.Add(1))
	t.Cleanup(func() { _ = os.RemoveAll(pinDir) })
	cfgFile := filepath.Join(t.TempDir(), "dorivo.json")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(cfgFile, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"quotas": [{"tenant": "acme", "rate": 10, "burst": 20}, {"tenant": "beta", "rate": 5}], "allow": ["10.0.0.0/8"]}`)
	agent := startAgent(t, bin, ns, "--iface", "lo", "--pin-dir", pinDir, "--admin-addr", "", "--config", cfgFile)

	rules, err := ebpf.LoadPinnedMap(filepath.Join(pinDir, "quota_rules"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rules.Close()
	rule := func(tag string) bpf.DorivoQuotaRule {
		t.Helper()
		var r bpf.DorivoQuotaRule
		if err := rules.Lookup(uint32(slot.OfTag([]byte(tag))), &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := rule("acme"); r != (bpf.DorivoQuotaRule{Rate: 10, Burst: 20}) {
		t.Fatalf("acme at start: %+v", r)
	}
	if r := rule("beta"); r != (bpf.DorivoQuotaRule{Rate: 5, Burst: 5}) {
		t.Fatalf("beta at start: %+v", r)
	}
	if s := statusJSON(t, bin, pinDir); !s.ACLEnabled {
		t.Fatal("ACL not enabled at start")
	}

	// Emptying the allow list admits every source: refused unless the
	// file says it means it.
	write(`{"quotas": [{"tenant": "acme", "rate": 100}]}`)
	if err := agent.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(agent.logString(), "allow_all") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(agent.logString(), "reload refused") || rule("acme").Rate != 10 || !statusJSON(t, bin, pinDir).ACLEnabled {
		t.Fatalf("a reload emptying the allow list was not refused:\n%s", agent.logString())
	}
	write(`{"quotas": [{"tenant": "acme", "rate": 100}], "allow_all": true}`)
	if err := agent.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for rule("acme").Rate != 100 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if r := rule("acme"); r != (bpf.DorivoQuotaRule{Rate: 100, Burst: 100}) {
		t.Errorf("acme after reload: %+v", r)
	}
	if r := rule("beta"); r != (bpf.DorivoQuotaRule{}) {
		t.Errorf("beta removed from the file but still in the map: %+v", r)
	}
	// The reload writes the quota map before the config map's ACL flag.
	for statusJSON(t, bin, pinDir).ACLEnabled && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if s := statusJSON(t, bin, pinDir); s.ACLEnabled {
		t.Error("ACL still enabled with no allow entries")
	}
	if log := agent.logString(); !strings.Contains(log, "configuration reloaded") || !strings.Contains(log, "-beta") {
		t.Errorf("the reload did not log what changed:\n%s", log)
	}

	write(`{"quotas": [{"tenant": "acme", "rate": "fast"}]}`)
	if err := agent.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for strings.Count(agent.logString(), "reload refused") < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if strings.Count(agent.logString(), "reload refused") < 2 {
		t.Errorf("broken config not reported:\n%s", agent.logString())
	}
	if r := rule("acme"); r.Rate != 100 {
		t.Errorf("a broken file changed the running quota: %+v", r)
	}
	if err := agent.stop(t, syscall.SIGTERM); err != nil {
		t.Errorf("exit: %v\n%s", err, agent.logString())
	}
}

// TestAgentFailsCleanlyOnUnknownInterface: an attach failure after the
// maps were pinned must still unpin them and exit non-zero with one line.
func TestAgentFailsCleanlyOnUnknownInterface(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "nsenter")
	bin := buildDorivo(t)
	ns := testenv.NewNetns(t, "noif")
	pinDir := fmt.Sprintf("/sys/fs/bpf/dorivo-test-%d-%d", os.Getpid(), pinSeq.Add(1))
	t.Cleanup(func() { _ = os.RemoveAll(pinDir) })
	out, err := exec.Command("nsenter", "--net=/var/run/netns/"+ns.Name, bin, "agent", "--iface", "nosuch0", "--pin-dir", pinDir, "--admin-addr", "").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("agent --iface nosuch0: %v\n%s", err, out)
	}
	last := strings.TrimSpace(string(out))
	last = last[strings.LastIndex(last, "\n")+1:]
	if !strings.HasPrefix(last, `dorivo agent: attach: interface "nosuch0"`) {
		t.Errorf("last line %q", last)
	}
	if _, err := os.Stat(pinDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pin dir left behind: %v", err)
	}
}
