package core

import (
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/dorivo/dorivo/datapath/command"
	"github.com/dorivo/dorivo/datapath/wire/auth"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// Store is the loop's side of the durable store (durable.Store): where a
// slot's records go, whether the disk takes writes, and the proposals.
type Store interface {
	// ShardOf returns the store shard (one raft log) holding slot s.
	ShardOf(s uint16) uint32
	// DiskError is non-nil while the disk refuses writes (full).
	DiskError() error
	// Propose queues rec for shard and never blocks: done reports it
	// committed (synced), or failed, from any goroutine, or at once on the
	// loop when the store refuses it. rec is copied.
	Propose(shard uint32, rec []byte, done func(index uint64, err error))
}

// Config is what a loop needs. Every loop of one server gets the same
// values except Index and Wake.
type Config struct {
	// Index is this loop's index, Loops how many loops there are.
	Index, Loops int
	// Table maps slots to loops.
	Table *slot.Table
	// Node is the state all sessions share (users, config).
	Node *command.Node
	// Wake is called, from any goroutine, when the loop has work: messages
	// in its rings, completed writes, fetched values. The shell runs Drain
	// on the loop in answer; it must not block.
	Wake func()

	// DeferCap is the most requests from other loops the loop parks while
	// they wait for locked or cold keys; past it they wait in their rings.
	DeferCap int
	// MaxPending is the most replies one connection may have outstanding.
	MaxPending int
	// MaxQueryBuffer is client-query-buffer-limit: a connection with more
	// unread bytes is closed.
	MaxQueryBuffer int
	// MaxMultibulk is the most elements one request may have.
	MaxMultibulk int64
	// ExpireBudget is the most keys one expiry step samples.
	ExpireBudget int

	// Mutations, when set, receives the durable changes of every write, on
	// the loop, in apply order; muts are valid only during the call.
	Mutations func(loop int, muts []command.Mutation)
	// Store, when set, makes writes durable: their records are proposed
	// and their replies wait until the store reports them committed.
	Store Store
	// HotValueBytes is this loop's budget for values (cold.go); 0: none.
	// Only with Store.
	HotValueBytes int64
	// Diverged, with Store, is called on the loop when the store failed a
	// write the keyspace already holds: the shell reloads the keyspace
	// (Loop.Resynced) once the loop has settled its writes.
	Diverged func(err error)

	// Cluster, with Store, makes the loop one replica's: it serves only
	// the shards Cluster.Route says are here and forwards the rest
	// (replicated.go). nil: one node, every shard here.
	Cluster Cluster

	// Auth authenticates datagrams (the tenants' keys and unsigned
	// policy); a nil table accepts unsigned datagrams and refuses signed
	// ones. The agent swaps it on SIGHUP.
	Auth *atomic.Pointer[auth.Table]
	// OutputTotal, shared by the loops of one node, counts their clients'
	// unsent reply bytes (dorivo-client-output-total); nil: this loop's own.
	OutputTotal *atomic.Int64
	// Quotas are the tenants' RESP quotas (clients.go); the agent swaps
	// them on SIGHUP. Nil or empty: no quota.
	Quotas *atomic.Pointer[Quotas]
	// StaleReads are the tenants whose reads, in a cluster, may be served
	// from this node's replica when their shard's leader cannot be asked
	// (replicated.go); the agent swaps them on SIGHUP. Nil: none.
	StaleReads *atomic.Pointer[TenantSet]
	// Shed, when set, is where the agent publishes the slots its breakers
	// shed (shed.go); nil sheds nothing.
	Shed *ShedBoard

	// Clock, when set, returns monotonic nanoseconds; the loop times its
	// requests with it (svctime.go). It is called on the loop and must not
	// block.
	Clock func() int64

	// RunJob runs a command's off-loop work (jobs.go) on another
	// goroutine; nil runs it inline (tests).
	RunJob func(func())

	Logger *slog.Logger
}

func (c *Config) check() error {
	if c.Loops < 1 || c.Index < 0 || c.Index >= c.Loops {
		return fmt.Errorf("core: loop %d of %d", c.Index, c.Loops)
	}
	if c.Table == nil || c.Node == nil || c.Wake == nil {
		return fmt.Errorf("core: loop %d: Table, Node and Wake are required", c.Index)
	}
	if c.DeferCap <= 0 || c.MaxPending <= 0 || c.MaxQueryBuffer <= 0 || c.ExpireBudget <= 0 {
		return fmt.Errorf("core: loop %d: DeferCap, MaxPending, MaxQueryBuffer and ExpireBudget must be positive", c.Index)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Quotas == nil {
		c.Quotas = new(atomic.Pointer[Quotas])
	}
	if c.Auth == nil {
		c.Auth = new(atomic.Pointer[auth.Table])
	}
	return nil
}
