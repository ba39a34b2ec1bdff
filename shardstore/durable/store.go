package durable

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/dorivo/dorivo/shardstore/slot"
	pb "go.etcd.io/raft/v3/raftpb"
)

// Errors a proposal's done callback may return (Get and Scan return I/O
// errors and ErrClosed). Errors from the disk wrap the underlying I/O
// error, so errors.Is(err, syscall.ENOSPC) works.
var (
	// ErrOverloaded: the proposal queue is full; nothing was written.
	ErrOverloaded = errors.New("durable: store overloaded, proposal queue full")
	// ErrClosed: the store is closed. For a proposal that was already in the
	// log when Close ran, the outcome is unknown (it may be applied on the
	// next Open), as after a timeout.
	ErrClosed = errors.New("durable: store closed")
	// ErrDiskFull: the disk is full and the write was refused before
	// anything was written (the batch that found the disk full waits for
	// space instead, and is acknowledged once it is written).
	ErrDiskFull = errors.New("durable: disk full, write refused")
	// ErrNotLeader: this node does not lead the shard's raft group; nothing
	// was written (or, for a proposal in flight when leadership was lost,
	// the outcome is unknown).
	ErrNotLeader = errors.New("durable: not the shard's raft leader")
	// ErrWrongShard: the key's slot is not in the shard's slot range.
	ErrWrongShard = errors.New("durable: key does not belong to shard")
	// ErrUnknownOutcome: the proposal reached the log, but this node lost
	// leadership (or closed) before it committed: it may or may not be
	// applied, now or later (a client gets -TIMEOUT, never a definite error).
	ErrUnknownOutcome = errors.New("durable: outcome unknown")
	// ErrReadTimeout: a ReadIndex found no quorum in time; nothing was read.
	ErrReadTimeout = errors.New("durable: no quorum confirmed the read in time")
)

// Transport carries raft messages to the other replicas (replicate.go).
// Without Peers raft produces none.
type Transport interface {
	// Send queues msgs (none a MsgSnap) for their destinations; it must not
	// block. The driver calls it after the Ready that produced msgs was
	// persisted, and Flush once per cycle.
	Send(shard uint32, msgs []*pb.Message)
	Flush()
	// SendSnapshot streams a MsgSnap and its data (snapshot.go) to m.To
	// and returns once the receiver has it. It may block; the store calls
	// it from a goroutine of its own.
	SendSnapshot(ctx context.Context, shard uint32, m *pb.Message, data io.Reader) error
}

// Options configure a Store. Zero values select the defaults.
type Options struct {
	// FS is the filesystem pebble and the raft log run on (default
	// vfs.Default). Tests pass vfs.NewCrashableMem or a fault-injecting FS.
	FS vfs.FS
	// Shards is the number of raft groups; shard i owns the contiguous slot
	// range that slot.NewTable(Shards) gives loop i (default 1).
	Shards int
	// NodeID is this node's raft ID, unique for all time (default 1).
	NodeID uint64
	// Peers are the raft IDs of every group's voters, NodeID included, the
	// same list on every node; empty means NodeID alone (one replica). The
	// list is written into each group when the store is created; shard i
	// prefers Peers[i%len(Peers)] as its leader.
	Peers []uint64
	// ElectionTicks and HeartbeatTicks are raft's ElectionTick and
	// HeartbeatTick, in TickIntervals (defaults 10 and 1).
	ElectionTicks, HeartbeatTicks int
	// QueueSize bounds proposals waiting for the driver (default 65536).
	QueueSize int
	// MaxBatch caps proposals taken per driver cycle (default 8192).
	MaxBatch int
	// CacheBytes bounds the read cache; 0 disables it.
	CacheBytes int64
	// BlockCacheBytes sizes pebble's block cache, which holds sstable
	// blocks uncompressed for reads that miss the read cache (default
	// pebble's 8 MiB).
	BlockCacheBytes int64
	// TickInterval is the raft tick (default 100ms).
	TickInterval time.Duration
	// LogKeepEntries: once more applied entries than this are in a shard's
	// in-memory raft log, it is compacted up to the applied index (default
	// 10000). The durable log is truncated by whole segments, after pebble
	// has flushed past them.
	LogKeepEntries uint64
	// SegmentBytes is the size of a raft log segment, zero-filled when it
	// is created (default 32 MiB). A full segment is removed once pebble
	// has flushed every entry in it.
	SegmentBytes int64
	// Rejoin makes a store created here (an empty dir) start every group
	// rejoining (rejoin.go): it votes in no election until its peers made
	// it a learner, caught it up and promoted it. For a node that replaces
	// one whose data was lost; a replicated store that finds itself corrupt
	// at Open does this by itself.
	Rejoin bool
	// TruncateCorrupt, when set, makes Open cut the raft log at damage to
	// synced records instead of refusing to open: the acknowledged writes
	// after the damage are dropped, and the log and Stats.DroppedEntries
	// say how many. Meant for an operator's explicit decision.
	TruncateCorrupt bool
	// Apply turns committed records into writes (default ApplyRecord).
	Apply ApplyFunc
	// Now returns Unix milliseconds, for expiry (default time.Now).
	Now func() int64
	// Logger receives warnings (torn tails, disk full); default slog.Default.
	Logger *slog.Logger
	// Transport sends raft messages to peers; nil with one replica.
	Transport Transport
	// MaxStagedSnapshotBytes bounds the memory of raft snapshots received
	// and not applied yet, across shards (default 1 GiB); a snapshot past
	// it is refused and its sender retries later.
	MaxStagedSnapshotBytes int64
	// PebbleOptions, when set, may adjust pebble's options before Open.
	PebbleOptions func(*pebble.Options)
}

