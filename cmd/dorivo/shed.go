package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/dorivo/dorivo/bpf"
	"github.com/dorivo/dorivo/breaker"
	"github.com/dorivo/dorivo/datapath/core"
	"github.com/dorivo/dorivo/datapath/server"
	"github.com/dorivo/dorivo/shardstore/durable"
	"github.com/dorivo/dorivo/shardstore/slot"
	"github.com/dorivo/dorivo/userspace/shed"
)

// shedding is the agent's breakers and load shedding (userspace/shed): the
// Mirror that writes slot_shed and the loops' board, the disk breaker over
// the store's raft log fsyncs, the peer breakers, and the loops' load
// monitor. When the disk breaker opens on a single node, writes fail fast
// (-TRYAGAIN, UNAVAILABLE) and reads go on until the disk recovers; in a
// cluster the node hands leadership of its shards to healthy replicas
// instead (drainOn). The peer breakers guard forwarded requests
// (server.ClusterConfig.PeerBreakers).
type shedding struct {
	board core.ShedBoard
	mir   *shed.Mirror
	disk  *breaker.Breaker // nil without a store
	// diskObserve feeds disk with each raft log fsync (storeFS).
	diskObserve shed.SyncObserver
	load        *shed.LoadMonitor
	log         *slog.Logger
	// peers are the peer breakers (cluster mode), in node order. The
	// forwarders check them; they shed no slots, since the shards a
	// peer leads change with every election.
	peers []*breaker.Breaker
	// shards are the shard breakers (cluster mode), in shard order; each
	// sheds its shard's slots while open (watchShards).
	shards []*breaker.Breaker

	stopOnce sync.Once
	cancel   context.CancelFunc
	done     sync.WaitGroup
}

// In a cluster (replicated) the disk breaker sheds nothing: while it is
// open the node hands the shards it leads to healthy replicas (drainOn),
// and writes it forwards to them must go on.
func newShedding(m *bpf.DorivoMaps, table *slot.Table, withDisk, replicated bool, log *slog.Logger) (*shedding, error) {
	s := &shedding{log: log}
	var err error
	if s.mir, err = shed.NewMirror(shed.Options{Map: m.SlotShed, Board: &s.board, Table: table, Logger: log}); err != nil {
		return nil, err
	}
	if withDisk {
		var observe shed.SyncObserver
		if s.disk, observe, err = shed.NewDiskBreaker(shed.DiskConfig()); err != nil {
			return nil, fmt.Errorf("disk breaker: %w", err)
		}
		s.diskObserve = observe
		var slots []uint16 // nil: every slot
		if replicated {
			slots = []uint16{} // none, but the Mirror polls and logs it
		}
		s.mir.Watch(s.disk, core.ShedDisk, slots)
	}
	// A restarted agent finds the pinned map as the last one left it.
	s.mir.Sync()
	return s, nil
}

// drainOn makes st drain (hand over its shards' leadership) while the
// disk breaker is not closed: open, or half-open until its probes close it.
func (s *shedding) drainOn(st *durable.Store) {
	if s.disk == nil {
		return
	}
	s.disk.AddListener(func(t breaker.Transition) {
		st.SetDraining(t.To == breaker.Open || t.To == breaker.HalfOpen || t.To == breaker.ForcedOpen)
	})
}

// storeFS is the store's filesystem, base with its raft log fsyncs
// feeding the disk breaker (nil: the store's default, without a disk
// breaker).
func (s *shedding) storeFS(base vfs.FS) vfs.FS {
	if s.disk == nil {
		return nil
	}
	return shed.ObserveSyncs(base, shed.RaftLogDir, s.diskObserve)
}

// testOverloadQueueEnv, for tests only, sets the load monitor's bound on
// a loop's UDP receive queue (a fraction of its buffer): tiny, any queued
// datagram is an overload, so the flood test does not depend on out-running
// a loop that batches its reads.
const testOverloadQueueEnv = "DORIVO_TEST_OVERLOAD_QUEUE"

