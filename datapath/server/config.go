package server

import (
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/dorivo/dorivo/datapath/command"
	"github.com/dorivo/dorivo/datapath/core"
	"github.com/dorivo/dorivo/datapath/wire/auth"
	"github.com/dorivo/dorivo/shardstore/durable"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// Config is what New needs. Zero fields take the defaults documented on each.
type Config struct {
	// TCPAddr is the RESP listen address, host:port with a fixed port: every
	// loop binds it with SO_REUSEPORT. Empty disables TCP.
	TCPAddr string
	// UDPAddr is the datagram listen address. Empty disables UDP.
	UDPAddr string
	// Loops is the number of event loops; 0 means runtime.NumCPU().
	Loops int
	// Table maps slots to loops; nil means slot.NewTable(Loops). The agent
	// mirrors the same table into the slot_loop BPF map.
	Table *slot.Table
	// TCPSockets and UDPSockets are the REUSEPORT_SOCKARRAYs (bpf maps
	// tcp_sockets, udp_sockets) where loop i registers its listener at
	// index i. Nil: no registration.
	TCPSockets, UDPSockets *ebpf.Map
	// Reuseport is the sk_reuseport program attached to both socket groups.
	// Nil: the kernel hashes flows over the loops.
	Reuseport *ebpf.Program
	// NoPin leaves loop threads unpinned (by default loop i pins itself to
	// the i-th CPU, modulo their count, of the process's affinity mask).
	NoPin bool
	// Node is the state shared by all sessions (users, config); nil means
	// command.NewNode().
	Node *command.Node

	// RingCap is the capacity of each cross-loop ring, rounded up to a
	// power of two; it is also the most requests one loop has in flight to
	// another. Default 1024.
	RingCap int
	// ArenaBytes is the byte arena beside each ring. Default 1 MiB.
	ArenaBytes int
	// DeferCap is the most requests from other loops one loop parks while
	// a cross-loop transaction holds the keys they touch; past it the
	// requests wait in their rings (backpressure). Default 4096.
	DeferCap int
	// MaxPending is the most replies one connection may have outstanding
	// (a pipeline deeper than that stalls until replies leave). Default 4096.
	MaxPending int

	// MaxClients is Redis's maxclients. Default 10000.
	MaxClients int
	// MaxQueryBuffer is client-query-buffer-limit. Default 1 GiB.
	MaxQueryBuffer int
	// MaxBulkLen, when set, is the starting proto-max-bulk-len: New
	// publishes it in Node's configuration, the one source the parser reads
	// per request, so CONFIG SET can change it later. 0 keeps Node's (512 MiB
	// by default).
	MaxBulkLen int64
	// MaxMultibulk is the most elements one request may have; 0 means
	// Redis's INT_MAX.
	MaxMultibulk int64

	// ExpireEvery is the active expiry period per loop (Redis hz 10: 100ms).
	ExpireEvery time.Duration
	// ExpireBudget is the most keys one expiry step samples. Default 200.
	ExpireBudget int

	// Mutations, when set, receives the durable changes of every write, on
	// the loop that applied them, in apply order: the hook for a log or a
	// replica. It runs on the event loop, so it must not block (hand the
	// records to a bounded queue or ring); muts alias loop memory and are
	// valid only during the call.
	Mutations func(loop int, muts []command.Mutation)
	// Store, when set, makes writes durable: each write's records are
	// proposed to the store and its reply is held until they are committed;
	// New loads the store's data into the keyspaces (durable.go). The
	// caller opens the store and closes it after Stop.
	Store *durable.Store
	// HotValueBytes bounds the memory of the values the loops keep, split
	// evenly over them (cold.go); keys and expiries always stay in memory.
	// Past it, values whose writes are durable are dropped and read back
	// through the store's cache when a command needs them. 0: no bound.
	// Only with Store.
	HotValueBytes int64
	// Cluster, with a Store that is a replica (shardstore/replica), makes
	// this server one node of a cluster (cluster.go). Nil: one node.
	Cluster *ClusterConfig

	// Auth authenticates datagrams: the tenants' keys and which tenants may
	// send unsigned datagrams (agentconfig.LoadAuthTable); the agent swaps
	// the table on SIGHUP. Nil, or a nil table, accepts unsigned datagrams
	// and refuses signed ones (datapath/core, datagram.go).
	Auth *atomic.Pointer[auth.Table]
	// Quotas are the tenants' RESP request quotas (datapath/core,
	// clients.go); the agent swaps them on SIGHUP. Nil: none.
	Quotas *atomic.Pointer[core.Quotas]
	// StaleReads are the tenants whose reads may fall back to this node's
	// replica in a cluster (core.Config.StaleReads).
	StaleReads *atomic.Pointer[core.TenantSet]
	// Shed, when set, is where the agent publishes the slots its breakers
	// shed; every loop takes its own copy (datapath/core, shed.go).
	Shed *core.ShedBoard

	// TimeRequests makes every loop time its requests by class
	// (Server.ServiceTimes; datapath/svctime).
	TimeRequests bool

	// Logger gets engine errors; nil means slog.Default().
	Logger *slog.Logger
}

func (c *Config) setDefaults() error {
	if c.TCPAddr == "" && c.UDPAddr == "" {
		return fmt.Errorf("server config: neither TCPAddr nor UDPAddr set")
	}
	for _, a := range []string{c.TCPAddr, c.UDPAddr} {
		if a == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(a); err != nil || port == "0" || port == "" {
			return fmt.Errorf("server config: address %q needs host:port with a fixed port (every loop binds it)", a)
		}
	}
	if c.Loops == 0 {
		c.Loops = runtime.NumCPU()
	}
	if c.Loops < 1 || c.Loops > slot.MaxLoops {
		return fmt.Errorf("server config: %d loops, want 1..%d", c.Loops, slot.MaxLoops)
	}
	if c.Table == nil {
		t, err := slot.NewTable(c.Loops)
		if err != nil {
			return fmt.Errorf("server config: %w", err)
		}
		c.Table = t
	}
	for s, o := range c.Table {
		if int(o) >= c.Loops {
			return fmt.Errorf("server config: slot %d owned by loop %d of %d", s, o, c.Loops)
		}
	}
	if c.Node == nil {
		c.Node = command.NewNode()
	}
	if c.MaxBulkLen > 0 {
		nc := *c.Node.Config()
		nc.ProtoMaxBulkLen = c.MaxBulkLen
		c.Node.SetConfig(nc)
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.RingCap, 1024)
	def(&c.ArenaBytes, 1<<20)
	def(&c.MaxPending, 4096)
	def(&c.DeferCap, 4096)
	def(&c.MaxClients, 10000)
	def(&c.MaxQueryBuffer, 1<<30)
	def(&c.ExpireBudget, 200)
	if c.ExpireEvery <= 0 {
		c.ExpireEvery = 100 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.publishFixed()
	return nil
}

// publishFixed reports the parameters fixed at start to CONFIG GET and
// INFO (command.Config's immutable part).
func (c *Config) publishFixed() {
	nc := *c.Node.Config()
	nc.Port = 0 // no RESP listener, as Redis's port 0
	if host, port, err := net.SplitHostPort(c.TCPAddr); err == nil {
		nc.Bind = host
		nc.Port, _ = strconv.Atoi(port)
	}
	nc.MaxClients = c.MaxClients
	nc.ClientQueryBufferLimit = int64(c.MaxQueryBuffer)
	nc.Durable = c.Store != nil
	c.Node.SetConfig(nc)
}