func (o *Options) setDefaults() {
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.Shards == 0 {
		o.Shards = 1
	}
	if o.NodeID == 0 {
		o.NodeID = 1
	}
	if o.QueueSize == 0 {
		o.QueueSize = 1 << 16
	}
	if o.MaxBatch == 0 {
		o.MaxBatch = 8192
	}
	if o.TickInterval == 0 {
		o.TickInterval = 100 * time.Millisecond
	}
	if o.ElectionTicks == 0 {
		o.ElectionTicks = 10
	}
	if o.HeartbeatTicks == 0 {
		o.HeartbeatTicks = 1
	}
	if len(o.Peers) == 0 {
		o.Peers = []uint64{o.NodeID}
	}
	if o.LogKeepEntries == 0 {
		o.LogKeepEntries = 10000
	}
	if o.SegmentBytes == 0 {
		o.SegmentBytes = 32 << 20
	}
	if o.Apply == nil {
		o.Apply = ApplyRecord
	}
	if o.Now == nil {
		o.Now = func() int64 { return time.Now().UnixMilli() }
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxStagedSnapshotBytes == 0 {
		o.MaxStagedSnapshotBytes = defaultMaxStagedSnapshotBytes
	}
}

// Stats are cumulative counters of the write and read paths.
type Stats struct {
	Proposals uint64 // accepted onto the queue
	Rejected  uint64 // refused up front: overloaded, disk full, closed, bad shard
	Acked     uint64 // done(index, nil)
	Failed    uint64 // done(index, err) after acceptance
	Entries   uint64 // raft log entries written
	Batches   uint64 // raft log records written (one driver batch each)
	Fsyncs    uint64 // raft log syncs (one fdatasync per record)
	// Stalls counts writes that hit a full disk.
	Stalls uint64
	// DroppedMessages counts raft messages with no Transport to carry them,
	// and inbound ones dropped because the driver's queue was full.
	DroppedMessages uint64
	// LeaderChanges counts changes of a shard's leader seen here;
	// SnapshotsSent and SnapshotsApplied count raft snapshots,
	// SnapshotsRefused those received and refused (other voters, over
	// Options.MaxStagedSnapshotBytes, older than one held, malformed).
	LeaderChanges, SnapshotsSent, SnapshotsApplied, SnapshotsRefused uint64
	// GoneLeaders counts shards whose leader PeerGone reported gone while
	// this node followed it.
	GoneLeaders uint64
	// Rejoins counts the groups that started over rejoining (rejoin.go)
	// after Open found the store corrupt.
	Rejoins uint64
	// Reads counts Get calls; CacheHits those the read cache answered.
	Reads, CacheHits uint64
	// TornTails counts torn raft log tails (an unsynced last record) cut
	// off by Open; DroppedEntries the entries Options.TruncateCorrupt
	// dropped; SegmentsRemoved the log segments removed after flushes.
	TornTails, DroppedEntries, SegmentsRemoved uint64
}

// EntriesPerFsync is the group-commit factor: raft log entries made
// durable per fsync.
func (s Stats) EntriesPerFsync() float64 {
	if s.Fsyncs == 0 {
		return 0
	}
	return float64(s.Entries) / float64(s.Fsyncs)
}

type counters struct {
	proposals, rejected, acked, failed, entries, batches, fsyncs, dropped atomic.Uint64
	reads, cacheHits                                                      atomic.Uint64
	tornTails, droppedEntries                                             atomic.Uint64
	leaderChanges, snapsSent, snapsApplied, snapsRefused                  atomic.Uint64
	goneLeaders, rejoins                                                  atomic.Uint64
}

// proposal is one queued write.
type proposal struct {
	shard uint32
	id    uint64
	data  []byte // encodeProposal(id, rec)
	done  func(uint64, error)
}

// Store is a node's durable shard store. Propose, Get, Scan, Stats and
// DiskError may be called from any goroutine.
type Store struct {
	opts   Options
	log    *slog.Logger
	fs     vfs.FS // opts.FS behind the disk-full stall
	lock   *pebble.Lock
	db     *pebble.DB
	logDir string
	gen    uint64 // raft log generation (layout)
	logw   *logWriter
	trunc  *truncator
	gc     *gc // collection garbage collector (collgc.go), nil read-only
	// logwRunning, truncRunning: the syncer and truncator goroutines were
	// started (by recover and Open).
	logwRunning, truncRunning bool
	disk                      *diskState
	shards                    []*shard
	cache                     *readCache // nil when disabled
	// applyGen is odd while the driver makes applied writes visible
	// (pebble, then the read cache); see ReadConsistent.
	applyGen atomic.Uint64
	users    users // the applied ACL user table (acl.go)
	// cluster is the applied cluster layout (nil: none yet); layoutErr is
	// set while it differs from this node's shards (clusterlayout.go).
	cluster   atomic.Pointer[ClusterLayout]
	layoutErr atomic.Pointer[error]
	// readOnly: opened on a full disk (fullopen.go), overlay holds the
	// log replayed over pebble; no driver runs.
	readOnly bool
	overlay  *pebble.Batch

	propc     chan proposal
	recvc     chan inbound     // raft messages from peers (replicate.go)
	gonec     chan uint64      // PeerGone's nodes (leadergone.go), apart from recvc: never lost to a full queue
	readc     chan readRequest // ReadIndex requests
	snapDonec chan snapResult  // outbound snapshots finished
	snapIn    *snapIntake      // received snapshots' memory (snapintake.go)
	lazyc     chan []byte      // data keys seen expired, for the driver to delete
	stopc     chan struct{}
	donec     chan struct{}
	closed    atomic.Bool
	draining  atomic.Bool // drain.go
	proposing atomic.Int64
	// waiting counts proposals accepted and not yet handed to the syncer
	// (queued, or in the record collected while one syncs); QueueSize
	// bounds it.
	waiting atomic.Int64
	failed  atomic.Pointer[error] // sticky driver failure
	// leaderHook is SetLeaderHook's function.
	leaderHook atomic.Pointer[func(shard uint32, leader, term uint64)]
	nextID     atomic.Uint64
	stats      counters
	obs        storeObs // syncer histograms, raft status (obs.go)

	d driver // driver-goroutine state

	// Outbound snapshots run on goroutines of their own (snapshot.go);
	// Close cancels and waits for them.
	snapWG     sync.WaitGroup
	snapCtx    context.Context
	snapCancel context.CancelFunc

	testHookBeforeFill  func(key []byte) // between pebble read and cache fill
	testHookBeforeFlush func()           // in truncateLog, before db.Flush
}

// Open opens (or creates) the store in dir, replays every shard's log into
// the applied state and starts the driver. When the Shards count differs
// from the one the store was created with, the old groups' logs are first
// applied to their end, then their raft state is replaced by fresh groups
// over the new slot ranges; data is keyed by slot and so stays in place.
//
// Open fails, naming the file and offset, when synced raft log records are
// damaged (see Options.TruncateCorrupt), when a store file is corrupt, and
// when another store holds dir's lock.
func Open(dir string, opts Options) (*Store, error) {
	opts.setDefaults()
	s, err := open(dir, opts)
	switch {
	case err != nil && isDiskFull(err):
		return openFull(dir, opts, err) // fullopen.go: serve reads
	case errors.Is(err, ErrCorrupt) && len(opts.Peers) > 1 && !opts.TruncateCorrupt:
		return discardCorrupt(dir, opts, err) // rejoin.go: catch up from the peers
	}
	return s, err
}

func open(dir string, opts Options) (_ *Store, err error) {
	if opts.Shards < 1 || opts.Shards > slot.Count {
		return nil, fmt.Errorf("durable: %d shards, want 1..%d", opts.Shards, slot.Count)
	}
	s := &Store{
		opts:      opts,
		log:       opts.Logger,
		disk:      &diskState{},
		propc:     make(chan proposal, opts.QueueSize),
		recvc:     make(chan inbound, inboundQueue),
		gonec:     make(chan uint64, 64),
		readc:     make(chan readRequest, opts.QueueSize),
		snapDonec: make(chan snapResult, 16),
		snapIn:    newSnapIntake(opts.MaxStagedSnapshotBytes),
		lazyc:     make(chan []byte, 1024),
		stopc:     make(chan struct{}),
		donec:     make(chan struct{}),
		trunc:     newTruncator(),
	}
	s.fs = newStallFS(opts.FS, s.disk, s.log)
	s.fs.(*stallFS).failFast.Store(true) // Open's writes fail on a full disk: fullopen.go
	s.logDir = s.fs.PathJoin(dir, logDirName)
	s.logw = &logWriter{fs: s.fs, dir: s.logDir, reqc: make(chan logRequest, 1), donec: make(chan *logBatch, 1), exited: make(chan struct{}), obs: &s.obs.sync}
	s.snapCtx, s.snapCancel = context.WithCancel(context.Background())
	s.nextID.Store(uint64(time.Now().UnixNano()))
	s.d.pending = make(map[uint64]pendingProposal)
	s.d.segMax = map[uint32]uint64{}
	if err := probeSpace(opts.FS, dir); err != nil {
		return nil, err // fullopen.go: Open falls back to a read-only store
	}
	if err := s.openPebble(dir); err != nil {
		return nil, err
	}
	defer func() {
		recoverCorrupt(&err, "open %s", dir)
		if err != nil {
			s.closeResources()
		}
	}()
	if opts.CacheBytes > 0 {
		if s.cache, err = newReadCache(opts.CacheBytes); err != nil {
			return nil, err
		}
	}
	if err := s.loadUsers(); err != nil {
		return nil, err
	}
	if err := s.loadLayout(); err != nil {
		return nil, err
	}
	if err := s.recover(); err != nil {
		return nil, err
	}
	s.fs.(*stallFS).failFast.Store(false) // from now on a full disk stalls writes (diskfull.go)
	s.trunc.sealed = nil                  // recover removed every segment before the current one
	s.truncRunning = true
	go s.truncateLoop()
	s.gc = newGC()
	go s.gcLoop()
	go s.run()
	return s, nil
}

// openPebble locks dir and opens pebble there without its WAL: every write
// is in the raft log first, which replays what a crash takes from pebble's
// memtables.
func (s *Store) openPebble(dir string) error {
	if err := mkdirDurable(s.fs, dir); err != nil {
		return err
	}
	lock, err := pebble.LockDirectory(dir, s.fs)
	if err != nil {
		name := s.fs.PathJoin(dir, "LOCK")
		if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("durable: data dir %s is in use: lock %s is held by another process (another agent on the same data dir?)", dir, name)
		}
		return fmt.Errorf("durable: lock %s: %w", name, err)
	}
	popts := &pebble.Options{
		FS:           s.fs,
		Logger:       pebbleLogger{s.log},
		Lock:         lock,
		DisableWAL:   true,
		MemTableSize: memTableBytes,
		EventListener: &pebble.EventListener{
			// pebble's default exits the process; the read that found the
			// damage returns the error instead (Open, Get, Scan).
			DataCorruption: func(info pebble.DataCorruptionInfo) {
				s.log.Error("durable: store file corrupt", "file", info.Path, "err", info.Details)
			},
		},
	}
	if s.opts.BlockCacheBytes > 0 {
		popts.Cache = pebble.NewCache(s.opts.BlockCacheBytes)
		defer popts.Cache.Unref() // the DB holds its own reference
	}
	if s.opts.PebbleOptions != nil {
		s.opts.PebbleOptions(popts)
	}
	db, err := func() (db *pebble.DB, err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("pebble panicked: %v", r)
			}
		}()
		return pebble.Open(dir, popts)
	}()
	if err != nil {
		lock.Close()
		err = fmt.Errorf("durable: open pebble at %s: %w", dir, err)
		recoverCorrupt(&err, "")
		return err
	}
	s.db, s.lock = db, lock
	return nil
}

