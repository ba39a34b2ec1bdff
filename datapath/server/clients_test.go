package server

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dorivo/dorivo/datapath/command"
	"github.com/dorivo/dorivo/datapath/core"
	"github.com/dorivo/dorivo/datapath/internal/difftest"
	"github.com/dorivo/dorivo/internal/redistest"
	"github.com/dorivo/dorivo/internal/testenv"
)

// A client that pipelines GETs of a 100 KB value and does not read is
// paused: the loops hold a bounded number of its reply bytes, stop reading
// its socket (its writer blocks on TCP flow control instead of filling
// gnet's inbound buffer), and once it reads it gets every reply in order.
func TestSlowReaderPausedOverTCP(t *testing.T) {
	ns := testenv.NewNetns(t, "slowrd")
	const addr = "127.0.0.1:7321"
	s := startIn(t, ns, Config{TCPAddr: addr, Loops: 2})
	a := dialIn(t, ns, addr, 0)
	big := strings.Repeat("v", 100<<10)
	if got := a.do("SET", "big", big); got != "+OK" {
		t.Fatalf("SET = %q", got)
	}
	slow := dialIn(t, ns, addr, 0)
	const n = 2000
	pad := strings.Repeat("p", 8<<10) // 16 MB of requests: more than the socket buffers take
	done := make(chan error, 1)
	go func() {
		w := bufio.NewWriterSize(slow.c, 1<<16)
		for i := range n {
			w.Write(cmd("GET", "big"))
			w.Write(cmd("ECHO", fmt.Sprint(i, pad)))
		}
		done <- w.Flush()
	}()
	deadline := time.Now().Add(20 * time.Second)
	for paused(s) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("never paused: %+v", s.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // the writer would finish now if its bytes were read
	select {
	case err := <-done:
		t.Fatalf("the writer finished while its client was paused (%v): the socket was read", err)
	default:
	}
	var held uint64
	for _, st := range s.Stats() {
		held += st.OutputBytes
	}
	if limit := uint64(command.DefaultPauseBytes + 17*(100<<10+8<<10)); held > limit {
		t.Errorf("loops hold %d unsent bytes for the paused client, want at most %d", held, limit)
	}
	info := a.do("INFO", "clients")
	if infoField(info, "dorivo_paused_clients") != "1" || infoField(info, "dorivo_client_pauses") == "0" || infoField(info, "client_recent_max_output_buffer") == "0" {
		t.Errorf("INFO clients while one client is paused:\n%s", strings.ReplaceAll(info, "|", "\n"))
	}
	// Now it reads: every reply, in order.
	_ = slow.c.SetReadDeadline(time.Now().Add(60 * time.Second))
	want := fmt.Sprintf("$%d\r\n%s\r\n", len(big), big)
	buf := make([]byte, len(want))
	for i := range n {
		if _, err := io.ReadFull(slow.r, buf); err != nil || string(buf) != want {
			t.Fatalf("reply %d to GET: %v %q", i, err, buf[:min(20, len(buf))])
		}
		echo := fmt.Sprint(i, pad)
		e := fmt.Sprintf("$%d\r\n%s\r\n", len(echo), echo)
		eb := make([]byte, len(e))
		if _, err := io.ReadFull(slow.r, eb); err != nil || string(eb) != e {
			t.Fatalf("reply %d to ECHO: %v %q", i, err, eb[:min(20, len(eb))])
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("writer: %v", err)
	}
	var pauses uint64
	for _, st := range s.Stats() {
		pauses += st.Pauses
	}
	if pauses == 0 || paused(s) != 0 {
		t.Fatalf("pauses=%d paused now=%d, want some and none", pauses, paused(s))
	}
	if got := a.do("PING"); got != "+PONG" {
		t.Fatalf("PING = %q", got)
	}
}

func paused(s *Server) (n uint64) {
	for _, st := range s.Stats() {
		n += st.Paused
	}
	return n
}

// timeout: 100 idle connections under maxclients 100 lock everyone out
// until the timeout reaps them; then a new client gets in.
func TestIdleClientsReaped(t *testing.T) {
	ns := testenv.NewNetns(t, "idle")
	const addr = "127.0.0.1:7322"
	node := command.NewNode()
	cfg := *node.Config()
	cfg.Timeout = 1
	node.SetConfig(cfg)
	s := startIn(t, ns, Config{TCPAddr: addr, Loops: 2, MaxClients: 100, Node: node})
	for range 100 {
		c := dialIn(t, ns, addr, 0)
		if got := c.do("PING"); got != "+PONG" {
			t.Fatalf("PING = %q", got)
		}
	}
	if got := dialIn(t, ns, addr, 0).read(); got != "-"+errMaxClients {
		t.Fatalf("client 101 got %q, want %q", got, errMaxClients)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := dialIn(t, ns, addr, 0)
		c.send(cmd("PING"))
		if got := c.read(); got == "+PONG" {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("still refused after the timeout: %q", got)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for {
		var reaped uint64
		for _, st := range s.Stats() {
			reaped += st.Timeouts
		}
		if reaped >= 100 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("timeouts = %d, want the 100 idle clients", reaped)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// CLIENT's replies against redis-server 7.0.15: the field names and order
// of CLIENT INFO and LIST, and every error, byte for byte.
func TestClientCommandsMatchRedis(t *testing.T) {
	redis := redistest.Start(t)
	_, addr := startRoot(t, Config{Loops: 2})
	difftest.Run(t, redis.Addr, addr, difftest.ClientCases)
}

// CLIENT PAUSE WRITE holds writes of every client, on every loop, until
// CLIENT UNPAUSE; reads go on.
func TestClientPauseHoldsWrites(t *testing.T) {
	ns := testenv.NewNetns(t, "cpause")
	const addr = "127.0.0.1:7323"
	startIn(t, ns, Config{TCPAddr: addr, Loops: 2})
	a, b := dialIn(t, ns, addr, 0), dialIn(t, ns, addr, 0)
	if got := a.do("CLIENT", "PAUSE", "60000", "WRITE"); got != "+OK" {
		t.Fatalf("CLIENT PAUSE = %q", got)
	}
	if got := b.do("GET", "k"); got != "$-1" {
		t.Fatalf("GET under PAUSE WRITE = %q", got)
	}
	b.send(cmd("SET", "k", "v"))
	_ = b.c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if s, err := readReply(b.r); err == nil {
		t.Fatalf("SET answered %q while writes were paused", s)
	}
	if got := a.do("CLIENT", "UNPAUSE"); got != "+OK" {
		t.Fatalf("CLIENT UNPAUSE = %q", got)
	}
	if got := b.read(); got != "+OK" {
		t.Fatalf("SET after UNPAUSE = %q", got)
	}
}

// A tenant's quota holds over TCP, on whichever loop its connection
// lands: a burst of 300 requests gets the 100 of the burst plus what the
// rate refilled meanwhile, the rest the quota error.
func TestTenantQuotaOverTCP(t *testing.T) {
	ns := testenv.NewNetns(t, "quota")
	const addr = "127.0.0.1:7324"
	var quotas atomic.Pointer[core.Quotas]
	quotas.Store(&core.Quotas{"acme": {Rate: 100, Burst: 100}})
	startIn(t, ns, Config{TCPAddr: addr, Loops: 2, Quotas: &quotas})
	admin := dialIn(t, ns, addr, 0)
	if got := admin.do("ACL", "SETUSER", "acme", "on", ">pw", "~{acme}*", "+@all"); got != "+OK" {
		t.Fatalf("ACL SETUSER = %q", got)
	}
	for range 4 { // connections on both loops
		c := dialIn(t, ns, addr, 0)
		if got := c.do("AUTH", "acme", "pw"); got != "+OK" {
			t.Fatalf("AUTH = %q", got)
		}
		start := time.Now()
		var pipe []byte
		for range 300 {
			pipe = append(pipe, cmd("SET", "{acme}k", "v")...)
		}
		c.send(pipe)
		ok, refused := 0, 0
		for range 300 {
			switch got := c.read(); got {
			case "+OK":
				ok++
			case "-" + core.ErrQuota:
				refused++
			default:
				t.Fatalf("reply %q", got)
			}
		}
		// The bucket refills at 100/s: at most the burst (first round) or
		// what accrued since the last round, plus the time this one took.
		if most := 100 + int(time.Since(start).Seconds()*100) + 1; ok > most || refused < 300-most {
			t.Fatalf("%d OK and %d refused in %v, want at most %d OK", ok, refused, time.Since(start), most)
		}
		time.Sleep(200 * time.Millisecond) // refills about 20
	}
	if got := admin.do("SET", "{acme}k", "v"); got != "+OK" {
		t.Fatalf("SET by a user without quota = %q", got)
	}
}
