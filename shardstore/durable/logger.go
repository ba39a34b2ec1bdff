package durable

import (
	"fmt"
	"log/slog"

	"github.com/cockroachdb/pebble/v2"
)

// raftLogger adapts slog to raft.Logger. raft's Info output (elections,
// "became leader") is per group and would flood the agent log with many
// shards, so it goes to Debug. Fatal and Panic panic: raft calls them on
// invariant violations (for example a log shorter than the commit index),
// and a panic names the group in its stack instead of exiting silently.
type raftLogger struct {
	log   *slog.Logger
	shard uint32
}

func (l raftLogger) Debug(v ...any)              { l.log.Debug(fmt.Sprint(v...), "shard", l.shard) }
func (l raftLogger) Debugf(f string, v ...any)   { l.log.Debug(fmt.Sprintf(f, v...), "shard", l.shard) }
func (l raftLogger) Info(v ...any)               { l.log.Debug(fmt.Sprint(v...), "shard", l.shard) }
func (l raftLogger) Infof(f string, v ...any)    { l.log.Debug(fmt.Sprintf(f, v...), "shard", l.shard) }
func (l raftLogger) Warning(v ...any)            { l.log.Warn(fmt.Sprint(v...), "shard", l.shard) }
func (l raftLogger) Warningf(f string, v ...any) { l.log.Warn(fmt.Sprintf(f, v...), "shard", l.shard) }
func (l raftLogger) Error(v ...any)              { l.log.Error(fmt.Sprint(v...), "shard", l.shard) }
func (l raftLogger) Errorf(f string, v ...any)   { l.log.Error(fmt.Sprintf(f, v...), "shard", l.shard) }
func (l raftLogger) Fatal(v ...any) {
	panic(fmt.Sprintf("raft shard %d: %s", l.shard, fmt.Sprint(v...)))
}
func (l raftLogger) Fatalf(f string, v ...any) {
	panic(fmt.Sprintf("raft shard %d: %s", l.shard, fmt.Sprintf(f, v...)))
}
func (l raftLogger) Panic(v ...any)            { l.Fatal(v...) }
func (l raftLogger) Panicf(f string, v ...any) { l.Fatalf(f, v...) }

// pebbleLogger sends pebble's informational lines to Debug and keeps its
// Fatalf (commit pipeline and WAL failures) fatal, as pebble requires.
type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) Infof(f string, v ...any)  { l.log.Debug("pebble: " + fmt.Sprintf(f, v...)) }
func (l pebbleLogger) Errorf(f string, v ...any) { l.log.Error("pebble: " + fmt.Sprintf(f, v...)) }
func (l pebbleLogger) Fatalf(f string, v ...any) {
	l.log.Error("pebble fatal: " + fmt.Sprintf(f, v...))
	pebble.DefaultLogger.Fatalf(f, v...)
}