// Close stops the driver, flushes pebble (so the next Open replays
// nothing) and closes it. Queued proposals get ErrClosed; proposals already
// in the log are given a last chance to commit. Close blocks while a write
// is stalled on a full disk.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return ErrClosed
	}
	if s.readOnly { // fullopen.go: no driver, nothing to flush
		return s.closeResources()
	}
	// Wait out Propose calls that saw closed == false, so none enqueues
	// after the driver's final drain.
	for s.proposing.Load() != 0 {
		runtime.Gosched()
	}
	close(s.stopc)
	<-s.donec
	s.snapCancel()
	s.snapWG.Wait()
	var err error
	if s.failed.Load() == nil {
		if ferr := s.db.Flush(); ferr != nil {
			err = fmt.Errorf("durable: flush pebble: %w", ferr)
		}
	}
	if cerr := s.closeResources(); err == nil {
		err = cerr
	}
	return err
}

// closeResources stops the syncer and truncator and closes pebble, the
// lock and the cache; safe on a store that Open did not finish.
func (s *Store) closeResources() error {
	if s.truncRunning {
		close(s.trunc.stop)
		<-s.trunc.exited
	}
	if s.gc != nil {
		close(s.gc.stop)
		<-s.gc.exited
	}
	if s.logwRunning {
		close(s.logw.reqc)
		<-s.logw.exited
	}
	if s.cache != nil {
		s.cache.close()
	}
	var err error
	if cerr := s.db.Close(); cerr != nil {
		err = fmt.Errorf("durable: close pebble: %w", cerr)
	}
	if lerr := s.lock.Close(); lerr != nil && err == nil {
		err = fmt.Errorf("durable: release lock: %w", lerr)
	}
	return err
}

