package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dorivo/dorivo/shardstore/durable"
	"github.com/dorivo/dorivo/shardstore/replica/transport"
	"github.com/dorivo/dorivo/userspace/stats"
)

// raftView is GET /raft: this node's raft groups, one per shard, and its
// peer connections; `dorivo status` prints it.
type raftView struct {
	Node    uint64      `json:"node"`    // this node's raft ID
	Cluster bool        `json:"cluster"` // false: single node, one-member groups
	Shards  []raftShard `json:"shards"`
	Layout  raftLayout  `json:"layout"`
	// Store-wide: leader changes seen, raft snapshots sent and applied.
	LeaderChanges    uint64     `json:"leader_changes"`
	SnapshotsSent    uint64     `json:"snapshots_sent"`
	SnapshotsApplied uint64     `json:"snapshots_applied"`
	Peers            []raftPeer `json:"peers,omitempty"`
}

// raftLayout is the cluster layout this node applied and its raft group.
type raftLayout struct {
	Version uint64 `json:"version"` // 0: none applied yet
	Leader  uint64 `json:"leader"`  // the layout group's leader
	Term    uint64 `json:"term"`
	Error   string `json:"error,omitempty"` // why this node refuses the layout
}

// raftShard is one shard's group as this node last saw it.
type raftShard struct {
	Shard         uint32         `json:"shard"`
	Slots         [2]uint16      `json:"slots"`     // first and last
	Preferred     uint64         `json:"preferred"` // the layout's preferred leader (0: no layout yet)
	Leader        uint64         `json:"leader"`
	Term          uint64         `json:"term"`
	Role          string         `json:"role"` // leader, follower, candidate, precandidate
	Commit        uint64         `json:"commit"`
	Applied       uint64         `json:"applied"`
	Last          uint64         `json:"last"`
	LeaderChanges uint64         `json:"leader_changes"`
	Learners      []uint64       `json:"learners,omitempty"`  // members catching up, not voting yet
	Rejoining     bool           `json:"rejoining,omitempty"` // this node lost its copy and waits to be made a learner
	Followers     []raftFollower `json:"followers,omitempty"` // on the leader
}

// raftFollower is the leader's view of one follower.
type raftFollower struct {
	Node   uint64 `json:"node"`
	Match  uint64 `json:"match"`
	Lag    uint64 `json:"lag"` // the leader's last index minus Match
	Active bool   `json:"active"`
	State  string `json:"state"` // probe, replicate, snapshot
}

// raftPeer is this node's connection to one other node.
type raftPeer struct {
	Node              uint64    `json:"node"`
	Addr              string    `json:"addr"`
	State             string    `json:"state"` // connected, disconnected
	Since             time.Time `json:"since"`
	InboundStreams    int       `json:"inbound_streams"`
	MsgsSent          uint64    `json:"msgs_sent"`
	MsgsReceived      uint64    `json:"msgs_received"`
	MsgsDropped       uint64    `json:"msgs_dropped"`
	BytesSent         uint64    `json:"bytes_sent"`
	BytesReceived     uint64    `json:"bytes_received"`
	Reconnects        uint64    `json:"reconnects"`
	SnapshotsSent     uint64    `json:"snapshots_sent"`
	SnapshotsReceived uint64    `json:"snapshots_received"`
	LastError         string    `json:"last_error,omitempty"`
}

// roleName turns raft's "StateLeader" into "leader".
func roleName(state string) string {
	return strings.ToLower(strings.TrimPrefix(state, "State"))
}

// readRaftView copies st's shard statuses and counters, and peers' state
// when peers is set (a replica; nil: single node).
func readRaftView(st *durable.Store, peers func() transport.Stats) *raftView {
	s := st.Stats()
	v := &raftView{Node: st.NodeID(), Cluster: peers != nil, Shards: []raftShard{},
		LeaderChanges: s.LeaderChanges, SnapshotsSent: s.SnapshotsSent, SnapshotsApplied: s.SnapshotsApplied}
	l, ls := st.Layout(), st.LayoutStatus()
	v.Layout = raftLayout{Version: l.GetVersion(), Leader: ls.Leader, Term: ls.Term}
	if err := st.LayoutError(); err != nil {
		v.Layout.Error = err.Error()
	}
	for i := range st.Shards() {
		ss := st.Status(uint32(i))
		first, last := st.Slots(uint32(i))
		sh := raftShard{Shard: uint32(i), Slots: [2]uint16{first, last}, Leader: ss.Leader, Term: ss.Term,
			Role: roleName(ss.State), Commit: ss.Commit, Applied: ss.Applied, Last: ss.Last, LeaderChanges: ss.LeaderChanges}
		for _, f := range ss.Followers {
			sh.Followers = append(sh.Followers, raftFollower{Node: f.ID, Match: f.Match, Lag: f.Lag, Active: f.Active, State: f.State})
		}
		if l != nil && i < len(l.Shards) {
			sh.Preferred = l.Shards[i].Preferred
		}
		sh.Learners, sh.Rejoining = ss.Learners, ss.Rejoining
		v.Shards = append(v.Shards, sh)
	}
	if peers == nil {
		return v
	}
	for _, p := range peers().Peers {
		state := "disconnected"
		if p.Connected {
			state = "connected"
		}
		v.Peers = append(v.Peers, raftPeer{Node: p.Node, Addr: p.Addr, State: state, Since: p.StateSince,
			InboundStreams: p.InboundStreams, MsgsSent: p.MsgsSent, MsgsReceived: p.MsgsReceived, MsgsDropped: p.MsgsDropped,
			BytesSent: p.BytesSent, BytesReceived: p.BytesReceived, Reconnects: p.Reconnects,
			SnapshotsSent: p.SnapshotsSent, SnapshotsReceived: p.SnapshotsReceived, LastError: p.LastError})
	}
	return v
}

