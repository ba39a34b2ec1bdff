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

	"github.com/dorivo/dorivo/userspace/testenv"
)

// TestRoutingMatchesRedis sends the same random pipelines of single- and
// multi-key commands to Dorivo with 3 loops and to redis-server, and
// requires byte-identical reply streams: routing, splitting, merging and
// reply order must be invisible to the client.
func TestRoutingMatchesRedis(t *testing.T) {
	redisBin := testenv.RequireCommand(t, "redis-server")
	ns := testenv.NewNetns(t, "rdiff")
	startIn(t, ns, Config{TCPAddr: "127.0.0.1:7901", Loops: 3})
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
	dorivo := dialIn(t, ns, "127.0.0.1:7901", 0)

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
		switch rng.IntN(12) {
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
