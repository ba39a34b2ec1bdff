package server

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dorivo/dorivo/internal/testenv"
	"github.com/dorivo/dorivo/shardstore/durable"
)

// sortedReply sorts the elements of a flat array reply ("*n|a|b").
func sortedReply(r string) string {
	parts := strings.Split(r, "|")
	if len(parts) < 2 {
		return r
	}
	// Elements are "$len|text" pairs.
	var elems []string
	for i := 1; i+1 < len(parts); i += 2 {
		elems = append(elems, parts[i]+"|"+parts[i+1])
	}
	slices.Sort(elems)
	return parts[0] + "|" + strings.Join(elems, "|")
}

// Collection writes of every kind of change (new, grown, shrunk to empty,
// dropped, replaced by a string and back, expiring, moved, stored, flushed)
// on both loops are there after a restart, with a different loop count the
// second time: each comes back from its metadata and element records.
func TestDurableCollectionsSurviveRestart(t *testing.T) {
	ns := testenv.NewNetns(t, "durcoll")
	dir := t.TempDir()
	const addr = "127.0.0.1:7290"
	n := startDurable(t, ns, dir, durable.Options{}, Config{TCPAddr: addr, Loops: 2})
	c := dialIn(t, ns, addr, 0)
	h0, _ := keyOwnedBy(n.srv, "h", 0, 0)
	h1, _ := keyOwnedBy(n.srv, "h", 1, 0)
	expect(t, c, ":2", "HSET", h0, "a", "1", "b", "2")
	expect(t, c, ":1", "HSET", h1, "x", "y")
	expect(t, c, ":1", "HDEL", h0, "a")
	expect(t, c, ":12", "HINCRBY", h0, "b", "10")
	expect(t, c, ":1", "HSET", "{e}gone", "f", "v")
	expect(t, c, ":1", "HDEL", "{e}gone", "f") // emptied: deleted
	var big []string
	for i := range 700 {
		big = append(big, fmt.Sprint(i))
	}
	expect(t, c, ":700", append([]string{"SADD", "{s}big"}, big...)...)
	expect(t, c, ":2", "SREM", "{s}big", "0", "699")
	expect(t, c, ":3", "SADD", "{s}a", "1", "2", "x")
	expect(t, c, ":1", "SMOVE", "{s}a", "{s}b", "x")
	expect(t, c, ":2", "SINTERSTORE", "{s}inter", "{s}a", "{s}big")
	expect(t, c, ":1", "SADD", "{d}dropped", "m")
	expect(t, c, ":1", "DEL", "{d}dropped")
	expect(t, c, ":1", "SADD", "{d}dropped", "n") // a new life, a new version
	expect(t, c, ":1", "HSET", "{r}replaced", "f", "v")
	expect(t, c, "+OK", "SET", "{r}replaced", "now a string")
	expect(t, c, "+OK", "SET", "{r}back", "was a string")
	expect(t, c, ":1", "SADD", "{r}back2", "m")
	expect(t, c, ":1", "SUNIONSTORE", "{r}back", "{r}back2")
	expect(t, c, ":1", "HSET", "{t}ttl", "f", "v")
	expect(t, c, ":1", "EXPIRE", "{t}ttl", "1000")
	expect(t, c, ":1", "HSET", "{t}short", "f", "v")
	expect(t, c, ":1", "PEXPIRE", "{t}short", "300")
	expect(t, c, ":1", "HSET", "{t}persist", "f", "v")
	expect(t, c, ":1", "EXPIRE", "{t}persist", "1000")
	expect(t, c, ":1", "PERSIST", "{t}persist")
	expect(t, c, ":1", "HSET", "{f}flushed", "f", "v")
	expect(t, c, "+OK", "FLUSHALL")
	expect(t, c, ":1", "HSET", "{f}after", "f", "v")
	expect(t, c, ":2", "HSET", h0, "b", "12", "c", "3")
	expect(t, c, ":1", "HSET", h1, "x", "y")
	expect(t, c, ":700", append([]string{"SADD", "{s}big"}, big...)...)
	expect(t, c, ":2", "SREM", "{s}big", "0", "699")
	expect(t, c, ":2", "SADD", "{s}a", "1", "2")
	expect(t, c, ":1", "SADD", "{s}b", "x")
	expect(t, c, ":2", "SINTERSTORE", "{s}inter", "{s}a", "{s}big")
	expect(t, c, ":1", "SADD", "{d}dropped", "n")
	expect(t, c, "+OK", "SET", "{r}replaced", "now a string")
	expect(t, c, ":1", "SADD", "{r}back", "m")
	expect(t, c, ":1", "HSET", "{t}ttl", "f", "v")
	expect(t, c, ":1", "EXPIRE", "{t}ttl", "1000")
	expect(t, c, ":1", "HSET", "{t}short", "f", "v")
	expect(t, c, ":1", "PEXPIRE", "{t}short", "300")
	expect(t, c, ":1", "HSET", "{t}persist", "f", "v")
	// Sorted sets and lists: middle changes rewrite only what follows.
	expect(t, c, ":3", "ZADD", "{z}z", "1", "a", "2", "b", "3", "c")
	expect(t, c, "$1|5", "ZINCRBY", "{z}z", "4", "a")
	expect(t, c, ":1", "ZREM", "{z}z", "b")
	expect(t, c, ":5", "RPUSH", "{l}l", "1", "2", "3", "4", "5")
	expect(t, c, ":6", "LPUSH", "{l}l", "0")
	expect(t, c, "$1|5", "RPOP", "{l}l")
	expect(t, c, ":6", "LINSERT", "{l}l", "BEFORE", "2", "x")
	expect(t, c, ":1", "LREM", "{l}l", "0", "3")
	expect(t, c, "+OK", "LSET", "{l}l", "0", "zero")
	expect(t, c, "+OK", "LTRIM", "{l}l", "0", "3")
	expect(t, c, ":2", "HSET", "{m}old", "a", "1", "b", "2")
	expect(t, c, "+OK", "RENAME", "{m}old", "{m}new")
	expect(t, c, ":1", "COPY", "{m}new", "{m}copy")
	expect(t, c, ":1", "HDEL", "{m}copy", "a")
	shortGone := time.Now().Add(300 * time.Millisecond)
	n.stop(t)
	for time.Now().Before(shortGone.Add(50 * time.Millisecond)) {
		time.Sleep(10 * time.Millisecond)
	}
	for round, loops := range []int{2, 3} {
		n = startDurable(t, ns, dir, durable.Options{}, Config{TCPAddr: addr, Loops: loops})
		c = dialIn(t, ns, addr, 0)
		what := fmt.Sprintf("round %d (%d loops)", round, loops)
		check := func(want string, args ...string) {
			t.Helper()
			got := c.do(args...)
			if strings.HasPrefix(want, "*") && args[0] != "ZRANGE" && args[0] != "LRANGE" {
				got, want = sortedReply(got), sortedReply(want)
			}
			if got != want {
				t.Fatalf("%s: %s = %q, want %q", what, strings.Join(args, " "), got, want)
			}
		}
		check("*4|$1|b|$2|12|$1|c|$1|3", "HGETALL", h0)
		check("*2|$1|x|$1|y", "HGETALL", h1)
		check(":698", "SCARD", "{s}big")
		check(":0", "SISMEMBER", "{s}big", "0")
		check(":1", "SISMEMBER", "{s}big", "698")
		check("*2|$1|1|$1|2", "SMEMBERS", "{s}a")
		check("*1|$1|x", "SMEMBERS", "{s}b")
		check("*2|$1|1|$1|2", "SMEMBERS", "{s}inter")
		dropped := "*1|$1|n"
		if round > 0 {
			dropped = fmt.Sprintf("*1|$2|r%d", round-1)
		}
		check(dropped, "SMEMBERS", "{d}dropped")
		check("+string", "TYPE", "{r}replaced")
		check("+set", "TYPE", "{r}back")
		check(":0", "EXISTS", "{e}gone", "{f}flushed", "{t}short")
		check("*2|$1|f|$1|v", "HGETALL", "{f}after")
		check(":-1", "TTL", "{t}persist")
		if ttl := c.do("TTL", "{t}ttl"); ttl < ":1" || len(ttl) > 5 {
			t.Fatalf("%s: TTL = %q", what, ttl)
		}
		check("*4|$1|c|$1|3|$1|a|$1|5", "ZRANGE", "{z}z", "0", "-1", "WITHSCORES")
		check("*4|$4|zero|$1|1|$1|x|$1|2", "LRANGE", "{l}l", "0", "-1")
		check("*4|$1|a|$1|1|$1|b|$1|2", "HGETALL", "{m}new")
		check("*2|$1|b|$1|2", "HGETALL", "{m}copy")
		check(":0", "EXISTS", "{m}old")
		check(":16", "DBSIZE")
		// Writes continue on the loaded collections, with new versions.
		check(":1", "HSET", h0, fmt.Sprintf("r%d", round), "v")
		check(":1", "DEL", "{d}dropped")
		check(":1", "SADD", "{d}dropped", fmt.Sprintf("r%d", round))
		check(fmt.Sprintf("*1|$2|r%d", round), "SMEMBERS", "{d}dropped")
		check(":1", "HDEL", h0, fmt.Sprintf("r%d", round))
		n.stop(t)
	}
}
