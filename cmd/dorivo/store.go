package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/dorivo/dorivo/shardstore/durable"
)

// defaultDataDir suits the embedded single-node agent: the FHS place for
// a service's persistent state, on the host (the agent runs as root, like
// a privileged DaemonSet with a hostPath volume).
const defaultDataDir = "/var/lib/dorivo"

// defaultCacheMemory is --cache-memory's default: a quarter of this
// 24 GiB development VM's memory would be too much for a small host, so a
// fixed 1 GiB, which operators raise on large ones.
const defaultCacheMemory = 1 << 30

// storeQueue bounds the writes waiting for the store's driver. The loops
// hold every write's reply until it is durable, so the writes in flight are
// bounded by clients times their pipelines; a full queue refuses a write
// (the loop then reloads from disk, see datapath/server durable.go), so the
// bound is set well above what the default maxclients and pipelines reach
// in practice.
const storeQueue = 1 << 18

// openStore opens the node's durable store in dir with one raft group per
// event loop (a shard's slots then all belong to one loop, so every write
// is one record in one log), a read cache of a quarter of cacheMemory and
// a pebble block cache of another quarter (the loops get the other half,
// see hotValueBytes). A store created with
// another loop count is reshaped by durable.Open, which keeps all data.
// dir "" means no store: the keyspaces live in memory only.
// fs is the store's filesystem (nil: the default), which the disk breaker
// observes (shed.go).
//
// With cluster flags the store is a replica (cluster.go), with 3 shards per
// loop; close closes it (and its peer transport).
func openStore(dir string, loops int, cacheMemory int64, truncateCorrupt bool, fs vfs.FS, cl *clusterOptions, log *slog.Logger) (st *durable.Store, close func() error, err error) {
	if dir == "" {
		return nil, nil, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("--data-dir: %w", err)
	}
	opts := durable.Options{Shards: loops, QueueSize: storeQueue, CacheBytes: cacheMemory / 4,
		BlockCacheBytes: cacheMemory / 4, TruncateCorrupt: truncateCorrupt, FS: fs, Logger: log}
	if cl.enabled() {
		opts.Shards = 3 * loops
		n, err := cl.openReplica(dir, opts, log)
		if err != nil {
			return nil, nil, fmt.Errorf("--data-dir %s: %w", dir, err)
		}
		st, close = n.Store, n.Close
	} else {
		if st, err = durable.Open(dir, opts); err != nil {
			return nil, nil, fmt.Errorf("--data-dir %s: %w", dir, err)
		}
		close = st.Close
	}
	s := st.Stats()
	log.Info("durable store open", "dir", dir, "shards", st.Shards(), "entries", s.Entries)
	if s.DroppedEntries > 0 {
		log.Error("--truncate-corrupt-log dropped log entries past the corruption", "dropped_entries", s.DroppedEntries)
	}
	return st, close, nil
}

// hotValueBytes is the loops' share of cacheMemory (0: no bound).
func hotValueBytes(cacheMemory int64) int64 { return cacheMemory - 2*(cacheMemory/4) }
