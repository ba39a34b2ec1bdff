package server

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/dorivo/dorivo/internal/redistest"
	"github.com/dorivo/dorivo/internal/testenv"
)

// TestRedisPyCollections runs scripts/redis-py-types.py: every collection
// type through redis-py (Debian's python3-redis), unchanged, against
// Dorivo with 2 loops and against redis-server, with the same results.
func TestRedisPyCollections(t *testing.T) {
	py := testenv.RequireCommand(t, "/usr/bin/python3")
	if out, err := exec.Command(py, "-c", "import redis").CombinedOutput(); err != nil {
		t.Fatalf("python3-redis missing (apt-get install python3-redis): %v\n%s", err, out)
	}
	_, addr := startRoot(t, Config{Loops: 2})
	out, err := exec.Command(py, "../../scripts/redis-py-types.py", redistest.Start(t).Addr, addr).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "same results") {
		t.Fatalf("redis-py: %v\n%s", err, out)
	}
	t.Log(strings.TrimSpace(string(out)))
}
