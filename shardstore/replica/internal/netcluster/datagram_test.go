package netcluster

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/dorivo/dorivo/datapath/dgram"
	"github.com/dorivo/dorivo/datapath/wire"
)

// tenantPerShard returns tags[i], a tenant tag whose keys are in shard i.
func tenantPerShard() []string {
	var tags []string
	for i := 0; len(tags) < shards; i++ {
		if t := fmt.Sprintf("t%d", i); shardOf("{"+t+"}") == len(tags) {
			tags = append(tags, t)
		}
	}
	return tags
}

// TestDatagramsAnyNode writes with datagrams through every node, to keys of
// every shard, and reads each write back through every node: any node
// serves any key, as over RESP, whichever node leads its shard.
func TestDatagramsAnyNode(t *testing.T) {
	const hexKey = "00112233445566778899aabbccddeeff"
	key, err := wire.ParseKey(hexKey)
	if err != nil {
		t.Fatal(err)
	}
	flags := "--loops 1"
	for _, tag := range tenantPerShard() {
		flags += " --tenant-key " + tag + "=" + hexKey
	}
	c := Up(t, flags)
	ctx := context.Background()
	clients := map[[2]int]*dgram.Client{} // node, shard
	for n := 1; n <= 3; n++ {
		for s, tag := range tenantPerShard() {
			cl, err := dgram.Dial(c.Nodes[n-1].Addr, dgram.Options{Tenant: tag, Key: key, Timeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			clients[[2]int{n, s}] = cl
		}
	}
	for round := range 3 {
		for w := 1; w <= 3; w++ {
			for s, tag := range tenantPerShard() {
				k := []byte(fmt.Sprintf("{%s}:k", tag))
				val := fmt.Sprintf("r%d-n%d", round, w)
				// UNAVAILABLE (a leader change under way) says retry.
				eventually(t, 5*time.Second, "datagram SET", func() error {
					err := clients[[2]int{w, s}].Set(ctx, k, []byte(val))
					if err != nil && !errors.Is(err, dgram.ErrUnavailable) {
						t.Fatalf("datagram SET %s = %s through node %d (shard %d led by %d): %v", k, val, w, s, c.leaderOf(t, s), err)
					}
					return err
				})
				for r := 1; r <= 3; r++ {
					got, found, err := clients[[2]int{r, s}].Get(ctx, k)
					if err != nil || !found || string(got) != val {
						t.Fatalf("datagram GET %s through node %d after SET through node %d (shard %d led by %d): %q %v %v, want %q",
							k, r, w, s, c.leaderOf(t, s), got, found, err, val)
					}
				}
			}
		}
	}
}
