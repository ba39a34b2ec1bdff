package server

import (
	"bytes"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/dorivo/dorivo/bpf"
	"github.com/dorivo/dorivo/datapath/wire"
	"github.com/dorivo/dorivo/datapath/wire/auth"
	"github.com/dorivo/dorivo/internal/testenv"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// loadSteering loads the BPF collection and fills slot_loop and config the
// way the agent does for a server of loops loops on port.
func loadSteering(t *testing.T, tb *slot.Table, loops, port int) *bpf.DorivoObjects {
	t.Helper()
	var objs bpf.DorivoObjects
	if err := bpf.LoadDorivoObjects(&objs, nil); err != nil {
		t.Fatalf("load BPF objects: %v", err)
	}
	t.Cleanup(func() { objs.Close() })
	keys := make([]uint32, slot.Count)
	vals := make([]uint32, slot.Count)
	for s := range slot.Count {
		keys[s], vals[s] = uint32(s), tb[s]
	}
	if _, err := objs.SlotLoop.BatchUpdate(keys, vals, nil); err != nil {
		for s := range slot.Count { // kernels without batch ops
			if err := objs.SlotLoop.Update(keys[s], vals[s], ebpf.UpdateAny); err != nil {
				t.Fatalf("slot_loop[%d]: %v", s, err)
			}
		}
	}
	cfg := bpf.DorivoAgentConfig{UdpPort: uint16(port), TcpPort: uint16(port), NumLoops: uint32(loops)}
	if err := objs.Config.Update(uint32(0), &cfg, ebpf.UpdateAny); err != nil {
		t.Fatalf("config: %v", err)
	}
	return &objs
}

type udpClient struct {
	t   *testing.T
	c   *net.UDPConn
	buf []byte
	id  uint32
	key wire.Key // signs requests when set
}

// testKey is the datagram key of the tenants authFor names.
var testKey, _ = wire.ParseKey("000102030405060708090a0b0c0d0e0f")

// authFor is an auth table giving each of tags testKey: their datagrams
// must be signed, and their replies are, with no bound on their length.
func authFor(tags ...string) *atomic.Pointer[auth.Table] {
	t := &auth.Table{Tenants: map[string]auth.Tenant{}}
	for _, tag := range tags {
		t.Tenants[tag] = auth.Tenant{Key: testKey}
	}
	p := new(atomic.Pointer[auth.Table])
	p.Store(t)
	return p
}

func udpDialIn(t *testing.T, ns *testenv.Netns, addr string) *udpClient {
	t.Helper()
	var c *net.UDPConn
	var err error
	ns.Do(t, func() {
		var ra *net.UDPAddr
		if ra, err = net.ResolveUDPAddr("udp", addr); err == nil {
			c, err = net.DialUDP("udp", nil, ra)
		}
	})
	if err != nil {
		t.Fatalf("udp dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return &udpClient{t: t, c: c, buf: make([]byte, 65536)}
}

// do sends one request and returns its reply.
func (u *udpClient) do(op wire.Opcode, key, val string) wire.Reply {
	u.t.Helper()
	u.id++
	req := wire.Request{ID: u.id, Op: op, Key: []byte(key), Value: []byte(val)}
	b, err := wire.AppendRequest(nil, &req)
	if !u.key.IsZero() {
		b, err = wire.AppendSignedRequest(nil, &req, u.key, time.Now().UnixNano())
	}
	if err != nil {
		u.t.Fatalf("build request: %v", err)
	}
	return u.roundTrip(b, u.id)
}

func (u *udpClient) roundTrip(b []byte, id uint32) wire.Reply {
	u.t.Helper()
	if _, err := u.c.Write(b); err != nil {
		u.t.Fatalf("udp write: %v", err)
	}
	_ = u.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := u.c.Read(u.buf)
	if err != nil {
		u.t.Fatalf("udp read (request %d): %v", id, err)
	}
	var r wire.Reply
	if err := wire.ParseReply(u.buf[:n], &r); err != nil {
		u.t.Fatalf("parse reply: %v", err)
	}
	if r.ID != id {
		u.t.Fatalf("reply id %d, want %d", r.ID, id)
	}
	if !u.key.IsZero() && (!r.Signed || !wire.Verify(u.buf[:n], u.key)) {
		u.t.Fatalf("reply to signed request %d is not signed under its key", id)
	}
	r.Body = bytes.Clone(r.Body)
	return r
}

// TestSteeringWithProgram: with reuseport_select attached and the sockarrays
// filled by the server, every datagram is served by its slot's owner loop
// (no non-owner arrivals, per-loop counts match the table) and a TCP client
// whose source port is owner mod N lands on that loop.
func TestSteeringWithProgram(t *testing.T) {
	const loops, port = 3, 7201
	tb, _ := slot.NewTable(loops)
	objs := loadSteering(t, tb, loops, port)
	ns := testenv.NewNetns(t, "steer")
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	s := startIn(t, ns, Config{
		TCPAddr: addr, UDPAddr: addr, Loops: loops, Table: tb,
		TCPSockets: objs.TcpSockets, UDPSockets: objs.UdpSockets, Reuseport: objs.ReuseportSelect,
	})

	u := udpDialIn(t, ns, addr)
	want := make([]uint64, loops)
	for i := range 300 {
		key := fmt.Sprintf("{tenant%d}:k", i)
		want[tb.Owner(slot.Of([]byte(key)))] += 2
		if r := u.do(wire.OpSet, key, "v"+key); r.Status != wire.StatusOK {
			t.Fatalf("SET %s: status %d %q", key, r.Status, r.Body)
		}
		if r := u.do(wire.OpGet, key, ""); r.Status != wire.StatusOK || string(r.Body) != "v"+key {
			t.Fatalf("GET %s: status %d %q", key, r.Status, r.Body)
		}
	}
	st := s.Stats()
	for i, ls := range st {
		if ls.NonOwner != 0 {
			t.Errorf("loop %d: %d datagrams arrived at a non-owner", i, ls.NonOwner)
		}
		if ls.Datagrams != want[i] || ls.Executed != want[i] {
			t.Errorf("loop %d: received %d, executed %d datagrams, want %d by the slot table", i, ls.Datagrams, ls.Executed, want[i])
		}
	}

	// Oversized SET: an error reply telling the client to use TCP.
	big := wire.Request{ID: 999, Op: wire.OpSet, Tag: []byte("big"), Key: []byte("{big}"), Value: make([]byte, wire.MaxValueLen+1)}
	if r := u.roundTrip(wire.AppendRequestUnchecked(nil, &big), 999); r.Status != wire.StatusError || string(r.Body) != wire.ValueTooLargeMessage {
		t.Errorf("oversized SET: status %d %q", r.Status, r.Body)
	}

	// TCP: shard-aware source ports.
	for k := range loops {
		before := s.Stats()[k].Accepted
		for m := range 3 {
			sport, _ := slot.PortFor(uint16(30000+2*loops*m), k, loops)
			c := dialIn(t, ns, addr, int(sport))
			if got := c.do("PING"); got != "+PONG" {
				t.Fatalf("PING = %q", got)
			}
		}
		if got := s.Stats()[k].Accepted - before; got != 3 {
			t.Errorf("loop %d accepted %d of the 3 connections from ports aimed at it", k, got)
		}
	}
}

// TestSteeringWithoutProgram: the kernel's hash spreads datagrams, some
// reach non-owner loops, and those are forwarded and answered correctly.
func TestSteeringWithoutProgram(t *testing.T) {
	const loops, port = 3, 7202
	ns := testenv.NewNetns(t, "nosteer")
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	s := startIn(t, ns, Config{UDPAddr: addr, Loops: loops})
	for c := range 20 {
		u := udpDialIn(t, ns, addr) // a new source port: a new hash
		for i := range 10 {
			key := fmt.Sprintf("{c%dt%d}", c, i)
			if r := u.do(wire.OpSet, key, "v"+key); r.Status != wire.StatusOK {
				t.Fatalf("SET %s: status %d %q", key, r.Status, r.Body)
			}
			if r := u.do(wire.OpGet, key, ""); r.Status != wire.StatusOK || string(r.Body) != "v"+key {
				t.Fatalf("GET %s: status %d %q", key, r.Status, r.Body)
			}
			if r := u.do(wire.OpDel, key, ""); r.Status != wire.StatusOK {
				t.Fatalf("DEL %s: status %d", key, r.Status)
			}
			if r := u.do(wire.OpGet, key, ""); r.Status != wire.StatusNotFound {
				t.Fatalf("GET %s after DEL: status %d", key, r.Status)
			}
		}
	}
	var nonOwner, forwarded uint64
	for _, ls := range s.Stats() {
		nonOwner += ls.NonOwner
		forwarded += ls.CrossRecv
	}
	if nonOwner == 0 || forwarded != nonOwner {
		t.Errorf("without the program: %d non-owner datagrams, %d forwarded; want > 0 and equal", nonOwner, forwarded)
	}
	// A malformed datagram is a counted drop, not a reply.
	totalDrops := func() (n uint64) {
		for _, ls := range s.Stats() {
			n += ls.Drops
		}
		return n
	}
	before := totalDrops()
	u := udpDialIn(t, ns, addr)
	if _, err := u.c.Write([]byte("not a datagram of ours")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for totalDrops() == before {
		if time.Now().After(deadline) {
			t.Fatal("the malformed datagram was not counted as a drop")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := totalDrops() - before; got != 1 {
		t.Fatalf("one malformed datagram moved drops by %d", got)
	}
}