// Propose appends rec to shard's replicated log. It never blocks and never
// does I/O on the caller's goroutine; rec is copied, so the caller may reuse
// it at once. done is called exactly once: with the entry's log index once
// the entry is committed (durable: on this node, synced to disk) and
// applied, or with an error. Refusals known up front (ErrOverloaded,
// ErrDiskFull, ErrClosed, an unknown shard) call done synchronously, before
// Propose returns; everything else calls it from the store's driver
// goroutine. done must not block: forward the result to the caller's loop.
func (s *Store) Propose(shard uint32, rec []byte, done func(index uint64, err error)) {
	err := s.LayoutError()
	if err == nil && int(shard) >= s.nData() {
		err = fmt.Errorf("durable: shard %d out of range [0,%d)", shard, s.nData())
	}
	if err != nil {
		s.stats.rejected.Add(1)
		done(0, err)
		return
	}
	s.propose(shard, rec, done)
}

// propose is Propose for any group, the layout group included.
func (s *Store) propose(shard uint32, rec []byte, done func(index uint64, err error)) {
	s.proposing.Add(1)
	err := s.admit(shard)
	if err == nil && s.waiting.Add(1) > int64(s.opts.QueueSize) {
		s.waiting.Add(-1)
		err = ErrOverloaded
	}
	if err == nil {
		id := s.nextID.Add(1)
		select {
		case s.propc <- proposal{shard: shard, id: id, data: encodeProposal(id, rec), done: done}:
			s.stats.proposals.Add(1)
		default:
			s.waiting.Add(-1)
			err = ErrOverloaded
		}
	}
	s.proposing.Add(-1)
	if err != nil {
		s.stats.rejected.Add(1)
		done(0, err)
	}
}

