package server

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dorivo/dorivo/shardstore/durable"
)

// TestBlockingPops: blocked clients are woken by a push from another
// connection whichever loops the client, the pusher and the key are on,
// in arrival order; a blocked client's later requests wait behind it; a
// timeout replies nil; other clients are served meanwhile; and inside
// MULTI a blocking command does not block. With a store, the pop that
// serves a woken client is durable before its reply.
func TestBlockingPops(t *testing.T) {
	t.Run("memory", func(t *testing.T) { blockingPops(t, Config{Loops: 2}) })
	t.Run("durable", func(t *testing.T) {
		st, err := durable.Open(t.TempDir(), durable.Options{Shards: 2, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		blockingPops(t, Config{Loops: 2, Store: st, Logger: quiet})
		if st.Stats().Acked == 0 {
			t.Error("nothing went through the store")
		}
	})
}

func blockingPops(t *testing.T, cfg Config) {
	s, addr := startRoot(t, cfg)
	k0, _ := keyOwnedBy(s, "q", 0, 0)
	k1, _ := keyOwnedBy(s, "q", 1, 0)
	for _, k := range []string{"{" + k0 + "}", "{" + k1 + "}"} {
		a, b, p := dialRoot(t, addr), dialRoot(t, addr), dialRoot(t, addr)
		a.send(cmd("BLPOP", k+"nothing", k, "0"))
		time.Sleep(50 * time.Millisecond) // a parked first, whichever loop it crosses from
		b.send(cmd("BLPOP", k, "0"))
		time.Sleep(50 * time.Millisecond) // both parked, a first
		expect(t, p, "+PONG", "PING")
		expect(t, p, "$-1", "GET", k0+"x") // both loops serve others meanwhile
		expect(t, p, "$-1", "GET", k1+"x")
		expect(t, p, ":1", "RPUSH", k, "first")
		if got, want := a.read(), "*2|$"+itoa(len(k))+"|"+k+"|$5|first"; got != want {
			t.Fatalf("%s: first waiter got %q, want %q", k, got, want)
		}
		expect(t, p, ":1", "LPUSH", k, "second")
		if got, want := b.read(), "*2|$"+itoa(len(k))+"|"+k+"|$6|second"; got != want {
			t.Fatalf("%s: second waiter got %q, want %q", k, got, want)
		}
		expect(t, p, ":0", "LLEN", k)

		// A blocked client's next request runs after it is served.
		a.send(append(cmd("BLPOP", k, "0"), cmd("RPUSH", k, "self")...))
		time.Sleep(50 * time.Millisecond)
		expect(t, p, ":1", "RPUSH", k, "other")
		if got := a.read(); !strings.HasSuffix(got, "|$5|other") {
			t.Fatalf("%s: BLPOP = %q, want other's element", k, got)
		}
		if got := a.read(); got != ":1" {
			t.Fatalf("%s: RPUSH after BLPOP = %q", k, got)
		}
		expect(t, p, "*1|$4|self", "LRANGE", k, "0", "-1")
		expect(t, p, ":1", "DEL", k)

		// BLMOVE, BZPOPMIN and BLMPOP are woken too.
		a.send(cmd("BLMOVE", k, k+"{dst}", "LEFT", "RIGHT", "0"))
		b.send(cmd("BZPOPMIN", k+"z", "0"))
		time.Sleep(50 * time.Millisecond)
		expect(t, p, ":1", "RPUSH", k, "m")
		if got := a.read(); got != "$1|m" {
			t.Fatalf("BLMOVE = %q", got)
		}
		expect(t, p, "*1|$1|m", "LRANGE", k+"{dst}", "0", "-1")
		expect(t, p, ":1", "ZADD", k+"z", "2.5", "z")
		if got := b.read(); got != "*3|$"+itoa(len(k)+1)+"|"+k+"z|$1|z|$3|2.5" {
			t.Fatalf("BZPOPMIN = %q", got)
		}
		a.send(cmd("BLMPOP", "0", "1", k, "RIGHT", "COUNT", "5"))
		time.Sleep(50 * time.Millisecond)
		expect(t, p, ":2", "RPUSH", k, "x", "y")
		if got := a.read(); got != "*2|$"+itoa(len(k))+"|"+k+"|*2|$1|y|$1|x" {
			t.Fatalf("BLMPOP = %q", got)
		}

		// A timeout, and no blocking inside MULTI.
		start := time.Now()
		expect(t, a, "*-1", "BLPOP", k, "0.2")
		if d := time.Since(start); d < 190*time.Millisecond {
			t.Fatalf("BLPOP with a 0.2 s timeout returned after %v", d)
		}
		expect(t, a, "+OK", "MULTI")
		expect(t, a, "+QUEUED", "BLPOP", k, "0")
		expect(t, a, "*1|*-1", "EXEC")
		expect(t, a, "+PONG", "PING")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
