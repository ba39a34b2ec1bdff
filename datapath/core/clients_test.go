package core

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/dorivo/dorivo/datapath/command"
)

// slowReader pipelines GETs of a 100 KB value on a client that does not
// read, then reads everything; it returns the most reply bytes the loops
// held for the client at any time and what the client got.
func slowReader(t *testing.T, pauseBytes int64, gets int) (peak int, got []byte) {
	h := newHarness(t, harnessOpts{loops: 2, ringCap: 64, arena: 1 << 16, deferCap: 64, maxPending: 4096})
	cfg := *h.loops[0].cfg.Node.Config()
	cfg.PauseBytes = pauseBytes
	h.loops[0].cfg.Node.SetConfig(cfg)
	c := &hconn{name: "slow", loop: 0, slow: true}
	c.c = h.loops[0].Open(&c.in, "test", c)
	h.conns[c.name] = c
	big := strings.Repeat("v", 100<<10)
	h.send(c, []string{"SET {a}big " + big, "SET {b}big " + big})
	h.run()
	var reqs []string
	for i := range gets {
		// Keys on both loops, and ECHOs between them, so the order shows.
		reqs = append(reqs, fmt.Sprintf("GET {%c}big", 'a'+i%2), fmt.Sprintf("ECHO %d", i))
	}
	// The client sends in chunks of 50 requests, as a socket delivers them.
	for len(reqs) > 0 {
		n := min(50, len(reqs))
		h.send(c, reqs[:n])
		reqs = reqs[n:]
		h.run()
		peak = max(peak, len(c.sock)+int(c.c.heldBytes())-c.c.unsent)
	}
	// Now it reads: a chunk at a time, the loops resuming it as it drains.
	for range 100_000 {
		if len(c.sock) == 0 && len(c.in.buf) == 0 {
			break
		}
		n := min(256<<10, len(c.sock))
		c.got = append(c.got, c.sock[:n]...)
		c.sock = c.sock[n:]
		h.loops[0].Unsent(c.c, len(c.sock))
		h.cron()
		h.run()
		peak = max(peak, len(c.sock)+int(c.c.heldBytes())-c.c.unsent)
	}
	return peak, c.got
}

// TestSlowReaderBounded: a client pipelining GETs of a 100 KB value and
// never reading holds at most dorivo-client-pause-bytes plus the replies
// of its first flight to other loops (clients.go, replySeed), counted in
// bytes, however many requests it sends; once it reads it gets every
// reply, in order.
func TestSlowReaderBounded(t *testing.T) {
	const gets = 400 // 40 MB of replies
	const reply = 100<<10 + 20
	peak, got := slowReader(t, command.DefaultPauseBytes, gets)
	t.Logf("peak held: %d bytes", peak)
	if limit := command.DefaultPauseBytes + (command.DefaultPauseBytes/replySeed+1)*reply; peak > limit {
		t.Errorf("held %d bytes for the slow client, want at most %d", peak, limit)
	}
	if fewer, _ := slowReader(t, command.DefaultPauseBytes, gets/4); peak > fewer+reply {
		t.Errorf("held %d bytes with %d GETs, %d with %d: the bound grows with the load", fewer, gets/4, peak, gets)
	}
	big := "$102400\r\n" + strings.Repeat("v", 100<<10) + "\r\n"
	var want bytes.Buffer
	want.WriteString("+OK\r\n+OK\r\n")
	for i := range gets {
		e := fmt.Sprint(i)
		fmt.Fprintf(&want, "%s$%d\r\n%s\r\n", big, len(e), e)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("the slow client got %d bytes, want %d (every reply, in order)", len(got), want.Len())
	}
	// Without the bound (Redis's behaviour with normal 0 0 0), the same
	// client holds every reply: the figure this bound exists for.
	if unbounded, _ := slowReader(t, 0, gets); unbounded < gets*(100<<10) {
		t.Errorf("unbounded: held %d bytes, want all %d", unbounded, gets*(100<<10))
	}
}

// TestNodeOutputBound: over dorivo-client-output-total, the clients
// holding the most (at least command.PauseMinBytes) are paused, however
// high their own bound; a client that reads its replies keeps running.
func TestNodeOutputBound(t *testing.T) {
	h := newHarness(t, harnessOpts{loops: 2, ringCap: 64, arena: 1 << 16, deferCap: 64, maxPending: 4096})
	cfg := *h.loops[0].cfg.Node.Config()
	cfg.PauseBytes, cfg.OutputTotalBytes = 0, 512<<10
	h.loops[0].cfg.Node.SetConfig(cfg)
	open := func(name string, loop int, slow bool) *hconn {
		c := &hconn{name: name, loop: loop, slow: slow}
		c.c = h.loops[loop].OpenAt(&c.in, "test", c, h.now)
		h.conns[name] = c
		return c
	}
	hog, reader := open("hog", 0, true), open("reader", 1, false)
	h.send(hog, []string{"SET {a}big " + strings.Repeat("v", 100<<10)})
	h.run()
	var gets []string
	for range 50 {
		gets = append(gets, "GET {a}big")
	}
	h.send(hog, gets)
	h.run()
	if !hog.c.Paused() {
		t.Fatalf("the client holding %d bytes is not paused", hog.c.heldBytes())
	}
	// As for the client's own bound: the node's, plus the first flight
	// of replies owed by the other loop (replySeed).
	if held := hog.c.heldBytes(); held > 512<<10+(512<<10/replySeed+1)*(100<<10+20) {
		t.Errorf("the paused client holds %d bytes, want about the node bound", held)
	}
	var echos []string
	for i := range 100 {
		echos = append(echos, fmt.Sprint("ECHO ", i))
	}
	h.send(reader, echos)
	h.run()
	if n := strings.Count(string(reader.got), "\r\n") / 2; n != 100 || reader.c.Paused() {
		t.Fatalf("the reading client got %d of 100 replies (paused %v)", n, reader.c.Paused())
	}
}
