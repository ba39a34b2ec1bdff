package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestGoRedisClient drives Dorivo (three loops) through go-redis, which
// speaks RESP3 by default (HELLO 3 on connect), unchanged: strings,
// bitmaps, LCS, CONFIG, INFO, TIME, HELLO, COMMAND and FUNCTION, with
// the client library's own reply parsing. Keys land on every loop, so
// replies forwarded between loops are parsed too.
func TestGoRedisClient(t *testing.T) {
	_, addr := startRoot(t, Config{Loops: 3})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer rdb.Close()
	check := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	hello, err := rdb.Do(ctx, "HELLO", "3").Result()
	check("HELLO 3", err)
	if m, ok := hello.(map[any]any); !ok || m["proto"] != int64(3) || m["server"] != "redis" || m["version"] != "7.0.15" {
		t.Fatalf("HELLO 3 = %#v, want a map with proto 3", hello)
	}

	// Strings, on keys of every loop.
	for i := range 20 {
		check("SET", rdb.Set(ctx, fmt.Sprintf("s%d", i), i, 0).Err())
	}
	vals, err := rdb.MGet(ctx, "s0", "s7", "nokey", "s19").Result()
	check("MGET", err)
	if fmt.Sprint(vals) != "[0 7 <nil> 19]" {
		t.Errorf("MGET = %v", vals)
	}
	if _, err := rdb.Get(ctx, "nokey").Result(); !errors.Is(err, redis.Nil) {
		t.Errorf("GET of a missing key: err %v, want redis.Nil", err)
	}
	if n, err := rdb.IncrBy(ctx, "s3", 5).Result(); err != nil || n != 8 {
		t.Errorf("INCRBY = %d, %v", n, err)
	}
	if f, err := rdb.IncrByFloat(ctx, "s3", 0.5).Result(); err != nil || f != 8.5 {
		t.Errorf("INCRBYFLOAT = %v, %v", f, err)
	}
	check("SET EX", rdb.Set(ctx, "ttl", "v", time.Hour).Err())
	if d, err := rdb.TTL(ctx, "ttl").Result(); err != nil || d < 59*time.Minute {
		t.Errorf("TTL = %v, %v", d, err)
	}
	if ok, err := rdb.SetNX(ctx, "s1", "x", 0).Result(); err != nil || ok {
		t.Errorf("SETNX on an existing key = %v, %v", ok, err)
	}
	if n, err := rdb.Del(ctx, "s0", "s1", "s2", "nokey").Result(); err != nil || n != 3 {
		t.Errorf("DEL across loops = %d, %v", n, err)
	}

	// Bitmaps and LCS.
	if old, err := rdb.SetBit(ctx, "bm", 7, 1).Result(); err != nil || old != 0 {
		t.Errorf("SETBIT = %d, %v", old, err)
	}
	check("SETBIT", rdb.SetBit(ctx, "bm", 22, 1).Err())
	if b, err := rdb.GetBit(ctx, "bm", 22).Result(); err != nil || b != 1 {
		t.Errorf("GETBIT = %d, %v", b, err)
	}
	if n, err := rdb.BitCount(ctx, "bm", &redis.BitCount{Start: 0, End: 15, Unit: redis.BitCountIndexBit}).Result(); err != nil || n != 1 {
		t.Errorf("BITCOUNT 0 15 BIT = %d, %v", n, err)
	}
	if p, err := rdb.BitPos(ctx, "bm", 1, 1).Result(); err != nil || p != 22 {
		t.Errorf("BITPOS 1 1 = %d, %v", p, err)
	}
	check("SET", rdb.Set(ctx, "{b}x", "abc", 0).Err())
	if n, err := rdb.BitOpNot(ctx, "{b}y", "{b}x").Result(); err != nil || n != 3 {
		t.Errorf("BITOP NOT = %d, %v", n, err)
	}
	if err := rdb.BitOpAnd(ctx, "d", "s5", "s6").Err(); err == nil || !strings.HasPrefix(err.Error(), "CROSSSLOT") {
		t.Errorf("BITOP across loops: %v, want CROSSSLOT", err)
	}
	fields, err := rdb.BitField(ctx, "bf", "SET", "u8", 0, 200, "INCRBY", "u8", 0, 100, "OVERFLOW", "FAIL", "INCRBY", "u8", 0, 250).Result()
	if err != nil || fmt.Sprint(fields) != "[0 44 0]" { // the failed INCRBY is a null, which go-redis reads as 0
		t.Errorf("BITFIELD = %v, %v", fields, err)
	}
	check("MSET", rdb.MSet(ctx, "{l}a", "ohmytext", "{l}b", "mynewtext").Err())
	lcs, err := rdb.LCS(ctx, &redis.LCSQuery{Key1: "{l}a", Key2: "{l}b"}).Result()
	if err != nil || lcs.MatchString != "mytext" {
		t.Errorf("LCS = %+v, %v", lcs, err)
	}
	idx, err := rdb.LCS(ctx, &redis.LCSQuery{Key1: "{l}a", Key2: "{l}b", Idx: true, WithMatchLen: true}).Result()
	if err != nil || idx.Len != 6 || len(idx.Matches) != 2 || idx.Matches[0].Key1 != (redis.LCSPosition{Start: 4, End: 7}) || idx.Matches[0].MatchLen != 4 {
		t.Errorf("LCS IDX WITHMATCHLEN = %+v, %v", idx, err)
	}

	// Server commands.
	cfg, err := rdb.ConfigGet(ctx, "*").Result()
	check("CONFIG GET *", err)
	if cfg["maxmemory-policy"] != "noeviction" || cfg["databases"] != "1" || len(cfg) < 10 {
		t.Errorf("CONFIG GET * = %v", cfg)
	}
	check("CONFIG SET", rdb.ConfigSet(ctx, "maxmemory-policy", "allkeys-lru").Err())
	if err := rdb.ConfigSet(ctx, "daemonize", "yes").Err(); err == nil || !strings.Contains(err.Error(), "can't set immutable config") {
		t.Errorf("CONFIG SET daemonize: %v", err)
	}
	info, err := rdb.InfoMap(ctx, "memory", "replication", "commandstats", "keyspace").Result()
	check("INFO", err)
	if info["Replication"]["role"] != "master" || info["Memory"]["used_memory"] == "" || !strings.HasPrefix(info["Commandstats"]["cmdstat_set"], "calls=") {
		t.Errorf("INFO = %v", info)
	}
	if ks := info["Keyspace"]["db0"]; !strings.HasPrefix(ks, "keys=") {
		t.Errorf("INFO keyspace db0 = %q", ks)
	}
	check("CONFIG RESETSTAT", rdb.ConfigResetStat(ctx).Err())
	now, err := rdb.Time(ctx).Result()
	if err != nil || time.Since(now).Abs() > 5*time.Second {
		t.Errorf("TIME = %v, %v", now, err)
	}
	if name, err := rdb.ClientGetName(ctx).Result(); !errors.Is(err, redis.Nil) {
		t.Errorf("CLIENT GETNAME without a name = %q, %v (want redis.Nil)", name, err)
	}
	cmds, err := rdb.Command(ctx).Result()
	check("COMMAND", err)
	if c := cmds["setbit"]; c == nil || c.Arity != 4 || c.FirstKeyPos != 1 || !contains(c.Flags, "write") || !contains(c.ACLFlags, "@bitmap") {
		t.Errorf("COMMAND setbit = %+v", c)
	}
	keys, err := rdb.CommandGetKeys(ctx, "BITOP", "AND", "d", "a", "b").Result()
	if err != nil || fmt.Sprint(keys) != "[d a b]" {
		t.Errorf("COMMAND GETKEYS = %v, %v", keys, err)
	}
	libs, err := rdb.FunctionList(ctx, redis.FunctionListQuery{}).Result()
	if err != nil || len(libs) != 0 {
		t.Errorf("FUNCTION LIST = %v, %v", libs, err)
	}
	check("FUNCTION FLUSH", rdb.FunctionFlush(ctx).Err())
	check("PING", rdb.Ping(ctx).Err())
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestRedisPyClient runs testdata/redispy_check.py, which drives Dorivo
// (three loops) through redis-py, Debian's python3-redis, unchanged: the
// same strings, bitmaps, LCS, CONFIG, INFO, TIME and HELLO as go-redis.
func TestRedisPyClient(t *testing.T) {
	const py = "/usr/bin/python3" // Debian's, with python3-redis; not a pyenv shim
	if err := exec.Command(py, "-c", "import redis").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s has no redis module (apt-get install python3-redis): %v", py, err)
		}
		t.Skipf("%s has no redis module (apt-get install python3-redis)", py)
	}
	_, addr := startRoot(t, Config{Loops: 3})
	host, port, _ := strings.Cut(addr, ":")
	out, err := exec.Command(py, "testdata/redispy_check.py", host, port).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("redispy_check.py: %v\n%s", err, out)
	}
}
