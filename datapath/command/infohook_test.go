package command

import (
	"strings"
	"testing"

	"github.com/dorivo/dorivo/shardstore/keyspace"
)

// TestInfoSectionHook: a host's section follows Redis's, is re-read at
// every INFO (counters move), and is selected by its name alone.
func TestInfoSectionHook(t *testing.T) {
	n := NewNode()
	count := 0
	n.AddInfoSection(InfoSection{Name: "Datapath", Lines: func() []string {
		count++
		return []string{"loops:1", "loop0_requests:" + string(rune('0'+count))}
	}})
	s, ks := NewSession(n), keyspace.New()
	info := run(s, ks, 0, "INFO")[0]
	if !strings.Contains(info, "# Keyspace\r\n\r\n# Datapath\r\nloops:1\r\nloop0_requests:1\r\n") {
		t.Errorf("INFO lacks the Datapath section after Keyspace:\n%q", info)
	}
	info = run(s, ks, 0, "INFO datapath")[0]
	if strings.Contains(info, "# Server") || !strings.Contains(info, "# Datapath\r\nloops:1\r\nloop0_requests:2\r\n") {
		t.Errorf("INFO datapath = %q", info)
	}
	if info := run(s, ks, 0, "INFO server")[0]; strings.Contains(info, "Datapath") || count != 2 {
		t.Errorf("INFO server = %q (section read %d times, want 2)", info, count)
	}
}
