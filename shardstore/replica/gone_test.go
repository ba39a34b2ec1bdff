package replica

import (
	"testing"
	"time"
)

// A stopped leader's port refuses connections, so its followers learn it is
// gone and elect a successor at once. The election timeout here is 5-10 s
// and the wait after the stop 2.5 s: only that path can elect in time.
func TestGoneLeaderReplacedWithoutElectionTimeout(t *testing.T) {
	c := newCluster(t, 2)
	c.electionTicks = 1000 // × 5 ms ticks
	c.startAll()
	// The first election may wait out a timeout (a campaign made before the
	// peers were up is not retried sooner); then each shard is handed to
	// its preferred leader, node shard+1. Stop node 1 once it leads shard 0.
	deadline := time.Now().Add(25 * time.Second)
	for c.leaderWithin(0, 25*time.Second) != 1 || c.leaderWithin(1, 25*time.Second) != 2 {
		if time.Now().After(deadline) {
			t.Fatal("shards 0 and 1 not on their preferred leaders, nodes 1 and 2, within 25s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	old, led := uint64(1), []uint32{0}
	c.stop(old)
	for _, sh := range led {
		lead, deadline := uint64(0), time.Now().Add(2500*time.Millisecond)
		for lead == 0 && time.Now().Before(deadline) {
			for id, n := range c.nodes {
				if n.Store.IsLeader(sh) {
					lead = id
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
		if lead == 0 {
			t.Fatalf("shard %d: no leader 2.5s after its leader %d stopped", sh, old)
		}
		k := keyIn(c.nodes[lead].Store, sh, 1)
		if r := c.write(sh, k, k); r.err != nil {
			t.Fatalf("shard %d: write on the new leader %d: %v", sh, lead, r.err)
		}
	}
	var gone uint64
	for _, n := range c.nodes {
		gone += n.Store.Stats().GoneLeaders
		for _, ps := range n.Transport.Stats().Peers {
			if ps.Node == old && ps.Gone == 0 {
				t.Errorf("node %d's transport did not report node %d gone: %+v", n.Store.NodeID(), old, ps)
			}
		}
	}
	if want := uint64(2 * len(led)); gone != want {
		t.Errorf("followers forgot %d leaders, want %d (2 followers × %d shards)", gone, want, len(led))
	}
}
