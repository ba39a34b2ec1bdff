package server

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/dorivo/dorivo/internal/redistest"
)

// TestMixedTypesMatchRedis sends random pipelines mixing strings, hashes,
// sets, sorted sets and lists over shared keys (so WRONGTYPE comes up all the time) to Dorivo
// with 3 loops and to redis-server, and requires byte-identical replies.
// Set members are small integers and hashes stay small, so Redis's own
// order is deterministic (intsets sorted, listpacks in insertion order).
// Multi-key set commands use one hash tag, so they stay on one loop. The
// cold run keeps nearly every string value on disk only.
func TestMixedTypesMatchRedis(t *testing.T) {
	withValueStores(t, Config{Loops: 3}, mixedTypesMatchRedis)
}

func mixedTypesMatchRedis(t *testing.T, cfg Config) {
	redis := dialRoot(t, redistest.Start(t).Addr)
	_, addr := startRoot(t, cfg)
	dorivo := dialRoot(t, addr)
	rng := rand.New(rand.NewPCG(3, 4))
	g := cmdGen{rng: rng, nkeys: 30}
	key, n := g.key, func(k int) string { return strconv.Itoa(rng.IntN(k)) }
	tagged := func() string { return "{z}" + n(6) }
	gen := func() []string {
		i := rng.IntN(commonCmds + 36)
		if c := g.common(i); c != nil {
			return c
		}
		switch i - commonCmds {
		case 0, 1:
			return []string{"HSET", key(), "f" + n(6), n(100)}
		case 2:
			return []string{"HGET", key(), "f" + n(6)}
		case 3:
			return []string{"HDEL", key(), "f" + n(6), "f" + n(6)}
		case 4:
			return []string{"HINCRBY", key(), "f" + n(6), n(10)}
		case 5:
			return []string{"HGETALL", key()}
		case 6:
			return []string{"HLEN", key()}
		case 7, 8:
			return []string{"SADD", key(), n(20), n(20)}
		case 9:
			return []string{"SREM", key(), n(20), n(20)}
		case 10:
			return []string{"SMEMBERS", key()}
		case 11:
			return []string{"SISMEMBER", key(), n(20)}
		case 12:
			return []string{"TYPE", key()}
		case 13:
			return []string{"SADD", tagged(), n(20), n(20), n(20)}
		case 14:
			return []string{"SINTERSTORE", tagged(), tagged(), tagged()}
		case 15:
			return []string{"SUNION", tagged(), tagged()}
		case 16:
			return []string{"SDIFF", tagged(), tagged(), tagged()}
		case 17:
			return []string{"SMOVE", tagged(), tagged(), n(20)}
		case 18:
			return []string{"SCARD", tagged()}
		case 19:
			return []string{"HMGET", key(), "f" + n(6), "f" + n(6)}
		case 20:
			return []string{"EXPIRE", key(), "1000"}
		case 21:
			return []string{"SINTERCARD", "2", tagged(), tagged()}
		case 22:
			return []string{"HSCAN", key(), "0"}
		case 23:
			return []string{"SSCAN", tagged(), "0"}
		case 24, 25:
			return []string{"ZADD", key(), n(10), "m" + n(8)}
		case 26:
			return []string{"ZRANGE", key(), "0", "-1", "WITHSCORES"}
		case 27:
			return []string{"ZINCRBY", key(), "1.5", "m" + n(8)}
		case 28:
			return []string{"ZPOPMIN", key()}
		case 29:
			return []string{"ZUNIONSTORE", tagged(), "2", tagged(), tagged()}
		case 30, 31:
			return []string{"RPUSH", key(), n(10), n(10)}
		case 32:
			return []string{"LPOP", key()}
		case 33:
			return []string{"LRANGE", key(), "0", "-1"}
		case 34:
			return []string{"LMOVE", tagged(), tagged(), "LEFT", "RIGHT"}
		default:
			return []string{"LREM", key(), "0", n(10)}
		}
	}
	for round := range 30 {
		var b []byte
		cnt := 1 + rng.IntN(200)
		var sent [][]string
		for range cnt {
			c := gen()
			sent = append(sent, c)
			b = append(b, cmd(c...)...)
		}
		redis.send(b)
		dorivo.send(b)
		for i := range cnt {
			want, got := redis.read(), dorivo.read()
			if got != want {
				t.Fatalf("round %d, reply %d to %s: dorivo %q, redis-server %q", round, i, strings.Join(sent[i], " "), got, want)
			}
		}
	}
	if got, want := dorivo.do("DBSIZE"), redis.do("DBSIZE"); got != want {
		t.Fatalf("DBSIZE: dorivo %s, redis %s", got, want)
	}
}

// TestCollectionsCrossLoop: multi-key set commands whose keys live on
// different loops reply CROSSSLOT, as Redis Cluster does for keys in
// different slots; on one loop they run.
func TestCollectionsCrossLoop(t *testing.T) {
	s, addr := startRoot(t, Config{Loops: 2})
	c := dialRoot(t, addr)
	a, _ := keyOwnedBy(s, "a", 0, 0)
	b, _ := keyOwnedBy(s, "b", 1, 0)
	expect(t, c, ":1", "SADD", a, "1")
	expect(t, c, ":1", "SADD", b, "1")
	const cross = "-CROSSSLOT Keys in request don't hash to the same slot"
	for _, args := range [][]string{
		{"SMOVE", a, b, "1"}, {"SINTER", a, b}, {"RENAME", a, b}, {"COPY", a, b}, {"ZUNIONSTORE", a, "1", b}, {"SUNIONSTORE", a, b}, {"SDIFF", b, a}, {"SINTERCARD", "2", a, b},
	} {
		expect(t, c, cross, args...)
	}
	expect(t, c, "*1|$1|1", "SMEMBERS", a) // SMOVE did nothing
	expect(t, c, ":1", "SADD", "{t}x", "1")
	expect(t, c, ":1", "SMOVE", "{t}x", "{t}y", "1")
	expect(t, c, "*1|$1|1", "SMEMBERS", "{t}y")
	// A transaction over both loops runs each command on its owner.
	expect(t, c, "+OK", "MULTI")
	expect(t, c, "+QUEUED", "HSET", a+"h", "f", "v")
	expect(t, c, "+QUEUED", "SADD", b, "2")
	expect(t, c, "+QUEUED", "HSET", a, "f", "v")
	expect(t, c, "*3|:1|:1|-WRONGTYPE Operation against a key holding the wrong kind of value", "EXEC")
}
