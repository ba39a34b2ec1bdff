package main

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dorivo/dorivo/shardstore/durable"
	"github.com/dorivo/dorivo/userspace/stats"
)

// openRaftStore opens a real single-node store (pebble in a temp dir) with
// two shards, writes n records to shard 0 and waits until a tick has
// published them as applied.
func openRaftStore(t *testing.T, n int) *durable.Store {
	t.Helper()
	st, err := durable.Open(t.TempDir(), durable.Options{Shards: 2, TickInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	errc := make(chan error, n)
	for i := range n {
		st.Propose(0, durable.AppendSet(nil, []byte{'k', byte(i)}, []byte("v"), 0), func(_ uint64, err error) { errc <- err })
	}
	for range n {
		if err := <-errc; err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for st.Status(0).Applied < uint64(n) || st.Status(1).Leader == 0 || st.Layout() == nil || st.LayoutStatus().Leader == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("status not published in 10s: %+v %+v", st.Status(0), st.Status(1))
		}
		time.Sleep(5 * time.Millisecond)
	}
	return st
}

// A single node's view: every shard led by node 1 in a term, its writes
// committed and applied, no followers and no peers; GET /raft serves the
// same view, and the table and JSON show it.
func TestRaftViewSingleNode(t *testing.T) {
	const writes = 25
	st := openRaftStore(t, writes)
	v := readRaftView(st, nil)
	if v.Cluster || v.Node != 1 || len(v.Shards) != 2 || v.Peers != nil {
		t.Fatalf("view %+v", v)
	}
	for _, s := range v.Shards {
		if s.Leader != 1 || s.Term == 0 || s.Role != "leader" || s.Applied > s.Commit || s.Followers != nil {
			t.Errorf("shard %d: %+v", s.Shard, s)
		}
	}
	if s := v.Shards[0]; s.Applied < writes || s.Applied-v.Shards[1].Applied < writes {
		t.Errorf("shard 0 applied %d, shard 1 %d: want %d writes more on shard 0", s.Applied, v.Shards[1].Applied, writes)
	}
	if v.Shards[0].Slots != [2]uint16{0, 8191} || v.Shards[1].Slots != [2]uint16{8192, 16383} {
		t.Errorf("slots %v %v", v.Shards[0].Slots, v.Shards[1].Slots)
	}
	if v.Layout.Version != 1 || v.Layout.Leader != 1 || v.Layout.Error != "" || v.Shards[0].Preferred != 1 {
		t.Errorf("layout %+v, shard 0 preferred %d: want version 1 led by node 1", v.Layout, v.Shards[0].Preferred)
	}

	srv := httptest.NewServer(raftHandler(st, nil))
	defer srv.Close()
	got, err := fetchRaftView(strings.TrimPrefix(srv.URL, "http://"), "")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, v) { // nothing was written since: the same view
		t.Errorf("GET /raft %+v, want %+v", got, v)
	}

	var table bytes.Buffer
	if err := (&statusRaft{View: v}).writeTable(&table, time.Now()); err != nil {
		t.Fatal(err)
	}
	out := table.String()
	s0 := v.Shards[0]
	row := strings.Join([]string{"0", "0-8191", "1", "1", itoa(s0.Term), "leader",
		itoa(s0.Commit), itoa(s0.Applied), itoa(s0.Last), "0"}, " ")
	if !strings.Contains(out, "raft node 1 (single node)") || !containsRow(out, row) || !strings.Contains(out, "layout version 1") ||
		strings.Contains(out, "FOLLOWER") || strings.Contains(out, "PEER") {
		t.Errorf("table, want row %q and no follower or peer tables:\n%s", row, out)
	}

	var js bytes.Buffer
	if err := writeStatusJSONRaft(&js, &stats.Snapshot{}, &statusShed{Slots: map[string]int{}}, &statusRaft{View: v}); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Shed *statusShed `json:"shed"`
		Raft *raftView   `json:"raft"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, js.String())
	}
	if doc.Shed == nil || !reflect.DeepEqual(doc.Raft, v) {
		t.Errorf("JSON raft %+v shed %+v, want %+v\n%s", doc.Raft, doc.Shed, v, js.String())
	}
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }

// containsRow reports whether a line of out has the fields of row.
func containsRow(out, row string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.Join(strings.Fields(l), " ") == row {
			return true
		}
	}
	return false
}

// A replica's table: the shard rows, the followers of the shards it leads
// with their lag, and each peer's state with how long it has held it; a
// replica leading nothing says so; no view prints why.
func TestRaftTableReplica(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	v := &raftView{Node: 1, Cluster: true, LeaderChanges: 4, SnapshotsSent: 2, SnapshotsApplied: 1, Shards: []raftShard{
		{Shard: 0, Slots: [2]uint16{0, 5460}, Leader: 1, Term: 3, Role: "leader", Commit: 90, Applied: 90, Last: 90, LeaderChanges: 1,
			Followers: []raftFollower{{Node: 2, Match: 90, Lag: 0, Active: true, State: "replicate"}, {Node: 3, Match: 40, Lag: 50, State: "probe"}}},
		{Shard: 1, Slots: [2]uint16{5461, 10922}, Preferred: 2, Leader: 2, Term: 3, Role: "follower", Commit: 70, Applied: 69, Last: 70},
	}, Layout: raftLayout{Version: 3, Leader: 1, Term: 2}, Peers: []raftPeer{
		{Node: 2, Addr: "10.77.0.2:7379", State: "connected", Since: now.Add(-90 * time.Second), MsgsSent: 10, MsgsReceived: 12, BytesSent: 100, BytesReceived: 120},
		{Node: 3, Addr: "10.77.0.3:7379", State: "disconnected", Since: now.Add(-3 * time.Second), Reconnects: 2, LastError: "stream ended"},
	}}
	var b bytes.Buffer
	if err := (&statusRaft{View: v}).writeTable(&b, now); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, row := range []string{
		"raft node 1 (replica) leader changes 4 snapshots sent 2 applied 1",
		"layout version 3 layout leader 1 term 2",
		"1 5461-10922 2 2 3 follower 70 69 70 0",
		"0 2 90 0 true replicate",
		"0 3 40 50 false probe",
		"2 10.77.0.2:7379 connected 1m30s ago 10/12 100/120 0 0 0/0",
		"3 10.77.0.3:7379 disconnected 3s ago 0/0 0/0 0 2 0/0 stream ended",
	} {
		if !containsRow(out, row) {
			t.Errorf("no row %q in\n%s", row, out)
		}
	}
	if strings.Contains(out, "LAYOUT REFUSED") {
		t.Errorf("a layout refusal shown for a matching layout:\n%s", out)
	}
	v.Layout.Error = "durable: this node's shards differ from the cluster layout version 3"
	b.Reset()
	_ = (&statusRaft{View: v}).writeTable(&b, now)
	if !strings.Contains(b.String(), "LAYOUT REFUSED: "+v.Layout.Error) {
		t.Errorf("no layout refusal:\n%s", b.String())
	}
	v.Shards = v.Shards[1:]
	b.Reset()
	_ = (&statusRaft{View: v}).writeTable(&b, now)
	if !strings.Contains(b.String(), "(none: this node leads no shard)") {
		t.Errorf("leading nothing:\n%s", b.String())
	}
	b.Reset()
	_ = (&statusRaft{Error: errNoRaft.Error()}).writeTable(&b, now)
	if got := strings.TrimSpace(b.String()); got != "raft: "+errNoRaft.Error() {
		t.Errorf("no view: %q", got)
	}
}
