package netcluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestUsersInCluster changes the user table through a node that does not
// lead shard 0 (whose log stores it): every node learns the change, a
// user confined to a key pattern reads and writes keys of every shard
// through every node, within its pattern only, and a restarted node has
// the users it had.
func TestUsersInCluster(t *testing.T) {
	c := Up(t, "--loops 1")
	ctx := context.Background()
	via := c.leaderOf(t, 0)%3 + 1
	admin := redis.NewClient(&redis.Options{Addr: c.Nodes[via-1].Addr, ReadTimeout: 3 * time.Second, MaxRetries: -1})
	defer admin.Close()
	if err := admin.Do(ctx, "ACL", "SETUSER", "alice", "on", ">pw", "~a:*", "+@all").Err(); err != nil {
		t.Fatalf("ACL SETUSER on node %d (not shard 0's leader): %v", via, err)
	}
	auth := func(n int) error {
		r := redis.NewClient(&redis.Options{Addr: c.Nodes[n-1].Addr, Username: "alice", Password: "pw", ReadTimeout: 3 * time.Second, MaxRetries: -1})
		defer r.Close()
		return r.Ping(ctx).Err()
	}
	for n := 1; n <= 3; n++ {
		eventually(t, 5*time.Second, fmt.Sprintf("AUTH alice on node %d", n), func() error { return auth(n) })
	}
	var keys []string // a:* keys, one per shard
	for i := 0; len(keys) < shards; i++ {
		if k := fmt.Sprintf("a:%d", i); shardOf(k) == len(keys) {
			keys = append(keys, k)
		}
	}
	for n := 1; n <= 3; n++ {
		r := redis.NewClient(&redis.Options{Addr: c.Nodes[n-1].Addr, Username: "alice", Password: "pw", ReadTimeout: 3 * time.Second, MaxRetries: -1})
		for _, k := range keys {
			v := fmt.Sprintf("n%d", n)
			eventually(t, 5*time.Second, fmt.Sprintf("alice SET %s through node %d", k, n), func() error {
				err := r.Set(ctx, k, v, 0).Err()
				if err != nil && !strings.HasPrefix(err.Error(), "TRYAGAIN") {
					t.Fatalf("alice SET %s through node %d (shard %d led by %d): %v", k, n, shardOf(k), c.leaderOf(t, shardOf(k)), err)
				}
				return err // a leader change under way: retry
			})
			if got, err := r.Get(ctx, k).Result(); err != nil || got != v {
				t.Errorf("alice GET %s through node %d: %q, %v; want %q", k, n, got, err, v)
			}
		}
		if err := r.Set(ctx, "b:1", "x", 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
			t.Errorf("alice SET b:1 through node %d: %v, want NOPERM", n, err)
		}
		r.Close()
	}
	c.Kill(via)
	c.Start(via)
	eventually(t, 10*time.Second, "AUTH alice on the restarted node", func() error { return auth(via) })

	other := via%3 + 1
	r := redis.NewClient(&redis.Options{Addr: c.Nodes[other-1].Addr, ReadTimeout: 3 * time.Second, MaxRetries: -1})
	defer r.Close()
	if err := r.Do(ctx, "ACL", "DELUSER", "alice").Err(); err != nil {
		t.Fatalf("ACL DELUSER on node %d: %v", other, err)
	}
	for n := 1; n <= 3; n++ {
		eventually(t, 5*time.Second, fmt.Sprintf("alice gone from node %d", n), func() error {
			if err := auth(n); err == nil {
				return fmt.Errorf("AUTH alice still works")
			}
			return nil
		})
	}
}

// TestPeerSecret runs the cluster with a password for the default user:
// its forwarding connections authenticate with the shared secret, so a
// client of any node reads and writes the keys of every shard, and a
// wrong secret is refused.
func TestPeerSecret(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "peer.secret")
	if err := os.WriteFile(secret, []byte("a cluster secret of some length\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Up(t, "--loops 1 --requirepass pw --peer-secret-file "+secret)
	ctx := context.Background()
	keys := oneKeyPerShard()
	for n := 1; n <= 3; n++ {
		r := redis.NewClient(&redis.Options{Addr: c.Nodes[n-1].Addr, Password: "pw", ReadTimeout: 3 * time.Second, MaxRetries: -1})
		for _, k := range keys {
			v := fmt.Sprintf("n%d", n)
			eventually(t, 5*time.Second, fmt.Sprintf("SET %s through node %d", k, n), func() error {
				err := r.Set(ctx, k, v, 0).Err()
				if err != nil && !strings.HasPrefix(err.Error(), "TRYAGAIN") {
					t.Fatalf("SET %s through node %d (shard %d led by %d): %v", k, n, shardOf(k), c.leaderOf(t, shardOf(k)), err)
				}
				return err
			})
			if got, err := r.Get(ctx, k).Result(); err != nil || got != v {
				t.Errorf("GET %s through node %d: %q, %v; want %q", k, n, got, err, v)
			}
		}
		r.Close()
	}
	r := redis.NewClient(&redis.Options{Addr: c.Nodes[0].Addr, MaxRetries: -1})
	defer r.Close()
	if err := r.Do(ctx, "AUTH", "dorivo-peer", "not the secret").Err(); err == nil || !strings.HasPrefix(err.Error(), "WRONGPASS") {
		t.Errorf("AUTH dorivo-peer with a wrong secret: %v, want WRONGPASS", err)
	}
}
