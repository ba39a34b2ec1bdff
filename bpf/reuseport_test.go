package bpf_test

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dorivo/dorivo/bpf"
	"github.com/dorivo/dorivo/internal/testenv"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// sk_reuseport cannot be test-run: these tests steer real datagrams and
// connections between real sockets in a fresh network namespace.

const (
	rpLoops   = 4
	rpUDPPort = 17380
	rpTCPPort = 16380
)

var loopback = [4]byte{127, 0, 0, 1}

// family is the address family a socket test runs over: 127.0.0.1 or ::1.
type family struct {
	name   string
	domain int
}

var families = []family{{"v4", unix.AF_INET}, {"v6", unix.AF_INET6}}

func (f family) addr(port int) unix.Sockaddr {
	if f.domain == unix.AF_INET6 {
		return &unix.SockaddrInet6{Port: port, Addr: [16]byte{15: 1}}
	}
	return &unix.SockaddrInet4{Port: port, Addr: loopback}
}

func portOf(sa unix.Sockaddr) int {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return a.Port
	case *unix.SockaddrInet6:
		return a.Port
	}
	return -1
}

func reuseportStats(tb testing.TB, objs *bpf.DorivoObjects) map[bpf.DorivoReuseportReason]uint64 {
	tb.Helper()
	out := map[bpf.DorivoReuseportReason]uint64{}
	for r := bpf.DorivoReuseportReason(0); r < bpf.DorivoReuseportReasonRP_MAX; r++ {
		var per []uint64
		if err := objs.ReuseportStats.Lookup(uint32(r), &per); err != nil {
			tb.Fatal(err)
		}
		for _, v := range per {
			out[r] += v
		}
	}
	return out
}

func expectRP(tb testing.TB, objs *bpf.DorivoObjects, before map[bpf.DorivoReuseportReason]uint64, want map[bpf.DorivoReuseportReason]uint64) {
	tb.Helper()
	after := reuseportStats(tb, objs)
	for r := bpf.DorivoReuseportReason(0); r < bpf.DorivoReuseportReasonRP_MAX; r++ {
		if d := after[r] - before[r]; d != want[r] {
			tb.Errorf("reuseport_stats[%d] moved by %d, want %d (all: %v -> %v)", r, d, want[r], before, after)
		}
	}
}

func fillSlotLoop(tb testing.TB, objs *bpf.DorivoObjects, t *slot.Table) {
	tb.Helper()
	keys := make([]uint32, slot.Count)
	for i := range keys {
		keys[i] = uint32(i)
	}
	if _, err := objs.SlotLoop.BatchUpdate(keys, t[:], nil); err != nil {
		tb.Fatal(err)
	}
}

// reuseportGroup opens n SO_REUSEPORT sockets on 127.0.0.1:port (listening
// for TCP), registers socket i at index i of sockets and attaches the
// program to the group.
func reuseportGroup(tb testing.TB, objs *bpf.DorivoObjects, fam family, typ int, port int) []int {
	tb.Helper()
	m := objs.UdpSockets
	if typ == unix.SOCK_STREAM {
		m = objs.TcpSockets
	}
	fds := make([]int, rpLoops)
	for i := range fds {
		fd, err := unix.Socket(fam.domain, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { unix.Close(fd) })
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			tb.Fatal(err)
		}
		if err := unix.Bind(fd, fam.addr(port)); err != nil {
			tb.Fatal(err)
		}
		if typ == unix.SOCK_STREAM {
			if err := unix.Listen(fd, 128); err != nil {
				tb.Fatal(err)
			}
		}
		if err := m.Put(uint32(i), uint64(fd)); err != nil {
			tb.Fatalf("sockarray[%d] = fd %d: %v", i, fd, err)
		}
		fds[i] = fd
	}
	if err := unix.SetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_EBPF, objs.ReuseportSelect.FD()); err != nil {
		tb.Fatal(err)
	}
	return fds
}

// drainUDP collects want datagrams from the group and returns, per request
// id, the index of the socket that received it.
func drainUDP(tb testing.TB, fds []int, want int) map[uint32]int {
	tb.Helper()
	got := map[uint32]int{}
	buf := make([]byte, 2048)
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < want && time.Now().Before(deadline) {
		idle := true
		for i, fd := range fds {
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if err == unix.EAGAIN {
				continue
			}
			if err != nil {
				tb.Fatal(err)
			}
			idle = false
			if n < int(bpf.DorivoProtoPROTO_HDR_LEN) {
				tb.Fatalf("socket %d: short datagram %x", i, buf[:n])
			}
			got[binary.BigEndian.Uint32(buf[8:12])] = i
		}
		if idle {
			time.Sleep(time.Millisecond)
		}
	}
	if len(got) != want {
		tb.Fatalf("received %d of %d datagrams", len(got), want)
	}
	return got
}

