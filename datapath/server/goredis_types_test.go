package server

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/dorivo/dorivo/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// TestGoRedisCollections drives every collection type through
// github.com/redis/go-redis/v9, unchanged (default options: it asks for
// RESP3 first), against Dorivo with 2 loops and against redis-server, and
// requires the same results, blocking pops woken from another client
// included.
func TestGoRedisCollections(t *testing.T) {
	_, addr := startRoot(t, Config{Loops: 2})
	want := goRedisSession(t, redistest.Start(t).Addr)
	got := goRedisSession(t, addr)
	for i := range max(len(want), len(got)) {
		if i >= len(got) || i >= len(want) || !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("result %d: dorivo %v, redis-server %v", i, at(got, i), at(want, i))
		}
	}
}

func at(rs []string, i int) string {
	if i < len(rs) {
		return rs[i]
	}
	return "<none>"
}

// goRedisSession runs the same calls on addr and returns their results.
func goRedisSession(t *testing.T, addr string) []string {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	var out []string
	add := func(v any, err error) { out = append(out, fmt.Sprintf("%v|%v", v, err)) }
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatalf("%s: %v", addr, err)
	}
	add(rdb.HSet(ctx, "h", "a", "1", "b", "2").Result())
	add(rdb.HGetAll(ctx, "h").Result())
	add(rdb.HIncrBy(ctx, "h", "a", 5).Result())
	add(rdb.HIncrByFloat(ctx, "h", "f", 1.5).Result())
	add(rdb.HMGet(ctx, "h", "a", "nope").Result())
	add(rdb.HKeys(ctx, "h").Result())
	add(rdb.HDel(ctx, "h", "b").Result())
	add(rdb.SAdd(ctx, "{t}s1", 1, 2, 3).Result())
	add(rdb.SAdd(ctx, "{t}s2", 2, 3, 4).Result())
	add(rdb.SInter(ctx, "{t}s1", "{t}s2").Result())
	add(rdb.SUnionStore(ctx, "{t}u", "{t}s1", "{t}s2").Result())
	add(rdb.SMembers(ctx, "{t}u").Result())
	add(rdb.SIsMember(ctx, "{t}s1", 2).Result())
	add(rdb.ZAdd(ctx, "z", redis.Z{Score: 1, Member: "a"}, redis.Z{Score: 2.5, Member: "b"}).Result())
	add(rdb.ZIncrBy(ctx, "z", 2, "a").Result())
	add(rdb.ZRangeWithScores(ctx, "z", 0, -1).Result())
	add(rdb.ZRangeByScore(ctx, "z", &redis.ZRangeBy{Min: "(1", Max: "+inf"}).Result())
	add(rdb.ZScore(ctx, "z", "b").Result())
	add(rdb.ZRank(ctx, "z", "a").Result())
	add(rdb.ZPopMin(ctx, "z", 1).Result())
	add(rdb.RPush(ctx, "l", "a", "b", "c").Result())
	add(rdb.LRange(ctx, "l", 0, -1).Result())
	add(rdb.LPop(ctx, "l").Result())
	add(rdb.LInsertBefore(ctx, "l", "c", "x").Result())
	add(rdb.LPos(ctx, "l", "c", redis.LPosArgs{}).Result())
	add(rdb.Type(ctx, "h").Result())
	add(rdb.Type(ctx, "z").Result())
	add(rdb.Get(ctx, "h").Result())
	add(rdb.LPush(ctx, "h", "x").Result())
	keys, _, err := rdb.ScanType(ctx, 0, "*", 100, "list").Result()
	slices.Sort(keys)
	add(keys, err)
	// A blocked BLPOP, woken by another client's push.
	done := make(chan []string, 1)
	go func() {
		blocked := redis.NewClient(&redis.Options{Addr: addr})
		defer blocked.Close()
		v, err := blocked.BLPop(ctx, 10*time.Second, "{q}empty", "{q}list").Result()
		done <- []string{fmt.Sprintf("%v|%v", v, err)}
	}()
	time.Sleep(100 * time.Millisecond)
	add(rdb.RPush(ctx, "{q}list", "woken").Result())
	out = append(out, <-done...)
	add(rdb.BLPop(ctx, 100*time.Millisecond, "{q}list").Result())
	return out
}
