package server

import (
	"github.com/dorivo/dorivo/internal/redistest"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestRoutingMatchesRedis sends the same random pipelines of single- and
// multi-key commands to Dorivo with 3 loops and to redis-server, and
// requires byte-identical reply streams: routing, splitting, merging and
// reply order must be invisible to the client. The cold run repeats it
// with nearly every value on disk only: commands wait for their values to
// come back from pebble, and the replies must still match.
func TestRoutingMatchesRedis(t *testing.T) {
	withValueStores(t, Config{Loops: 3}, routingMatchesRedis)
}

// TestRoutingMatchesRedisRESP3 is the same on RESP3 connections (HELLO 3):
// replies forwarded between loops and merged (MGET's nulls) must be RESP3.
func TestRoutingMatchesRedisRESP3(t *testing.T) {
	routingMatchesRedisProto(t, Config{Loops: 3}, true)
}

func routingMatchesRedis(t *testing.T, cfg Config) { routingMatchesRedisProto(t, cfg, false) }

func routingMatchesRedisProto(t *testing.T, cfg Config, resp3 bool) {
	redis := dialRoot(t, redistest.Start(t).Addr)
	s, addr := startRoot(t, cfg)
	dorivo := dialRoot(t, addr)
	if resp3 {
		for _, c := range []*client{redis, dorivo} {
			if got := c.do("HELLO", "3"); !strings.HasPrefix(got, "%7|") {
				t.Fatalf("HELLO 3 = %q", got)
			}
		}
	}
	if cfg.Store != nil {
		defer func() {
			var fetches, evictions uint64
			for _, st := range s.Stats() {
				fetches += st.Fetches
				evictions += st.Evictions
			}
			if fetches < 100 || evictions < 100 {
				t.Errorf("%d fetches and %d evictions: the values did not go cold", fetches, evictions)
			}
			t.Logf("%d fetches, %d evictions, store %+v", fetches, evictions, cfg.Store.Stats())
		}()
	}

	rng := rand.New(rand.NewPCG(1, 2))
	g := cmdGen{rng: rng, nkeys: 40}
	key := g.key
	gen := func() []string {
		i := rng.IntN(commonCmds + 12)
		if c := g.common(i); c != nil {
			return c
		}
		switch i - commonCmds {
		case 0:
			return append([]string{"UNLINK"}, g.keys(1+rng.IntN(3))...)
		case 1:
			return []string{"STRLEN", key()}
		case 2:
			return []string{"DBSIZE"}
		case 3:
			return []string{"GETRANGE", key(), "0", strconv.Itoa(rng.IntN(4) - 2)}
		case 4:
			return []string{"SETRANGE", key(), strconv.Itoa(rng.IntN(4)), "yz"}
		case 5:
			return []string{"GETDEL", key()}
		case 6:
			return []string{"GETSET", key(), strconv.Itoa(rng.IntN(100))}
		case 7:
			return []string{"EXPIRE", key(), "1000"}
		case 8:
			return []string{"MSETNX", key(), "1", key(), "2"}
		case 9:
			return []string{"SET", key(), strconv.Itoa(rng.IntN(100)), "GET"}
		case 10:
			return []string{"SET", key(), strconv.Itoa(rng.IntN(100)), "XX", "KEEPTTL"}
		default:
			return []string{"MSET", key()} // arity error, from whichever loop
		}
	}
	for round := range 40 {
		var b []byte
		n := 1 + rng.IntN(200)
		for range n {
			b = append(b, cmd(gen()...)...)
		}
		redis.send(b)
		dorivo.send(b)
		for i := range n {
			want, got := redis.read(), dorivo.read()
			if got != want {
				t.Fatalf("round %d, reply %d: dorivo %q, redis-server %q", round, i, got, want)
			}
		}
	}
	// KEYS merges every loop's keys; only the order may differ.
	sorted := func(r string) string {
		parts := strings.Split(r, "|")
		s := slices.Clone(parts[1:])
		slices.Sort(s)
		return parts[0] + "|" + strings.Join(s, "|")
	}
	if got, want := sorted(dorivo.do("KEYS", "*")), sorted(redis.do("KEYS", "*")); got != want {
		t.Errorf("KEYS *: dorivo %q, redis %q", got, want)
	}
}
