package server

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/dorivo/dorivo/datapath/core"
	"github.com/dorivo/dorivo/shardstore/keyspace"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// openDurable loads the store's data into the loops' keyspaces, each key
// into the loop that owns its slot under the current table, whatever table
// or loop count the data was written with. It runs in New, before any loop
// serves. The write path itself is the core's (datapath/core, unsynced.go).
func (s *Server) openDurable() error {
	st := s.cfg.Store
	if st == nil {
		return nil
	}
	for shard := range st.Shards() {
		err := st.Scan(uint32(shard), func(key, value []byte, exp int64) error {
			c := s.loops[s.cfg.Table.Owner(slot.Of(key))].core
			c.LoadKey(c.Keyspace(), key, value, exp)
			return nil
		})
		if err == nil {
			err = loadCollections(st, uint32(shard), func(sl uint16) (*keyspace.Keyspace, *core.Loop) {
				c := s.loops[s.cfg.Table.Owner(sl)].core
				return c.Keyspace(), c
			})
		}
		if err != nil {
			return fmt.Errorf("server: load store shard %d: %w", shard, err)
		}
	}
	for _, l := range s.loops {
		l.core.Loaded()
	}
	return nil
}

// resync reloads a diverged loop's keyspace from the store, off the loop
// (core.Loop.Resync says when), until it is swapped in or the server stops.
func (l *loop) resync() {
	st := l.srv.cfg.Store
	// A claimed shard (cluster.go) waits for this reload to serve: retry
	// fast, the failover time depends on it.
	backoff, most := 10*time.Millisecond, time.Second
	if l.srv.cluster != nil {
		backoff, most = time.Millisecond, 20*time.Millisecond
	}
	for !l.srv.stopping.Load() {
		time.Sleep(backoff)
		backoff = min(2*backoff, most)
		if st.DiskError() != nil {
			continue
		}
		// Atomic: RunOnLoop may give up before fn runs.
		var state atomic.Int32
		if l.onLoop(func() { state.Store(int32(l.core.Resync(nil))) }) != nil {
			continue
		}
		switch core.ResyncState(state.Load()) {
		case core.ResyncDone:
			return
		case core.ResyncPending:
			continue
		}
		var led []ledShard
		if c := l.srv.cluster; c != nil {
			var err error
			if led, err = c.ledShards(l.idx); err != nil {
				l.srv.cfg.Logger.Warn("server: shard leadership not confirmed before a reload, retrying", "loop", l.idx, "err", err)
				continue
			}
		}
		ks := keyspace.New()
		var err error
		for shard := range st.Shards() {
			if err = st.Scan(uint32(shard), func(key, value []byte, exp int64) error {
				if l.srv.cfg.Table.Owner(slot.Of(key)) == l.idx {
					l.core.LoadKey(ks, key, value, exp)
				}
				return nil
			}); err != nil {
				break
			}
			if err = loadCollections(st, uint32(shard), func(sl uint16) (*keyspace.Keyspace, *core.Loop) {
				if l.srv.cfg.Table.Owner(sl) == l.idx {
					return ks, l.core
				}
				return nil, nil
			}); err != nil {
				break
			}
		}
		if err != nil {
			l.srv.cfg.Logger.Warn("server: reload from store failed, retrying", "loop", l.idx, "err", err)
			continue
		}
		if l.onLoop(func() { state.Store(int32(l.core.Resync(ks))) }) == nil && core.ResyncState(state.Load()) == core.ResyncDone {
			if c := l.srv.cluster; c != nil {
				c.markLoaded(led)
			}
			l.srv.cfg.Logger.Info("server: keyspace reloaded from the store; writes resume", "loop", l.idx, "led_shards", led)
			return
		}
	}
}

// onLoop runs fn on the loop with a timeout.
func (l *loop) onLoop(fn func()) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return l.srv.RunOnLoop(ctx, l.idx, fn)
}
