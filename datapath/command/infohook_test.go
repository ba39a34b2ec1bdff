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

// INFO's Cluster section is Redis 7.0's, byte for byte, on a single node
// (it was missing), and on a replicated node the host's shard lines follow
// cluster_enabled:0 in that one section, before Keyspace as in Redis.
func TestInfoClusterSection(t *testing.T) {
	n := NewNode()
	s, ks := NewSession(n), keyspace.New()
	if got := run(s, ks, 0, "INFO cluster")[0]; got != "$30\r\n# Cluster\r\ncluster_enabled:0\r\n\r\n" {
		t.Errorf("INFO cluster on a single node = %q, want redis-server 7.0.15's", got)
	}
	n.AddInfoSection(InfoSection{Name: "Cluster", Lines: func() []string { return []string{"node_id:1"} }})
	info := run(s, ks, 0, "INFO")[0]
	if strings.Count(info, "# Cluster") != 1 || !strings.Contains(info, "# Cluster\r\ncluster_enabled:0\r\nnode_id:1\r\n\r\n# Keyspace") {
		t.Errorf("INFO with a host Cluster section:\n%q", info)
	}
}
