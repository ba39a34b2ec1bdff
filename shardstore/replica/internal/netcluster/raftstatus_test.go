package netcluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// raftAdminPort is the agents' admin port: on 0.0.0.0 in each node's
// namespace, so that the test reaches it over the cluster's bridge.
const raftAdminPort = "9379"

// nodeRaft is the part of an agent's GET /raft this test reads.
type nodeRaft struct {
	Node   uint64 `json:"node"`
	Shards []struct {
		Shard        uint32 `json:"shard"`
		Leader, Term uint64
		Role         string `json:"role"`
		Last         uint64 `json:"last"`
		Followers    []struct {
			Node, Match, Lag uint64
		} `json:"followers"`
	} `json:"shards"`
	Layout struct {
		Version, Leader uint64
		Error           string
	} `json:"layout"`
	Peers []struct {
		Node  uint64    `json:"node"`
		State string    `json:"state"`
		Since time.Time `json:"since"`
	} `json:"peers"`
}

// get GETs path from node n's admin server.
func (c *Cluster) get(n int, path string) (string, error) {
	host, _, _ := net.SplitHostPort(c.Nodes[n-1].Addr)
	cl := http.Client{Timeout: time.Second}
	resp, err := cl.Get("http://" + net.JoinHostPort(host, raftAdminPort) + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return string(b), err
}

func (c *Cluster) raftView(n int) (*nodeRaft, error) {
	body, err := c.get(n, "/raft")
	if err != nil {
		return nil, err
	}
	var v nodeRaft
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		return nil, fmt.Errorf("node %d /raft: %w", n, err)
	}
	return &v, nil
}

// waitViews polls the views of nodes until ok accepts them, for up to 20s.
func (c *Cluster) waitViews(t testing.TB, what string, nodes []int, ok func(map[int]*nodeRaft) error) map[int]*nodeRaft {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		vs := map[int]*nodeRaft{}
		var err error
		for _, n := range nodes {
			if vs[n], err = c.raftView(n); err != nil {
				break
			}
		}
		if err == nil {
			if err = ok(vs); err == nil {
				return vs
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// oneLeader checks that each shard has exactly one node calling itself
// leader, and that every node names it, in the same term.
func oneLeader(vs map[int]*nodeRaft) error {
	for sh := range shards {
		leaders, named := 0, map[uint64]bool{}
		for n, v := range vs {
			if len(v.Shards) != shards {
				return fmt.Errorf("node %d has %d shards", n, len(v.Shards))
			}
			s := v.Shards[sh]
			if s.Role == "leader" {
				leaders++
				if s.Leader != v.Node {
					return fmt.Errorf("node %d leads shard %d but names %d", n, sh, s.Leader)
				}
			}
			named[s.Leader] = true
		}
		if leaders != 1 || len(named) != 1 || named[0] {
			return fmt.Errorf("shard %d: %d leaders, leaders named %v", sh, leaders, named)
		}
	}
	return nil
}

// caughtUp checks that each shard's leader sees every other node as a
// follower with lag 0, matched at its last index.
func caughtUp(want int) func(map[int]*nodeRaft) error { return followersWithin(want, 0) }

// healthy checks that every shard has one leader that every node names,
// and that it sees both other nodes as followers within maxLag entries of
// its log: a cluster that has recovered from the last fault.
func healthy(maxLag uint64) func(map[int]*nodeRaft) error { return followersWithin(2, maxLag) }

// followersWithin checks oneLeader, and that each shard's leader has want
// followers, each within maxLag entries of its last index.
func followersWithin(want int, maxLag uint64) func(map[int]*nodeRaft) error {
	return func(vs map[int]*nodeRaft) error {
		if err := oneLeader(vs); err != nil {
			return err
		}
		for n, v := range vs {
			for _, s := range v.Shards {
				if s.Role != "leader" {
					continue
				}
				if len(s.Followers) != want {
					return fmt.Errorf("node %d, shard %d: %d followers, want %d", n, s.Shard, len(s.Followers), want)
				}
				for _, f := range s.Followers {
					if f.Lag > maxLag || f.Match+maxLag < s.Last {
						return fmt.Errorf("node %d, shard %d: follower %d match %d lag %d, last %d", n, s.Shard, f.Node, f.Match, f.Lag, s.Last)
					}
				}
			}
		}
		return nil
	}
}

// TestRaftStatusThreeNodes reads GET /raft and /metrics of the three
// agents: each shard shows exactly one leader, which every node names;
// after writes stop, every follower's lag on the leader is 0; after kill
// -9 of a node, the other two show their peer connection to it
// disconnected (since after the kill) and to each other connected.
func TestRaftStatusThreeNodes(t *testing.T) {
	c := Up(t, "--loops 1 --admin-addr 0.0.0.0:"+raftAdminPort)
	all := []int{1, 2, 3}
	c.waitViews(t, "one leader per shard", all, oneLeader)

	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: c.Nodes[0].Addr})
	defer rdb.Close()
	perShard := map[int]int{}
	for i := 0; len(perShard) < shards || i < 300; i++ {
		key := fmt.Sprintf("raftstatus:%d", i)
		if err := rdb.Set(ctx, key, i, 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", key, err)
		}
		perShard[shardOf(key)]++
	}
	vs := c.waitViews(t, "followers caught up after the writes", all, caughtUp(2))
	for sh := range shards {
		if last := vs[1].Shards[sh].Last; last < uint64(perShard[sh]) {
			t.Errorf("shard %d: last index %d after %d writes", sh, last, perShard[sh])
		}
	}
	for n, v := range vs {
		for _, p := range v.Peers {
			if p.State != "connected" {
				t.Errorf("node %d: peer %d %s before the kill", n, p.Node, p.State)
			}
		}
		if len(v.Peers) != 2 {
			t.Errorf("node %d: %d peers", n, len(v.Peers))
		}
		if l := v.Layout; l.Version != 1 || l.Leader != vs[1].Layout.Leader || l.Leader == 0 || l.Error != "" {
			t.Errorf("node %d: layout %+v, want version 1 with node 1's leader %d", n, l, vs[1].Layout.Leader)
		}
	}

	killed := time.Now()
	c.Kill(3)
	c.waitViews(t, "node 3 disconnected on nodes 1 and 2", []int{1, 2}, func(vs map[int]*nodeRaft) error {
		for n, v := range vs {
			for _, p := range v.Peers {
				want := "connected"
				if p.Node == 3 {
					want = "disconnected"
				}
				if p.State != want || p.Node == 3 && p.Since.Before(killed) {
					return fmt.Errorf("node %d: peer %d %s since %v, want %s (killed at %v)", n, p.Node, p.State, p.Since, want, killed)
				}
			}
		}
		return nil
	})
	for _, n := range []int{1, 2} {
		body, err := c.get(n, "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{`dorivo_peer_connected{peer="3"} 0`, fmt.Sprintf(`dorivo_peer_connected{peer="%d"} 1`, 3-n)} {
			if !strings.Contains(body, want+"\n") {
				t.Errorf("node %d /metrics has no %q", n, want)
			}
		}
	}
	// The two left still have one leader per shard, each now with one
	// follower it can reach caught up (node 3's lag grows with writes).
	c.waitViews(t, "one leader per shard on nodes 1 and 2", []int{1, 2}, oneLeader)
}
