package server

import (
	"bufio"
	"math/rand/v2"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dorivo/dorivo/shardstore/durable"
	"github.com/dorivo/dorivo/userspace/testenv"
)

// TestRoutingMatchesRedis sends the same random pipelines of single- and
// multi-key commands to Dorivo with 3 loops and to redis-server, and
// requires byte-identical reply streams: routing, splitting, merging and
// reply order must be invisible to the client.
func TestRoutingMatchesRedis(t *testing.T) {
	ns := testenv.NewNetns(t, "rdiff")
	startIn(t, ns, Config{TCPAddr: "127.0.0.1:7901", Loops: 3})
	matchRedis(t, ns, "127.0.0.1:7901")
}

// TestColdValuesMatchRedis runs the same pipelines against a durable server
// whose loops may keep 64 bytes of values between them: nearly every
// command finds its keys cold and waits for their values to come back from
// pebble, and the replies must still match redis-server byte for byte.
func TestColdValuesMatchRedis(t *testing.T) {
	ns := testenv.NewNetns(t, "rcold")
	n := startDurable(t, ns, t.TempDir(), durable.Options{CacheBytes: 1 << 10},
		Config{TCPAddr: "127.0.0.1:7901", Loops: 3, HotValueBytes: 64})
	matchRedis(t, ns, "127.0.0.1:7901")
	var fetches, evictions uint64
	for _, st := range n.srv.Stats() {
		fetches += st.Fetches
		evictions += st.Evictions
	}
	if fetches < 100 || evictions < 100 {
		t.Fatalf("%d fetches and %d evictions: the values did not go cold", fetches, evictions)
	}
	t.Logf("%d fetches, %d evictions, store cache %+v", fetches, evictions, n.store.Stats())
}

// matchRedis sends random pipelines to Dorivo at addr and to a redis-server
// it starts in ns, and requires identical replies.
func matchRedis(t *testing.T, ns *testenv.Netns, addr string) {
	redisBin := testenv.RequireCommand(t, "redis-server")
	rs := exec.Command("ip", "netns", "exec", ns.Name, redisBin, "--port", "7902",
		"--save", "", "--appendonly", "no", "--bind", "127.0.0.1")
	if err := rs.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rs.Process.Kill(); _ = rs.Wait() })
	var redis *client
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var c net.Conn
		var err error
		ns.Do(t, func() { c, err = net.Dial("tcp", "127.0.0.1:7902") })
		if err == nil {
			t.Cleanup(func() { c.Close() })
			redis = &client{t: t, c: c, r: bufio.NewReaderSize(c, 1<<16)}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server: %v", err)
		}
	}
	dorivo := dialIn(t, ns, addr, 0)

	rng := rand.New(rand.NewPCG(1, 2))
	key := func() string { return "k" + strconv.Itoa(rng.IntN(40)) }
	keys := func(n int) []string {
		ks := make([]string, n)
		for i := range ks {
			ks[i] = key()
		}
		return ks
	}
	gen := func() []string {
		switch rng.IntN(20) {
		case 0:
			return []string{"SET", key(), strconv.Itoa(rng.IntN(100))}
		case 1:
			return []string{"GET", key()}
		case 2:
			return []string{"INCR", key()}
		case 3:
			return []string{"APPEND", key(), "x"}
		case 4:
			return append([]string{"MGET"}, keys(1+rng.IntN(6))...)
		case 5:
			a := []string{"MSET"}
			for _, k := range keys(1 + rng.IntN(4)) {
				a = append(a, k, strconv.Itoa(rng.IntN(100)))
			}
			return a
		case 6:
			return append([]string{"DEL"}, keys(1+rng.IntN(4))...)
		case 7:
			return append([]string{"EXISTS"}, keys(1+rng.IntN(5))...)
		case 8:
			return append([]string{"UNLINK"}, keys(1+rng.IntN(3))...)
		case 9:
			return []string{"STRLEN", key()}
		case 10:
			return []string{"DBSIZE"}
		case 11:
			return []string{"GETRANGE", key(), "0", strconv.Itoa(rng.IntN(4) - 2)}
		case 12:
			return []string{"SETRANGE", key(), strconv.Itoa(rng.IntN(4)), "yz"}
		case 13:
			return []string{"GETDEL", key()}
		case 14:
			return []string{"GETSET", key(), strconv.Itoa(rng.IntN(100))}
		case 15:
			return []string{"EXPIRE", key(), "1000"}
		case 16:
			return []string{"MSETNX", key(), "1", key(), "2"}
		case 17:
			return []string{"SET", key(), strconv.Itoa(rng.IntN(100)), "GET"}
		case 18:
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