func (s *Store) admit(shard uint32) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if p := s.failed.Load(); p != nil {
		return *p
	}
	if int(shard) >= len(s.shards) {
		return fmt.Errorf("durable: shard %d out of range [0,%d)", shard, len(s.shards))
	}
	if err := s.disk.current(); err != nil {
		return fmt.Errorf("%w: %w", ErrDiskFull, err)
	}
	return nil
}

// Closed reports whether Close was called.
func (s *Store) Closed() bool { return s.closed.Load() }

// DiskError returns the error of writes currently stalled on a full disk,
// or nil.
func (s *Store) DiskError() error { return s.disk.current() }

// Stats returns the write and read path counters.
func (s *Store) Stats() Stats {
	return Stats{
		Proposals:        s.stats.proposals.Load(),
		Rejected:         s.stats.rejected.Load(),
		Acked:            s.stats.acked.Load(),
		Failed:           s.stats.failed.Load(),
		Entries:          s.stats.entries.Load(),
		Batches:          s.stats.batches.Load(),
		Fsyncs:           s.stats.fsyncs.Load(),
		Stalls:           s.disk.stalls.Load(),
		DroppedMessages:  s.stats.dropped.Load(),
		LeaderChanges:    s.stats.leaderChanges.Load(),
		SnapshotsSent:    s.stats.snapsSent.Load(),
		SnapshotsApplied: s.stats.snapsApplied.Load(),
		SnapshotsRefused: s.stats.snapsRefused.Load(),
		GoneLeaders:      s.stats.goneLeaders.Load(),
		Rejoins:          s.stats.rejoins.Load(),
		Reads:            s.stats.reads.Load(),
		CacheHits:        s.stats.cacheHits.Load(),
		TornTails:        s.stats.tornTails.Load(),
		DroppedEntries:   s.stats.droppedEntries.Load(),
		SegmentsRemoved:  s.trunc.removed.Load(),
	}
}

