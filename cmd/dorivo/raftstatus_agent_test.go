package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dorivo/dorivo/internal/testenv"
)

const (
	raftPort  = 16880
	raftAdmin = "127.0.0.1:19880"
)

// TestAgentRaftStatus runs the real single-node agent with a store and
// writes to it: GET /raft shows both shards led by node 1 with the writes
// committed and applied and no peers; `dorivo status` prints the same in
// its table and under "raft" in --json; /metrics has the new raft series
// and no peer series. Without a store, /raft is absent and status says so.
func TestAgentRaftStatus(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "nsenter")
	bin, loadgen := buildDorivo(t), buildLoadgen(t)
	start := func(extra ...string) (*agentProc, *testenv.Netns, string) {
		ns := testenv.NewNetns(t, "raft")
		pinDir := fmt.Sprintf("/sys/fs/bpf/dorivo-test-%d-%d", os.Getpid(), pinSeq.Add(1))
		t.Cleanup(func() { _ = os.RemoveAll(pinDir) })
		return startAgent(t, bin, ns, append([]string{"--iface", "lo", "--loops", "2", "--tcp-port", fmt.Sprint(raftPort),
			"--udp-port", fmt.Sprint(raftPort), "--pin-dir", pinDir, "--admin-addr", raftAdmin}, extra...)...), ns, pinDir
	}
	agent, ns, pinDir := start("--data-dir", t.TempDir())
	before := getRaftView(t, ns)
	lg := exec.Command("nsenter", "--net=/var/run/netns/"+ns.Name, loadgen, "--target", fmt.Sprintf("127.0.0.1:%d", raftPort),
		"--conns", "4", "--pipeline", "4", "--read-ratio", "0", "--requests", "4000", "--quiet")
	if out, err := lg.CombinedOutput(); err != nil {
		t.Fatalf("loadgen: %v\n%s", err, out)
	}
	// Each SET is one log entry, applied behind its ack and published on
	// the store's tick (100ms): wait for all 4000, then for a view that
	// holds still over 3 ticks.
	var v *raftView
	testenv.WaitFor(t, "the 4000 writes applied and the view still", func() bool {
		v = getRaftView(t, ns)
		var grew uint64
		for i, s := range v.Shards {
			if s.Applied != s.Commit || s.Applied <= before.Shards[i].Applied {
				return false
			}
			grew += s.Applied - before.Shards[i].Applied
		}
		if len(v.Shards) != 2 || grew < 4000 {
			return false
		}
		time.Sleep(300 * time.Millisecond)
		return reflect.DeepEqual(getRaftView(t, ns), v)
	})
	if v.Cluster || v.Node != 1 || v.Peers != nil {
		t.Errorf("single node: %+v", v)
	}
	for _, s := range v.Shards {
		if s.Leader != 1 || s.Role != "leader" || s.Term == 0 || s.Followers != nil {
			t.Errorf("shard %d: %+v", s.Shard, s)
		}
	}

	inNs := func(args ...string) string {
		out, err := exec.Command("nsenter", append([]string{"--net=/var/run/netns/" + ns.Name, bin, "status", "--pin-dir", pinDir,
			"--admin-addr", raftAdmin}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("dorivo status %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	table := inNs()
	for _, s := range v.Shards {
		row := fmt.Sprintf("%d %d-%d 1 1 %d leader %d %d %d %d", s.Shard, s.Slots[0], s.Slots[1], s.Term, s.Commit, s.Applied, s.Last, s.LeaderChanges)
		if !containsRow(table, row) {
			t.Errorf("status table has no row %q:\n%s", row, table)
		}
	}
	if !strings.Contains(table, "raft node 1 (single node)") || strings.Contains(table, "PEER") {
		t.Errorf("status table:\n%s", table)
	}
	var doc struct {
		Raft *raftView   `json:"raft"`
		Shed *statusShed `json:"shed"`
	}
	if js := inNs("--json"); json.Unmarshal([]byte(js), &doc) != nil || doc.Shed == nil || !reflect.DeepEqual(doc.Raft, v) {
		t.Errorf("status --json raft %+v, want %+v:\n%s", doc.Raft, v, js)
	}

	body, err := scrapeAt(t, ns, raftAdmin)
	if err != nil {
		t.Fatal(err)
	}
	m := parseSamples(body)
	for _, s := range v.Shards {
		if k := fmt.Sprintf(`dorivo_raft_last_index{shard="%d"}`, s.Shard); m[k] != float64(s.Last) {
			t.Errorf("%s = %v, want %d", k, m[k], s.Last)
		}
	}
	if m["dorivo_layout_version"] != 1 || m["dorivo_layout_leader"] != 1 || m["dorivo_layout_mismatch"] != 0 {
		t.Errorf("/metrics layout: version %v, leader %v, mismatch %v; want 1, 1, 0",
			m["dorivo_layout_version"], m["dorivo_layout_leader"], m["dorivo_layout_mismatch"])
	}
	if _, ok := m["dorivo_raft_snapshots_sent_total"]; !ok || strings.Contains(body, "dorivo_peer_") {
		t.Errorf("/metrics: snapshots counter missing, or peer series on a single node")
	}
	agent.stop(t, 15)

	_, ns, pinDir = start("--data-dir", "")
	if code, _ := getInNetns(t, ns, raftAdmin, "/raft", ""); code != 404 {
		t.Errorf("GET /raft without a store: %d, want 404", code)
	}
	out, err := exec.Command("nsenter", "--net=/var/run/netns/"+ns.Name, bin, "status", "--pin-dir", pinDir, "--admin-addr", raftAdmin).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "raft: "+errNoRaft.Error()) {
		t.Errorf("status without a store: %v\n%s", err, out)
	}
}

// getRaftView GETs /raft from the agent in ns.
func getRaftView(t *testing.T, ns *testenv.Netns) *raftView {
	t.Helper()
	code, body := getInNetns(t, ns, raftAdmin, "/raft", "")
	var v raftView
	if code != 200 || json.Unmarshal([]byte(body), &v) != nil {
		t.Fatalf("GET /raft: %d %s", code, body)
	}
	return &v
}
