package replica

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/dorivo/dorivo/shardstore/durable"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// cluster is three replicas in this process, each with its own pebble dir
// and its own gRPC transport on loopback.
type cluster struct {
	t      *testing.T
	dir    string
	addrs  map[uint64]string
	nodes  map[uint64]*Node
	shards int
	keep   uint64 // durable.Options.LogKeepEntries
	// electionTicks is durable.Options.ElectionTicks (0: 20).
	electionTicks int
}

func newCluster(t *testing.T, shards int) *cluster {
	c := &cluster{t: t, dir: t.TempDir(), addrs: map[uint64]string{}, nodes: map[uint64]*Node{}, shards: shards}
	for id := uint64(1); id <= 3; id++ {
		c.addrs[id] = freeAddr(t)
	}
	t.Cleanup(func() {
		for id := range c.nodes {
			c.stop(id)
		}
	})
	return c
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func (c *cluster) start(id uint64) *Node {
	c.t.Helper()
	et := c.electionTicks
	if et == 0 {
		et = 20
	}
	n, err := Start(Config{
		NodeID: id, ListenAddr: c.addrs[id], Peers: c.addrs,
		Dir: filepath.Join(c.dir, strconv.FormatUint(id, 10)),
		Store: durable.Options{
			Shards: c.shards, TickInterval: 5 * time.Millisecond, ElectionTicks: et, HeartbeatTicks: 2,
			LogKeepEntries: c.keep, SegmentBytes: 1 << 20,
		},
	})
	if err != nil {
		c.t.Fatalf("start node %d: %v", id, err)
	}
	c.nodes[id] = n
	return n
}

func (c *cluster) startAll() {
	for id := uint64(1); id <= 3; id++ {
		c.start(id)
	}
}

func (c *cluster) stop(id uint64) {
	if n := c.nodes[id]; n != nil {
		delete(c.nodes, id)
		if err := n.Close(); err != nil {
			c.t.Logf("close node %d: %v", id, err)
		}
	}
}

// leader waits until the running nodes agree on shard's leader, and
// returns it.
func (c *cluster) leader(shard uint32) uint64 {
	c.t.Helper()
	return c.leaderWithin(shard, 10*time.Second)
}

func (c *cluster) leaderWithin(shard uint32, wait time.Duration) uint64 {
	c.t.Helper()
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		var lead uint64
		agree := true
		for _, n := range c.nodes {
			l := n.Store.Leader(shard).Leader
			if lead == 0 {
				lead = l
			}
			agree = agree && l != 0 && l == lead
		}
		if agree && c.nodes[lead] != nil && c.nodes[lead].Store.IsLeader(shard) {
			return lead
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.t.Fatalf("shard %d: no leader agreed on in %v", shard, wait)
	return 0
}

// keyIn returns a key named for i whose slot is in shard.
func keyIn(st *durable.Store, shard uint32, i int) []byte {
	for j := 0; ; j++ {
		k := []byte(fmt.Sprintf("k%d-%d", i, j))
		if st.ShardOf(slot.Of(k)) == shard {
			return k
		}
	}
}

type result struct {
	index uint64
	err   error
}

func propose(st *durable.Store, shard uint32, key, val []byte) result {
	ch := make(chan result, 1)
	st.Propose(shard, durable.AppendSet(nil, key, val, 0), func(i uint64, err error) { ch <- result{i, err} })
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		return result{err: errors.New("no answer in 10s")}
	}
}

// write proposes on whichever node leads shard, again while the write is
// refused as not led here (a leadership hand-back may be under way).
func (c *cluster) write(shard uint32, key, val []byte) result {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := propose(c.nodes[c.leader(shard)].Store, shard, key, val)
		if !errors.Is(r.err, durable.ErrNotLeader) || time.Now().After(deadline) {
			return r
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitValue waits until st has applied index of shard and checks key's value.
func waitValue(t *testing.T, st *durable.Store, shard uint32, index uint64, key, want []byte) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for st.AppliedIndex(shard) < index {
		if time.Now().After(deadline) {
			t.Fatalf("node %d shard %d: applied %d, want %d", st.NodeID(), shard, st.AppliedIndex(shard), index)
		}
		time.Sleep(2 * time.Millisecond)
	}
	v, _, ok, err := st.Get(shard, key)
	if err != nil || !ok || string(v) != string(want) {
		t.Fatalf("node %d: get %s = %q, %v, %v; want %q", st.NodeID(), key, v, ok, err, want)
	}
}

func TestWritesCommitOnEveryReplica(t *testing.T) {
	c := newCluster(t, 3)
	c.startAll()
	for shard := uint32(0); shard < 3; shard++ {
		st := c.nodes[1].Store
		for i := range 20 {
			k := keyIn(st, shard, i)
			v := []byte("v" + strconv.Itoa(i))
			r := c.write(shard, k, v)
			if r.err != nil {
				t.Fatalf("shard %d write %d: %v", shard, i, r.err)
			}
			for _, n := range c.nodes {
				waitValue(t, n.Store, shard, r.index, k, v)
			}
		}
	}
	// Each shard's preferred leader (shard % 3 + 1) ends up leading it.
	deadline := time.Now().Add(10 * time.Second)
	for shard := uint32(0); shard < 3; shard++ {
		want := uint64(shard%3) + 1
		for c.leader(shard) != want && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if got := c.leader(shard); got != want {
			t.Errorf("shard %d led by node %d, want its preferred leader %d", shard, got, want)
		}
	}
}

func TestFollowerRefusesWrites(t *testing.T) {
	c := newCluster(t, 1)
	c.startAll()
	lead := c.leader(0)
	for id, n := range c.nodes {
		if id == lead {
			continue
		}
		r := propose(n.Store, 0, []byte("k"), []byte("v"))
		if !errors.Is(r.err, durable.ErrNotLeader) {
			t.Errorf("write on follower %d: %v, want ErrNotLeader", id, r.err)
		}
	}
}

func TestFailoverKeepsAcknowledgedWrites(t *testing.T) {
	c := newCluster(t, 1)
	c.startAll()
	old := c.leader(0)
	var keys [][]byte
	for i := range 50 {
		k := keyIn(c.nodes[old].Store, 0, i)
		if r := c.write(0, k, k); r.err != nil {
			t.Fatal(r.err)
		}
		keys = append(keys, k)
	}
	c.stop(old)
	lead := c.leader(0)
	if lead == old {
		t.Fatalf("node %d still leads after it stopped", old)
	}
	var last uint64
	for i := 50; i < 100; i++ {
		k := keyIn(c.nodes[lead].Store, 0, i)
		r := c.write(0, k, k)
		if r.err != nil {
			t.Fatalf("write %d after node %d stopped: %v", i, old, r.err)
		}
		keys, last = append(keys, k), r.index
	}
	back := c.start(old) // catches up from the log
	for _, k := range keys {
		waitValue(t, back.Store, 0, last, k, k)
	}
}

func TestCatchUpFromSnapshot(t *testing.T) {
	c := newCluster(t, 1)
	c.keep = 20 // compact the in-memory log often
	c.startAll()
	lead := c.leader(0)
	var down uint64
	for id := range c.nodes {
		if id != lead {
			down = id
			break
		}
	}
	c.stop(down)
	st := c.nodes[lead].Store
	var keys [][]byte
	var last uint64
	for i := range 300 {
		k := keyIn(st, 0, i)
		r := c.write(0, k, []byte("x"+string(k)))
		if r.err != nil {
			t.Fatalf("write %d: %v", i, r.err)
		}
		keys, last = append(keys, k), r.index
	}
	back := c.start(down)
	for _, k := range keys {
		waitValue(t, back.Store, 0, last, k, []byte("x"+string(k)))
	}
	if got := back.Store.Stats().SnapshotsApplied; got == 0 {
		t.Errorf("node %d caught up without a snapshot; the log kept only %d entries", down, c.keep)
	}
	sent := func() (n uint64) {
		for _, nd := range c.nodes { // leadership may have moved since
			n += nd.Store.Stats().SnapshotsSent
		}
		return n
	}
	deadline := time.Now().Add(5 * time.Second)
	for sent() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // the sender hears of the send after the follower has it
	}
	if sent() == 0 {
		t.Errorf("no node counted a snapshot sent")
	}
}

func TestReadIndexOnFollower(t *testing.T) {
	c := newCluster(t, 1)
	c.startAll()
	lead := c.leader(0)
	var fol *durable.Store
	for id, n := range c.nodes {
		if id != lead {
			fol = n.Store
		}
	}
	for i := range 20 {
		k := keyIn(c.nodes[lead].Store, 0, i)
		if r := c.write(0, k, []byte("v")); r.err != nil {
			t.Fatal(r.err)
		}
		// The write is acknowledged: a ReadIndex on the follower must see it.
		ch := make(chan result, 1)
		fol.ReadIndex(0, func(i uint64, err error) { ch <- result{i, err} })
		r := <-ch
		if r.err != nil {
			t.Fatalf("read index on follower: %v", r.err)
		}
		v, _, ok, err := fol.Get(0, k)
		if err != nil || !ok || string(v) != "v" {
			t.Fatalf("follower read after ReadIndex %d: %q %v %v", r.index, v, ok, err)
		}
	}
}

func TestNoQuorum(t *testing.T) {
	c := newCluster(t, 1)
	c.startAll()
	lead := c.leader(0)
	st := c.nodes[lead].Store
	for id := range c.nodes {
		if id != lead {
			c.stop(id)
		}
	}
	// A write the lone leader logs but cannot commit: unknown outcome,
	// never a definite error and never an ack.
	r := propose(st, 0, []byte("k"), []byte("v"))
	if !errors.Is(r.err, durable.ErrUnknownOutcome) && !errors.Is(r.err, durable.ErrNotLeader) {
		t.Fatalf("write without quorum: %v, want ErrUnknownOutcome (or ErrNotLeader if refused up front)", r.err)
	}
	ch := make(chan result, 1)
	st.ReadIndex(0, func(i uint64, err error) { ch <- result{i, err} })
	select {
	case r := <-ch:
		if r.err == nil {
			t.Fatal("read index without quorum succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("read index without quorum: no answer in 5s")
	}
}

// TestDrainingHandsOverLeadership: a node set draining (its disk breaker
// open) hands every shard it leads to another replica and refuses to take
// them back while it drains; writes go on through the new leaders; once it
// stops draining, the shard it is preferred for comes back to it.
func TestDrainingHandsOverLeadership(t *testing.T) {
	c := newCluster(t, 3)
	c.startAll()
	// Shard i's preferred leader is node i%3+1 (Peers order): wait for
	// the spread (the first elections may pick others), then drain the
	// leader of shard 0, to which shard 0 must come back afterwards.
	spread := time.Now().Add(20 * time.Second)
	for sh := range uint32(3) {
		for c.leader(sh) != uint64(sh%3+1) {
			if time.Now().After(spread) {
				t.Fatalf("shard %d not led by its preferred node %d within 20s", sh, sh%3+1)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	sick := c.leader(0)
	c.nodes[sick].Store.SetDraining(true)
	deadline := time.Now().Add(5 * time.Second)
	for {
		led := 0
		for sh := range uint32(3) {
			if c.nodes[sick].Store.IsLeader(sh) {
				led++
			}
		}
		if led == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("draining node %d still leads %d shards after 5s", sick, led)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// It stays without leadership while draining (hand-backs refused),
	// and writes to every shard succeed through the others.
	for i := range 100 {
		for sh := range uint32(3) {
			if l := c.leader(sh); l == sick {
				t.Fatalf("draining node %d leads shard %d again", sick, sh)
			}
			k := keyIn(c.nodes[sick].Store, sh, i)
			if r := c.write(sh, k, k); r.err != nil {
				t.Fatalf("write to shard %d while node %d drains: %v", sh, sick, r.err)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.nodes[sick].Store.SetDraining(false)
	deadline = time.Now().Add(20 * time.Second)
	for !c.nodes[sick].Store.IsLeader(0) {
		if time.Now().After(deadline) {
			t.Fatalf("node %d did not lead shard 0 again within 20s of draining off", sick)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