// peerStats is the replica's transport state (nil: single node).
func (c *clusterOptions) peerStats() func() transport.Stats {
	if c.transport == nil {
		return nil
	}
	return c.transport.Stats
}

// raftHandler serves GET /raft.
func raftHandler(st *durable.Store, peers func() transport.Stats) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(readRaftView(st, peers))
	})
}

// errNoRaft: the agent serves no /raft (it runs without a store).
var errNoRaft = errors.New("the agent runs without a store (no --data-dir): no raft groups")

// fetchRaftView GETs /raft from the agent's admin server.
func fetchRaftView(addr, token string) (*raftView, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/raft", nil)
	if err != nil {
		return nil, fmt.Errorf("GET /raft: %w", err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET /raft: %w", err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, errNoRaft
	default:
		return nil, fmt.Errorf("GET /raft: %s", resp.Status)
	}
	var v raftView
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return nil, fmt.Errorf("GET /raft: %w", err)
	}
	return &v, nil
}

// statusRaft is the raft part of `dorivo status`: the view, or why there
// is none.
type statusRaft struct {
	View  *raftView
	Error string
}

// writeTable prints the shards, then (on a replica) the followers this
// node leads and the peer connections; now dates the peers' states.
func (r *statusRaft) writeTable(w io.Writer, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	v := r.View
	if v == nil {
		fmt.Fprintf(tw, "\nraft: %s\n", r.Error)
		return tw.Flush()
	}
	mode := "single node"
	if v.Cluster {
		mode = "replica"
	}
	fmt.Fprintf(tw, "\nraft node %d (%s)\tleader changes %d\tsnapshots sent %d\tapplied %d\n",
		v.Node, mode, v.LeaderChanges, v.SnapshotsSent, v.SnapshotsApplied)
	fmt.Fprintf(tw, "layout version %d\tlayout leader %d\tterm %d\n", v.Layout.Version, v.Layout.Leader, v.Layout.Term)
	if v.Layout.Error != "" {
		fmt.Fprintf(tw, "LAYOUT REFUSED: %s\n", v.Layout.Error)
	}
	fmt.Fprintln(tw, "SHARD\tSLOTS\tPREFERRED\tLEADER\tTERM\tROLE\tCOMMIT\tAPPLIED\tLAST\tLEADER CHANGES")
	for _, s := range v.Shards {
		fmt.Fprintf(tw, "%d\t%d-%d\t%d\t%d\t%d\t%s\t%d\t%d\t%d\t%d\n", s.Shard, s.Slots[0], s.Slots[1], s.Preferred, s.Leader, s.Term, s.Role,
			s.Commit, s.Applied, s.Last, s.LeaderChanges)
	}
	if !v.Cluster {
		return tw.Flush() // one-member groups: no followers, no peers
	}
	fmt.Fprintln(tw, "\nSHARD\tFOLLOWER\tMATCH\tLAG\tACTIVE\tSTATE")
	led := false
	for _, s := range v.Shards {
		for _, f := range s.Followers {
			led = true
			fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%v\t%s\n", s.Shard, f.Node, f.Match, f.Lag, f.Active, f.State)
		}
	}
	if !led {
		fmt.Fprintln(tw, "(none: this node leads no shard)")
	}
	fmt.Fprintln(tw, "\nPEER\tADDR\tSTATE\tSINCE\tMSGS OUT/IN\tBYTES OUT/IN\tDROPPED\tRECONNECTS\tSNAPSHOTS OUT/IN\tLAST ERROR")
	for _, p := range v.Peers {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s ago\t%d/%d\t%d/%d\t%d\t%d\t%d/%d\t%s\n", p.Node, p.Addr, p.State,
			now.Sub(p.Since).Truncate(time.Second), p.MsgsSent, p.MsgsReceived, p.BytesSent, p.BytesReceived,
			p.MsgsDropped, p.Reconnects, p.SnapshotsSent, p.SnapshotsReceived, p.LastError)
	}
	return tw.Flush()
}

// writeStatusJSONRaft prints writeStatusJSON's object (shedstatus.go) with
// "raft" added: the view, or {"error": why} without one.
func writeStatusJSONRaft(w io.Writer, s *stats.Snapshot, sh *statusShed, r *statusRaft) error {
	var buf bytes.Buffer
	if err := writeStatusJSON(&buf, s, sh); err != nil {
		return err
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(buf.Bytes(), &obj); err != nil {
		return fmt.Errorf("status JSON: %w", err)
	}
	var raft any = r.View
	if r.View == nil {
		raft = map[string]string{"error": r.Error}
	}
	b, err := json.Marshal(raft)
	if err != nil {
		return fmt.Errorf("status JSON: %w", err)
	}
	obj["raft"] = b
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(obj)
}
