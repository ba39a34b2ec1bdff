package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dorivo/dorivo/shardstore/durable"
)

// A single-node store's bootstrapped layout shows as version 1, this node
// as the layout group's leader and every shard's preferred leader.
func TestLayoutCollector(t *testing.T) {
	st, err := durable.Open(t.TempDir(), durable.Options{Shards: 2, NodeID: 5, TickInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c := NewLayoutCollector(st)
	want := `
# HELP dorivo_layout_leader Raft ID of the layout group's leader as this node last saw it (0: none known).
# TYPE dorivo_layout_leader gauge
dorivo_layout_leader 5
# HELP dorivo_layout_mismatch 1 while the applied layout differs from this node's shards (it then refuses writes).
# TYPE dorivo_layout_mismatch gauge
dorivo_layout_mismatch 0
# HELP dorivo_layout_preferred_leader The shard's preferred leader in the applied layout.
# TYPE dorivo_layout_preferred_leader gauge
dorivo_layout_preferred_leader{shard="0"} 5
dorivo_layout_preferred_leader{shard="1"} 5
# HELP dorivo_layout_version Version of the cluster layout this node applied (0: none yet).
# TYPE dorivo_layout_version gauge
dorivo_layout_version 1
`
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := testutil.CollectAndCompare(c, strings.NewReader(want))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if probs, err := testutil.CollectAndLint(c); err != nil || len(probs) > 0 {
		t.Fatalf("lint: %v %v", probs, err)
	}
}
