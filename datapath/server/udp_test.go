package server

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/dorivo/dorivo/datapath/wire"
	"github.com/dorivo/dorivo/internal/testenv"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// batchClient is a test's datagram client with batched sends and receives
// through golang.org/x/net/ipv4 (an implementation independent of the
// server's udp.go), signing with testKey.
type batchClient struct {
	t  *testing.T
	c  *net.UDPConn
	pc *ipv4.PacketConn
	id uint32
}

func batchDialIn(t *testing.T, ns *testenv.Netns, network, addr string) *batchClient {
	t.Helper()
	var c *net.UDPConn
	var err error
	ns.Do(t, func() {
		var ra *net.UDPAddr
		if ra, err = net.ResolveUDPAddr(network, addr); err == nil {
			c, err = net.DialUDP(network, nil, ra)
		}
	})
	if err != nil {
		t.Fatalf("udp dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	// Room for every reply of a burst (the default buffer holds ~200).
	if rc, err := c.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
		})
	}
	return &batchClient{t: t, c: c, pc: ipv4.NewPacketConn(c)}
}

// op is one request of a burst and what its reply must be.
type op struct {
	code       wire.Opcode
	key, value string
	status     wire.Status
	body       string
}

// send sends ops as signed requests in sendmmsg batches and returns their
// IDs in order.
func (b *batchClient) send(ops []op) []uint32 {
	b.t.Helper()
	ids := make([]uint32, len(ops))
	msgs := make([]ipv4.Message, len(ops))
	for i, o := range ops {
		b.id++
		ids[i] = b.id
		req := wire.Request{ID: b.id, Op: o.code, Key: []byte(o.key), Value: []byte(o.value)}
		dg, err := wire.AppendSignedRequest(nil, &req, testKey, time.Now().UnixNano())
		if err != nil {
			b.t.Fatalf("build request: %v", err)
		}
		msgs[i].Buffers = [][]byte{dg}
	}
	for i := 0; i < len(msgs); {
		n, err := b.pc.WriteBatch(msgs[i:], 0)
		if err != nil {
			b.t.Fatalf("sendmmsg: %v", err)
		}
		i += n
	}
	return ids
}

// check reads one reply for each of ids and compares it with ops.
func (b *batchClient) check(ops []op, ids []uint32) {
	b.t.Helper()
	want := map[uint32]op{}
	for i, id := range ids {
		want[id] = ops[i]
	}
	msgs := make([]ipv4.Message, 64)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, wire.MaxDatagram)}
	}
	_ = b.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for len(want) > 0 {
		n, err := b.pc.ReadBatch(msgs, 0)
		if err != nil {
			b.t.Fatalf("recvmmsg with %d replies missing: %v", len(want), err)
		}
		for _, m := range msgs[:n] {
			dg := m.Buffers[0][:m.N]
			var r wire.Reply
			if err := wire.ParseReply(dg, &r); err != nil {
				b.t.Fatalf("parse reply: %v", err)
			}
			o, ok := want[r.ID]
			if !ok {
				b.t.Fatalf("reply for request %d: not asked or answered twice", r.ID)
			}
			delete(want, r.ID)
			if !r.Signed || !wire.Verify(dg, testKey) {
				b.t.Fatalf("reply %d not signed under the request's key", r.ID)
			}
			if r.Op != o.code || r.Status != o.status || string(r.Body) != o.body {
				b.t.Fatalf("%v %s: reply %v %v %q, want %v %q", o.code, o.key, r.Op, r.Status, r.Body, o.status, o.body)
			}
		}
	}
}