// Shards returns the number of shards.
func (s *Store) Shards() int { return s.nData() }

// ShardOf returns the shard that owns slot sl.
func (s *Store) ShardOf(sl uint16) uint32 { return shardOfSlot(sl, s.nData()) }

// Slots returns the first and last slot of shard's range.
func (s *Store) Slots(shard uint32) (first, last uint16) {
	sh := s.shards[shard]
	return sh.firstSlot, sh.lastSlot
}

// AppliedIndex returns the index of shard's last applied entry.
func (s *Store) AppliedIndex(shard uint32) uint64 { return s.shards[shard].appliedPub.Load() }

// shardOfSlot splits the slots as slot.NewTable does, so with Shards equal
// to (a multiple of) the loop count every shard lies within one loop.
func shardOfSlot(sl uint16, n int) uint32 { return uint32(int(sl) * n / slot.Count) }

// firstSlot returns the first slot of shard i of n.
func firstSlot(i, n int) int { return (i*slot.Count + n - 1) / n }

// Get reads key's applied value. value must not be modified (it may be
// shared with the cache). An expired key is reported absent. Get and Scan
// keep working while writes stall on a full disk; they must not race with
// Close.
func (s *Store) Get(shard uint32, key []byte) (value []byte, expireAtMs int64, found bool, err error) {
	defer recoverCorrupt(&err, "get shard %d", shard)
	if s.closed.Load() {
		return nil, 0, false, ErrClosed
	}
	sl := slot.Of(key)
	if int(shard) >= s.nData() || shardOfSlot(sl, s.nData()) != shard {
		return nil, 0, false, fmt.Errorf("%w: slot %d, shard %d", ErrWrongShard, sl, shard)
	}
	now := s.opts.Now()
	s.stats.reads.Add(1)
	if s.cache != nil {
		if e, ok := s.cache.get(key); ok {
			s.stats.cacheHits.Add(1)
			if e.found && expired(e.exp, now) {
				s.queueExpired(dataKey(nil, sl, key))
				return nil, 0, false, nil
			}
			return e.value, e.exp, e.found, nil
		}
	}
	var seq uint64
	if s.cache != nil {
		seq = s.cache.applySeq.Load() // before the read: see readCache
	}
	dk := dataKey(nil, sl, key)
	e := &cacheEntry{seq: seq}
	v, closer, err := s.reader().Get(dk)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
	case err != nil:
		return nil, 0, false, fmt.Errorf("durable: get shard %d: %w", shard, err)
	default:
		raw, exp, derr := decodeValue(v)
		if derr == nil {
			e.value, e.exp, e.found = append([]byte(nil), raw...), exp, true
		}
		closer.Close()
		if derr != nil {
			return nil, 0, false, fmt.Errorf("durable: get shard %d slot %d: %w", shard, sl, derr)
		}
	}
	if s.testHookBeforeFill != nil {
		s.testHookBeforeFill(key)
	}
	if s.cache != nil {
		s.cache.fill(key, e)
	}
	if e.found && expired(e.exp, now) {
		s.queueExpired(dk)
		return nil, 0, false, nil
	}
	return e.value, e.exp, e.found, nil
}

