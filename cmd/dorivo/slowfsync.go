package main

import (
	"log/slog"
	"os"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/dorivo/dorivo/internal/faultfs"
	"github.com/dorivo/dorivo/shardstore/durable"
)

// testSlowFsyncEnv is TEST-ONLY: it names a control file whose content, a
// Go duration ("50ms"), delays every fsync of the store (pebble and the
// raft log) by that much, re-read every 100 ms; "0" or an empty file
// removes the delay. The fault-to-alert test (observe_test.go) injects a
// slow disk with it. Never set it in production.
const testSlowFsyncEnv = "DORIVO_TEST_SLOW_FSYNC_FILE"

// testSlowFsync wraps the store's filesystem in internal/faultfs when
// testSlowFsyncEnv is set. The control poller runs for the process's life.
func testSlowFsync(opts *durable.Options, log *slog.Logger) {
	path := os.Getenv(testSlowFsyncEnv)
	if path == "" {
		return
	}
	base := opts.FS
	if base == nil {
		base = vfs.Default
	}
	fs := faultfs.New(base)
	fs.Control(path, 100*time.Millisecond)
	opts.FS = fs
	log.Warn("TEST ONLY: store fsyncs are delayed by the duration in the control file", "env", testSlowFsyncEnv, "file", path)
}