type udpDatagram struct {
	id  uint32
	tag string
	raw []byte
}

func requestWithID(id uint32, tag string) []byte {
	b := newReq(bpf.DorivoOpcodeOP_GET, tag, "k", "").bytes()
	binary.BigEndian.PutUint32(b[8:12], id)
	return b
}

func sendBatch(tb testing.TB, cli int, dst unix.Sockaddr, ds []udpDatagram) {
	tb.Helper()
	for _, d := range ds {
		if err := unix.Sendto(cli, d.raw, 0, dst); err != nil {
			tb.Fatal(err)
		}
	}
}

func TestReuseportUDPSteersToSlotOwner(t *testing.T) {
	for _, fam := range families {
		t.Run(fam.name, func(t *testing.T) { testReuseportUDP(t, fam) })
	}
}

func testReuseportUDP(t *testing.T, fam family) {
	objs := loadObjects(t)
	table, err := slot.NewTable(rpLoops)
	if err != nil {
		t.Fatal(err)
	}
	fillSlotLoop(t, objs, table)
	ns := testenv.NewNetns(t, "rpudp")
	ns.Do(t, func() {
		fds := reuseportGroup(t, objs, fam, unix.SOCK_DGRAM, rpUDPPort)
		dst := fam.addr(rpUDPPort)
		cli, err := unix.Socket(fam.domain, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(cli)

		// 2000 random tags of 1..64 bytes, in batches small enough for
		// the receive buffers.
		const tenants, batch = 2000, 100
		rng := rand.New(rand.NewPCG(3, 4))
		perLoop := make([]int, rpLoops)
		before := reuseportStats(t, objs)
		for start := 0; start < tenants; start += batch {
			var ds []udpDatagram
			for id := start; id < start+batch; id++ {
				tag := make([]byte, 1+rng.IntN(int(bpf.DorivoProtoPROTO_MAX_TAG_LEN)))
				for j := range tag {
					tag[j] = byte(rng.Uint32())
				}
				ds = append(ds, udpDatagram{uint32(id), string(tag), requestWithID(uint32(id), string(tag))})
			}
			sendBatch(t, cli, dst, ds)
			got := drainUDP(t, fds, len(ds))
			for _, d := range ds {
				owner := table.Owner(slot.OfTag([]byte(d.tag)))
				if got[d.id] != owner {
					t.Fatalf("tag %x (slot %d): received by socket %d, want loop %d", d.tag, slot.OfTag([]byte(d.tag)), got[d.id], owner)
				}
				perLoop[owner]++
			}
		}
		expectRP(t, objs, before, map[bpf.DorivoReuseportReason]uint64{bpf.DorivoReuseportReasonRP_UDP_SELECTED: tenants})
		for i, n := range perLoop {
			if n == 0 {
				t.Errorf("loop %d received nothing: the test did not exercise it", i)
			}
		}

		// A hole in the sockarray: the owner's datagrams are still
		// delivered (kernel hash) and counted as misses.
		hole := 2
		if err := objs.UdpSockets.Delete(uint32(hole)); err != nil {
			t.Fatal(err)
		}
		var ds []udpDatagram
		for id := tenants; len(ds) < 50; id++ {
			tag := fmt.Sprintf("tenant-%d", id)
			if table.Owner(slot.OfTag([]byte(tag))) == hole {
				ds = append(ds, udpDatagram{uint32(id), tag, requestWithID(uint32(id), tag)})
			}
		}
		before = reuseportStats(t, objs)
		sendBatch(t, cli, dst, ds)
		drainUDP(t, fds, len(ds))
		expectRP(t, objs, before, map[bpf.DorivoReuseportReason]uint64{bpf.DorivoReuseportReasonRP_UDP_MISS: uint64(len(ds))})

		// Unparsable datagrams are delivered too, and counted.
		bad := []udpDatagram{
			{id: 1, raw: func() []byte { b := requestWithID(900001, "x"); b[0] = 0; return b }()},       // bad magic
			{id: 2, raw: func() []byte { b := requestWithID(900002, "x"); b[6] = 0; return b }()},       // tag_len 0
			{id: 3, raw: func() []byte { b := requestWithID(900003, "x"); b[6] = 65; return b }()},      // tag_len 65
			{id: 4, raw: func() []byte { b := requestWithID(900004, "abcdef"); b[6] = 64; return b }()}, // tag past the end
		}
		before = reuseportStats(t, objs)
		sendBatch(t, cli, dst, bad)
		drainUDP(t, fds, len(bad))
		expectRP(t, objs, before, map[bpf.DorivoReuseportReason]uint64{bpf.DorivoReuseportReasonRP_UDP_MALFORMED: uint64(len(bad))})
	})
}

// acceptFrom accepts from every listener until it finds the connection
// whose peer port is sport, and returns that listener's index.
func acceptFrom(tb testing.TB, fds []int, sport int) int {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for i, fd := range fds {
			nfd, sa, err := unix.Accept4(fd, unix.SOCK_CLOEXEC)
			if err == unix.EAGAIN {
				continue
			}
			if err != nil {
				tb.Fatal(err)
			}
			unix.Close(nfd)
			if portOf(sa) != sport {
				tb.Fatalf("listener %d accepted a connection from port %d, want %d", i, portOf(sa), sport)
			}
			return i
		}
		time.Sleep(time.Millisecond)
	}
	tb.Fatalf("no listener accepted the connection from port %d", sport)
	return -1
}

