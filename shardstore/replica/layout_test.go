package replica

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/dorivo/dorivo/shardstore/durable"
)

// waitLayouts waits until every running node has applied layout version v.
func (c *cluster) waitLayouts(v uint64) *durable.ClusterLayout {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var first *durable.ClusterLayout
		same := true
		for _, n := range c.nodes {
			l := n.Store.Layout()
			if l == nil || l.Version != v {
				same = false
				break
			}
			if first == nil {
				first = l
			}
			same = same && reflect.DeepEqual(l, first)
		}
		if same && first != nil {
			return first
		}
		time.Sleep(5 * time.Millisecond)
	}
	for id, n := range c.nodes {
		c.t.Logf("node %d: layout %+v", id, n.Store.Layout())
	}
	c.t.Fatalf("the nodes did not agree on layout version %d", v)
	return nil
}

// waitLeader waits until shard is led by node want (rebalance hands each
// shard to its preferred leader).
func (c *cluster) waitLeader(shard uint32, want uint64) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for c.leader(shard) != want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := c.leader(shard); got != want {
		c.t.Fatalf("shard %d led by node %d, want node %d", shard, got, want)
	}
}

// proposeLayout proposes l on the layout group's leader.
func (c *cluster) proposeLayout(l *durable.ClusterLayout) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		var lead *Node
		for _, n := range c.nodes {
			if s := n.Store.LayoutStatus(); s.Leader == n.Store.NodeID() {
				lead = n
			}
		}
		err := errors.New("no layout group leader")
		if lead != nil {
			ch := make(chan error, 1)
			lead.Store.ProposeLayout(l, func(_ uint64, err error) { ch <- err })
			err = <-ch
		}
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The layout is data in the layout group: every node applies the same
// version 1, a change moves a shard's leader, and it survives a restart.
func TestLayoutAgreedAndMovesLeaders(t *testing.T) {
	c := newCluster(t, 3)
	c.startAll()
	l := c.waitLayouts(1)
	for i, sh := range l.Shards {
		if !slices.Equal(sh.Voters, []uint64{1, 2, 3}) || sh.Preferred != uint64(i%3)+1 {
			t.Fatalf("layout shard %d: %+v, want voters 1-3 and preferred leader %d", i, sh, i%3+1)
		}
	}
	c.waitLeader(0, 1)

	next := &durable.ClusterLayout{Version: 2, Shards: slices.Clone(l.Shards)}
	next.Shards[0].Preferred = 3
	if err := c.proposeLayout(next); err != nil {
		t.Fatalf("ProposeLayout: %v", err)
	}
	c.waitLayouts(2)
	c.waitLeader(0, 3)
	if r := c.write(0, keyIn(c.nodes[1].Store, 0, 1), []byte("v")); r.err != nil {
		t.Fatalf("write after the change: %v", r.err)
	}

	c.stop(2)
	n := c.start(2)
	if got := n.Store.Layout(); got == nil || got.Version != 2 || got.Shards[0].Preferred != 3 {
		t.Fatalf("node 2 reopened with layout %+v, want version 2", got)
	}
}

// A node started with other shards than the cluster's applies the
// cluster's layout, refuses it and takes no part in the shards; the
// others go on committing.
func TestLayoutMismatchQuarantinesNode(t *testing.T) {
	c := newCluster(t, 4)
	c.start(1)
	c.start(2)
	c.waitLayouts(1)
	c.shards = 2
	n3 := c.start(3)
	delete(c.nodes, 3) // c.leader and c.write ask the running nodes 1 and 2
	t.Cleanup(func() { n3.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for n3.Store.LayoutError() == nil && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := n3.Store.LayoutError(); err == nil {
		t.Fatalf("node 3 (2 shards) accepted layout %+v of 4 shards", n3.Store.Layout())
	}
	if r := propose(n3.Store, 0, keyIn(n3.Store, 0, 1), []byte("v")); r.err == nil || errors.Is(r.err, durable.ErrNotLeader) {
		t.Fatalf("node 3 write: err %v, want the layout mismatch", r.err)
	}
	for shard := range uint32(4) {
		k := keyIn(c.nodes[1].Store, shard, 2)
		r := c.write(shard, k, []byte("w"))
		if r.err != nil {
			t.Fatalf("shard %d write with node 3 quarantined: %v", shard, r.err)
		}
	}
	for shard := range uint32(2) {
		if ld := n3.Store.Leader(shard).Leader; ld != 0 {
			t.Errorf("node 3 follows leader %d for its shard %d: it took part in a shard", ld, shard)
		}
	}
}