// start runs the Mirror and the load monitor over dp's loops.
func (s *shedding) start(dp *server.Server) error {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	var maxQueue float64 // 0: the monitor's default
	if v := os.Getenv(testOverloadQueueEnv); v != "" {
		if f, err := strconv.ParseFloat(v, 64); err == nil && f > 0 && f < 1 {
			maxQueue = f
			s.log.Warn("test-only "+testOverloadQueueEnv+" is set: loops count as overloaded at a tiny receive queue", "max_queue", f)
		}
	}
	load, err := shed.NewLoadMonitor(ctx, s.mir, shed.LoadOptions{
		Loops:    dp.Loops(),
		Socket:   dp.UDPSocket,
		Probe:    func(ctx context.Context, i int) error { return dp.RunOnLoop(ctx, i, func() {}) },
		MaxQueue: maxQueue,
		Logger:   s.log,
	})
	if err != nil {
		cancel()
		return err
	}
	s.load = load
	s.done.Add(2)
	go func() { defer s.done.Done(); s.mir.Run(ctx) }()
	go func() { defer s.done.Done(); load.Run(ctx) }()
	return nil
}

// stop ends both before the datapath stops (the monitor probes its loops).
func (s *shedding) stop() {
	s.stopOnce.Do(func() {
		if s.cancel != nil {
			s.cancel()
			s.done.Wait()
			s.load.Close()
		}
	})
}

// Breakers lists the agent's breakers, for /metrics and `dorivo status`.
func (s *shedding) Breakers() []*breaker.Breaker {
	var out []*breaker.Breaker
	if s.disk != nil {
		out = append(out, s.disk)
	}
	out = append(out, s.peers...)
	return append(out, s.shards...)
}

// watchPeers lists the peer breakers and logs their state changes.
func (s *shedding) watchPeers(peers map[uint64]*breaker.Breaker) {
	ids := slices.Sorted(maps.Keys(peers))
	for _, id := range ids {
		b := peers[id]
		b.AddListener(func(t breaker.Transition) {
			s.log.Warn("peer breaker changed state", "breaker", b.Name(), "transition", t)
		})
		s.peers = append(s.peers, b)
	}
}

// watchShards makes each shard breaker shed its shard's slots while it is
// open, and lists them. The kernel answers all their datagrams (GETs of
// stale-read tenants too: on an interface with XDP they fall back only
// when the leader has none or cannot be reached); the loops answer their
// requests, except reads that may be served stale from the replica.
func (s *shedding) watchShards(shards []*breaker.Breaker, st *durable.Store) {
	for i, b := range shards {
		first, last := st.Slots(uint32(i))
		slots := make([]uint16, 0, int(last)-int(first)+1)
		for sl := int(first); sl <= int(last); sl++ {
			slots = append(slots, uint16(sl))
		}
		s.mir.Watch(b, core.ShedBreaker, slots)
		s.shards = append(s.shards, b)
	}
}

// breakerStatus is one breaker as `dorivo status` prints it.
type breakerStatus struct {
	Name         string            `json:"name"`
	State        string            `json:"state"`
	FailureRate  float64           `json:"failure_rate"`
	SlowCallRate float64           `json:"slow_call_rate"`
	Calls        int               `json:"window_calls"`
	NotPermitted uint64            `json:"not_permitted"`
	RetryAfterMs int64             `json:"retry_after_ms"`
	Transitions  map[string]uint64 `json:"transitions"`
}

// shedStatus is what GET /breakers serves: every breaker, the loops'
// load, and how many slots are shed.
type shedStatus struct {
	Breakers  []breakerStatus `json:"breakers"`
	Loops     []shed.LoopLoad `json:"loops"`
	ShedSlots int             `json:"shed_slots"`
}

func (s *shedding) status() shedStatus {
	st := shedStatus{Breakers: []breakerStatus{}, ShedSlots: len(s.mir.Shed())}
	for _, b := range s.Breakers() {
		sn := b.Snapshot()
		bs := breakerStatus{Name: sn.Breaker, State: sn.State.String(), FailureRate: sn.FailureRate,
			SlowCallRate: sn.SlowCallRate, Calls: sn.BufferedCalls, NotPermitted: sn.NotPermittedCalls,
			RetryAfterMs: sn.RetryAfter.Milliseconds(), Transitions: map[string]uint64{}}
		for i, n := range sn.Transitions {
			bs.Transitions[breaker.State(i).String()] = n
		}
		st.Breakers = append(st.Breakers, bs)
	}
	if s.load != nil {
		st.Loops = s.load.Loads()
	}
	return st
}

// handler serves GET /breakers.
func (s *shedding) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.status())
	})
}

// fetchShedStatus reads GET /breakers from the agent's admin server.
func fetchShedStatus(addr, token string) (*shedStatus, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/breakers", nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /breakers: %s", resp.Status)
	}
	var st shedStatus
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, fmt.Errorf("GET /breakers: %w", err)
	}
	return &st, nil
}