// connectEphemeral connects from a port the kernel picks and returns it.
func connectEphemeral(tb testing.TB, fam family, dport int) int {
	tb.Helper()
	fd, err := unix.Socket(fam.domain, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, fam.addr(dport)); err != nil {
		tb.Fatalf("connect: %v", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		tb.Fatal(err)
	}
	return portOf(sa)
}

func connectFrom(tb testing.TB, fam family, sport, dport int) {
	tb.Helper()
	fd, err := unix.Socket(fam.domain, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		tb.Fatal(err)
	}
	if err := unix.Bind(fd, fam.addr(sport)); err != nil {
		tb.Fatalf("bind client port %d: %v", sport, err)
	}
	if err := unix.Connect(fd, fam.addr(dport)); err != nil {
		tb.Fatalf("connect from port %d: %v", sport, err)
	}
}

func TestReuseportTCPSteersBySourcePort(t *testing.T) {
	for _, fam := range families {
		t.Run(fam.name, func(t *testing.T) { testReuseportTCP(t, fam) })
	}
}

func testReuseportTCP(t *testing.T, fam family) {
	objs := loadObjects(t)
	setConfig(t, objs, bpf.DorivoAgentConfig{UdpPort: udpPort, TcpPort: rpTCPPort, NumLoops: rpLoops})
	ns := testenv.NewNetns(t, "rptcp")
	ns.Do(t, func() {
		fds := reuseportGroup(t, objs, fam, unix.SOCK_STREAM, rpTCPPort)
		before := reuseportStats(t, objs)
		const conns = 40
		for i := range conns {
			sport := 45000 + i*7 // every owner, in no simple order
			connectFrom(t, fam, sport, rpTCPPort)
			if got, want := acceptFrom(t, fds, sport), slot.PortOwner(uint16(sport), rpLoops); got != want {
				t.Errorf("connection from port %d accepted by listener %d, want %d", sport, got, want)
			}
		}
		expectRP(t, objs, before, map[bpf.DorivoReuseportReason]uint64{bpf.DorivoReuseportReasonRP_TCP_SELECTED: conns})

		// Plain clients: connect() picks even ephemeral ports, and they must
		// still reach every loop, each at the loop its port names.
		perLoop := make([]int, rpLoops)
		for range conns {
			sport := connectEphemeral(t, fam, rpTCPPort)
			got := acceptFrom(t, fds, sport)
			if want := slot.PortOwner(uint16(sport), rpLoops); got != want {
				t.Errorf("plain connection from port %d accepted by listener %d, want %d", sport, got, want)
			}
			perLoop[got]++
		}
		for i, n := range perLoop {
			if n == 0 {
				t.Errorf("%d plain connections reached listeners %v: none reached %d", conns, perLoop, i)
			}
		}

		// A hole: the connection is still accepted, by hash, and counted.
		hole := 1
		if err := objs.TcpSockets.Delete(uint32(hole)); err != nil {
			t.Fatal(err)
		}
		before = reuseportStats(t, objs)
		for from := uint16(46000); from < 46300; from += 100 {
			p, _ := slot.PortFor(from, hole, rpLoops)
			sport := int(p)
			connectFrom(t, fam, sport, rpTCPPort)
			acceptFrom(t, fds, sport)
		}
		expectRP(t, objs, before, map[bpf.DorivoReuseportReason]uint64{bpf.DorivoReuseportReasonRP_TCP_MISS: 3})

		// num_loops 0: no steering at all, still accepted.
		setConfig(t, objs, bpf.DorivoAgentConfig{UdpPort: udpPort, TcpPort: rpTCPPort})
		before = reuseportStats(t, objs)
		connectFrom(t, fam, 46100, rpTCPPort)
		acceptFrom(t, fds, 46100)
		expectRP(t, objs, before, map[bpf.DorivoReuseportReason]uint64{bpf.DorivoReuseportReasonRP_TCP_MISS: 1})
	})
}