// udpCounters sums every loop's udpIO counters, read on the loops.
func udpCounters(t *testing.T, s *Server) (wakeups, recvCalls, recvd, sendCalls, sent, msgs uint64) {
	t.Helper()
	for i, l := range s.loops {
		err := s.RunOnLoop(context.Background(), i, func() {
			wakeups += l.udp.wakeups
			recvCalls += l.udp.recvCalls
			recvd += l.udp.recvd
			sendCalls += l.udp.sendCalls
			sent += l.udp.sent
			msgs += l.udp.sentMsgs
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return
}

// A burst queued while the loop is busy is read in recvmmsg batches of
// udpBatch and answered in sendmmsg batches: 300 datagrams take two
// wakeups (gnet reads one datagram each, the loop drains udpDrainRounds
// batches), and every reply is right.
func TestDatagramBurstIsBatched(t *testing.T) {
	ns := testenv.NewNetns(t, "dgbatch")
	const addr = "127.0.0.1:7341"
	s := startIn(t, ns, Config{UDPAddr: addr, Loops: 1, Auth: authFor("b")})
	c := batchDialIn(t, ns, "udp4", addr)

	const n = 300
	sets := make([]op, n)
	for i := range sets {
		k := fmt.Sprintf("{b}k%d", i)
		sets[i] = op{code: wire.OpSet, key: k, value: "v" + k, status: wire.StatusOK}
	}
	// Hold the loop while the whole burst queues on its socket.
	release := make(chan struct{})
	held := make(chan struct{})
	go func() {
		_ = s.RunOnLoop(context.Background(), 0, func() { close(held); <-release })
	}()
	<-held
	ids := c.send(sets)
	waitQueued(t, ns, 7341)
	close(release)
	c.check(sets, ids)

	wakeups, recvCalls, recvd, sendCalls, sent, msgs := udpCounters(t, s)
	t.Logf("%d datagrams: %d wakeups, %d recvmmsg calls reading %d, %d sendmmsg calls sending %d in %d messages",
		n, wakeups, recvCalls, recvd, sendCalls, sent, msgs)
	// gnet reads one datagram per wakeup, recvmmsg the others; one
	// wakeup drains at most 1+udpDrainRounds*udpBatch = 257.
	if wakeups < 2 || wakeups > 3 || recvd != n-wakeups || sent != n {
		t.Fatalf("got %d wakeups, %d datagrams by recvmmsg, %d replies by sendmmsg; want 2 (3 if the burst was split), %d, %d",
			wakeups, recvd, sent, n-wakeups, n)
	}
	if recvCalls > 6 || sendCalls > 8 {
		t.Fatalf("%d recvmmsg and %d sendmmsg calls for %d datagrams: not batched", recvCalls, sendCalls, n)
	}
	// The SET replies are alike and contiguous: with UDP GSO, a message
	// carries up to udpMaxSegs of them.
	if s.loops[0].udp.gso && msgs > 16 {
		t.Fatalf("%d replies in %d messages: not coalesced by UDP_SEGMENT", sent, msgs)
	}

	// Read back through the same path: GET, DEL, GET of a deleted key.
	for _, stage := range []func(op) op{
		func(o op) op { return op{code: wire.OpGet, key: o.key, status: wire.StatusOK, body: o.value} },
		func(o op) op { return op{code: wire.OpDel, key: o.key, status: wire.StatusOK} },
		func(o op) op { return op{code: wire.OpGet, key: o.key, status: wire.StatusNotFound} },
	} {
		ops := make([]op, n)
		for i := range ops {
			ops[i] = stage(sets[i])
		}
		c.check(ops, c.send(ops))
	}
}

// waitQueued waits until the UDP socket on port in ns has stopped
// growing its receive queue (loopback delivers within the sender's
// syscall, so this is at once) and checks it dropped nothing.
func waitQueued(t *testing.T, ns *testenv.Netns, port int) {
	t.Helper()
	last, same := -1, 0
	for range 500 {
		var queued, drops int
		ns.Do(t, func() { queued, drops = procUDP(t, port) })
		if drops > 0 {
			t.Fatalf("the server socket dropped %d datagrams", drops)
		}
		if queued > 0 && queued == last {
			if same++; same == 3 {
				return
			}
		} else {
			same = 0
		}
		last = queued
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("the receive queue of port %d never settled (last %d bytes)", port, last)
}

// procUDP reads the receive queue (bytes) and drops of the UDP socket on
// port from /proc/thread-self/net/udp (the calling thread's namespace).
func procUDP(t *testing.T, port int) (queued, drops int) {
	t.Helper()
	b, err := os.ReadFile("/proc/thread-self/net/udp")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 13 || !strings.HasSuffix(f[1], fmt.Sprintf(":%04X", port)) {
			continue
		}
		_, rx, _ := strings.Cut(f[4], ":")
		q, err1 := strconv.ParseInt(rx, 16, 64)
		d, err2 := strconv.Atoi(f[len(f)-1])
		if err1 != nil || err2 != nil {
			t.Fatalf("/proc/net/udp line %q", line)
		}
		return int(q), d
	}
	t.Fatalf("no UDP socket on port %d in /proc/net/udp", port)
	return 0, 0
}

// A dual-stack socket (":port", which gnet binds AF_INET6 without V6ONLY) answers IPv4 clients at their v4-mapped
// address and IPv6 clients at theirs, through the batched path.
func TestDatagramBatchesIPv6Socket(t *testing.T) {
	ns := testenv.NewNetns(t, "dgbatch6")
	startIn(t, ns, Config{UDPAddr: ":7342", Loops: 2, Auth: authFor("x", "y")})
	var wg sync.WaitGroup
	for _, dial := range [][2]string{{"udp4", "127.0.0.1:7342"}, {"udp6", "[::1]:7342"}} {
		c := batchDialIn(t, ns, dial[0], dial[1])
		wg.Go(func() {
			sets := make([]op, 200)
			gets := make([]op, 200)
			for i := range sets {
				k := fmt.Sprintf("{%c}%s-%d", "xy"[i%2], dial[0], i)
				sets[i] = op{code: wire.OpSet, key: k, value: "v" + k, status: wire.StatusOK}
				gets[i] = op{code: wire.OpGet, key: k, status: wire.StatusOK, body: "v" + k}
			}
			c.check(sets, c.send(sets))
			c.check(gets, c.send(gets))
		})
	}
	wg.Wait()
}

// Many sockets at once on two loops: requests for the other loop's slots
// cross and are answered from its socket in its own batches.
func TestDatagramBatchesManySockets(t *testing.T) {
	ns := testenv.NewNetns(t, "dgbatchn")
	const addr = "127.0.0.1:7343"
	tags := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	startIn(t, ns, Config{UDPAddr: addr, Loops: 2, Auth: authFor(tags...)})
	var wg sync.WaitGroup
	for si := range 8 {
		c := batchDialIn(t, ns, "udp4", addr)
		wg.Go(func() {
			for round := range 4 {
				sets := make([]op, 128)
				gets := make([]op, 128)
				for i := range sets {
					k := fmt.Sprintf("{%s}s%d-r%d-%d", tags[(si+i)%len(tags)], si, round, i)
					sets[i] = op{code: wire.OpSet, key: k, value: "v" + k, status: wire.StatusOK}
					gets[i] = op{code: wire.OpGet, key: k, status: wire.StatusOK, body: "v" + k}
				}
				c.check(sets, c.send(sets))
				c.check(gets, c.send(gets))
			}
		})
	}
	wg.Wait()
}

// The sockaddrs the loop writes for sendmmsg decode back to the address
// they were made from, for either socket family.
func TestSockaddrRoundTrip(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		for _, s := range []string{"127.0.0.1:1", "10.1.2.3:65535", "[::1]:6379", "[fe80::1]:443", "[::ffff:192.0.2.7]:53"} {
			to := netip.MustParseAddrPort(s)
			if !v6 && to.Addr().Unmap().Is6() {
				continue // an AF_INET socket has no IPv6 peers
			}
			u := &udpIO{v6: v6}
			u.queue([]byte("x"), to)
			got := fromRaw(&u.sname[0])
			want := to
			if v6 {
				want = netip.AddrPortFrom(netip.AddrFrom16(to.Addr().As16()), to.Port())
			} else {
				want = netip.AddrPortFrom(to.Addr().Unmap(), to.Port())
			}
			if got != want {
				t.Errorf("v6 socket %v: %s came back as %s", v6, to, got)
			}
			wantLen := uint32(unix.SizeofSockaddrInet4)
			if v6 {
				wantLen = unix.SizeofSockaddrInet6
			}
			if u.shdr[0].Hdr.Namelen != wantLen {
				t.Errorf("v6 socket %v: %s: namelen %d, want %d", v6, to, u.shdr[0].Hdr.Namelen, wantLen)
			}
		}
	}
	// The port bytes are in network order, as the kernel reads them.
	var sa unix.RawSockaddrInet4
	setNetPort(&sa.Port, 0x1234)
	if b := (*[2]byte)(unsafe.Pointer(&sa.Port)); b[0] != 0x12 || b[1] != 0x34 {
		t.Fatalf("port bytes %x, want 12 34", b[:])
	}
}