// Scan calls fn for every live key of shard's slots, in slot then key
// order, from a consistent point-in-time view. key and value are only valid
// during the call. It is meant for rebuilding the in-memory key space after
// Open, before the shard takes writes. An error from fn stops the scan and
// is returned.
func (s *Store) Scan(shard uint32, fn func(key, value []byte, expireAtMs int64) error) (err error) {
	defer recoverCorrupt(&err, "scan shard %d", shard)
	if s.closed.Load() {
		return ErrClosed
	}
	if int(shard) >= s.nData() {
		return fmt.Errorf("durable: scan: shard %d out of range [0,%d)", shard, s.nData())
	}
	sh := s.shards[shard]
	lo, hi := slotSpan(sh.firstSlot, sh.lastSlot)
	it, err := s.reader().NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return fmt.Errorf("durable: scan shard %d: %w", shard, err)
	}
	defer it.Close()
	now := s.opts.Now()
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		v, err := it.ValueAndErr()
		if err != nil {
			return fmt.Errorf("durable: scan shard %d at %x: %w", shard, k, err)
		}
		raw, exp, err := decodeValue(v)
		if err != nil {
			return fmt.Errorf("durable: scan shard %d at %x: %w", shard, k, err)
		}
		if expired(exp, now) {
			s.queueExpired(append([]byte(nil), k...))
			continue
		}
		if err := fn(k[3:], raw, exp); err != nil {
			return err
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("durable: scan shard %d: %w", shard, err)
	}
	return nil
}

// queueExpired hands an expired data key to the driver for deletion; when
// the queue is full the key stays until a later read sees it again.
func (s *Store) queueExpired(dk []byte) {
	select {
	case s.lazyc <- dk:
	default:
	}
}

// recoverCorrupt is the store's boundary for pebble's corruption reports:
// a panic (pebble panics on some damaged sstables instead of returning an
// error) becomes an error naming what was read, and a corruption error
// loses the second line pebble joins to it, so the error is one line.
func recoverCorrupt(err *error, format string, args ...any) {
	if r := recover(); r != nil {
		*err = corruptError{fmt.Errorf("durable: %s: store file corrupt: pebble panicked: %v", fmt.Sprintf(format, args...), r)}
		return
	}
	if *err != nil && pebble.IsCorruptionError(*err) {
		*err = corruptError{oneLineError{*err}}
	}
}

// oneLineError is err shown by its first line only.
type oneLineError struct{ err error }

func (e oneLineError) Error() string {
	line, _, _ := strings.Cut(e.err.Error(), "\n")
	return line
}

func (e oneLineError) Unwrap() error { return e.err }

// memTableBytes sizes pebble's memtable. Every apply inserts into its
// skiplist; one that outgrows the CPU caches makes each insert a chain of
// cache misses (it was a quarter of the agent's CPU at 32 MiB).
const memTableBytes = 4 << 20
