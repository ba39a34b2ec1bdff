package core

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/dorivo/dorivo/internal/testenv"
)

const wrongpass = "-WRONGPASS invalid username-password pair or user is disabled.\r\n"

func (h *harness) open(name, addr string, loop int) *hconn {
	c := &hconn{name: name, loop: loop}
	c.c = h.loops[loop].Open(&c.in, addr, c)
	h.conns[name] = c
	h.order = append(h.order, name)
	return c
}

// tick advances the simulated clock and drains every loop, as the shell's
// expiry tick does.
func (h *harness) tick(ms int64) {
	h.now += ms
	for i := range h.woken {
		h.woken[i] = true
	}
	h.run()
}

// 200,000 wrong AUTHs pipelined on one connection, against a simulated
// clock: every one is counted (the counter and one grouped ACL LOG entry),
// the first five are answered at once, each later one no sooner than its
// delay (10 ms doubling to 10 s), and while a reply is held the loop serves
// other clients at once. A new connection from the same address is slowed
// from its first failure; one from another address is not; a right
// password is answered at once.
func TestWrongAuthSlowedDownBySimulatedClock(t *testing.T) {
	const n = 200_000
	h := newHarness(t, harnessOpts{loops: 1, ringCap: 64, arena: 1 << 16, deferCap: 64, maxPending: 1 << 20})
	node := h.loops[0].cfg.Node
	var logged testenv.SyncBuffer
	node.SetLogger(slog.New(slog.NewTextHandler(&logged, nil)))
	admin := h.open("admin", "10.0.0.9:1000", 0)
	h.send(admin, []string{"ACL SETUSER default resetpass >right"})
	h.run()
	guess := h.open("guess", "10.0.0.1:5000", 0)
	var req bytes.Buffer
	for range n {
		req.WriteString("*3\r\n$4\r\nAUTH\r\n$7\r\ndefault\r\n$5\r\nwrong\r\n")
	}
	guess.in.buf = req.Bytes()
	h.loops[0].Traffic(guess.c, h.now)
	h.collect()
	seen := 0
	replies := func() int { // counts and drops what arrived, so the test stays linear
		seen += bytes.Count(guess.got, []byte(wrongpass))
		guess.got = guess.got[:0]
		return seen
	}
	if got := replies(); got != 5 {
		t.Fatalf("%d replies at once, want the 5 free failures", got)
	}
	var simulated int64
	for i := 6; i <= n; i++ {
		delay := int64(10) << min(i-6, 20)
		delay = min(delay, 10_000)
		h.tick(delay - 1)
		if got := replies(); got != i-1 {
			t.Fatalf("failure %d: %d replies 1 ms before its %d ms delay, want %d", i, got, delay, i-1)
		}
		if i%50_000 == 0 { // the loop serves others while a reply is held
			h.send(admin, []string{"PING"})
			if !bytes.HasSuffix(admin.got, []byte("+PONG\r\n")) {
				t.Fatalf("PING while a reply is held: %q", admin.got)
			}
		}
		h.tick(1)
		if got := replies(); got != i {
			t.Fatalf("failure %d: %d replies after its %d ms delay, want %d", i, got, delay, i)
		}
		simulated += delay
	}
	if got := node.AuthFailures(); got != n {
		t.Fatalf("AuthFailures = %d, want %d", got, n)
	}
	lines := strings.Count(logged.String(), "AUTH failed")
	t.Logf("%d failures took %d s of simulated time, %d log lines", n, simulated/1000, lines)
	if lines == 0 || int64(lines) > simulated/1000+1 {
		t.Fatalf("%d log lines over %d s: want at least one and at most one a second", lines, simulated/1000)
	}

	h.send(admin, []string{"AUTH right", "ACL LOG 1"})
	if !strings.Contains(string(admin.got), "$5\r\ncount\r\n:200000\r\n$6\r\nreason\r\n$4\r\nauth\r\n$7\r\ncontext\r\n$8\r\ntoplevel\r\n$6\r\nobject\r\n$4\r\nAUTH\r\n$8\r\nusername\r\n$7\r\ndefault\r\n") {
		t.Fatalf("ACL LOG 1: %q", admin.got)
	}

	same := h.open("same", "10.0.0.1:5001", 0) // the guesser's address
	other := h.open("other", "10.0.0.2:5000", 0)
	h.send(same, []string{"AUTH wrong"})
	h.send(other, []string{"AUTH wrong"})
	if len(same.got) != 0 || string(other.got) != wrongpass {
		t.Fatalf("same address got %q at once (want nothing), another address %q", same.got, other.got)
	}
	h.send(other, []string{"AUTH right"})
	if !strings.HasSuffix(string(other.got), "+OK\r\n") {
		t.Fatalf("right password: %q", other.got)
	}
	h.tick(10_000)
	if string(same.got) != wrongpass {
		t.Fatalf("same address after 10 s: %q", same.got)
	}
}
