package main

import (
	"log/slog"
	"os"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/dorivo/dorivo/internal/faultfs"
)

// testSlowFsyncEnv is TEST-ONLY: it names a control file whose content, a
// Go duration ("50ms"), delays every fsync of the store (pebble and the
// raft log) by that much, re-read every 100 ms; "0" or an empty file
// removes the delay. The fault-to-alert test (observe_test.go) injects a
// slow disk with it. Never set it in production.
const testSlowFsyncEnv = "DORIVO_TEST_SLOW_FSYNC_FILE"

// testSlowFS is the store's base filesystem: vfs.Default, wrapped in
// internal/faultfs when testSlowFsyncEnv is set. It lies under the disk
// breaker's observer (shedding.storeFS), which then sees the delays as
// a slow disk would show them. The control poller runs for the process's
// life.
func testSlowFS(log *slog.Logger) vfs.FS {
	path := os.Getenv(testSlowFsyncEnv)
	if path == "" {
		return vfs.Default
	}
	fs := faultfs.New(vfs.Default)
	fs.Control(path, 100*time.Millisecond)
	log.Warn("TEST ONLY: store fsyncs are delayed by the duration in the control file", "env", testSlowFsyncEnv, "file", path)
	return fs
}
