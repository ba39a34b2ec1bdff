package main

import (
	"fmt"
	"log/slog"
	"os"

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
func openStore(dir string, loops int, cacheMemory int64, truncateCorrupt bool, log *slog.Logger) (*durable.Store, error) {
	if dir == "" {
		return nil, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("--data-dir: %w", err)
	}
	opts := durable.Options{Shards: loops, QueueSize: storeQueue, CacheBytes: cacheMemory / 4,
		BlockCacheBytes: cacheMemory / 4, TruncateCorrupt: truncateCorrupt, Logger: log}
	testSlowFsync(&opts, log)
	st, err := durable.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("--data-dir %s: %w", dir, err)
	}
	s := st.Stats()
	log.Info("durable store open", "dir", dir, "shards", st.Shards(), "entries", s.Entries)
	if s.DroppedEntries > 0 {
		log.Error("--truncate-corrupt-log dropped log entries past the corruption", "dropped_entries", s.DroppedEntries)
	}
	return st, nil
}

// hotValueBytes is the loops' share of cacheMemory (0: no bound).
func hotValueBytes(cacheMemory int64) int64 { return cacheMemory - 2*(cacheMemory/4) }
