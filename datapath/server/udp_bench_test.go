package server

import (
	"context"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/dorivo/dorivo/datapath/wire"
	"github.com/dorivo/dorivo/internal/testenv"
	"golang.org/x/sys/unix"
)

// BenchmarkDatagrams measures the datagram path end to end on one loop:
// a client socket sends `depth` signed GETs with one sendmmsg and waits for
// all their replies (recvmmsg), over and over; one op is one datagram
// answered. allocs/op counts the whole process (the client allocates
// nothing), srv-mmsg/dgram are the loop's recvmmsg and sendmmsg calls per
// datagram, wakeups/dgram its epoll wakeups (each costs gnet one
// epoll_wait and one recvfrom).
//
//	go test -run '^$' -bench Datagrams -benchtime 200000x ./datapath/server/
func BenchmarkDatagrams(b *testing.B) {
	for _, depth := range []int{1, 16, 64} {
		b.Run("depth="+strconv.Itoa(depth), func(b *testing.B) { benchDatagrams(b, depth) })
	}
}

func benchDatagrams(b *testing.B, depth int) {
	ns := testenv.NewNetns(b, "dgbench")
	const port = 7344
	s := start(b, Config{UDPAddr: "127.0.0.1:7344", Loops: 1, Auth: authFor("b")}, func(f func()) { ns.Do(b, f) })

	var fd int
	var err error
	ns.Do(b, func() {
		if fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK, 0); err == nil {
			err = unix.Connect(fd, &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}})
		}
	})
	if err != nil {
		b.Fatalf("client socket: %v", err)
	}
	b.Cleanup(func() { unix.Close(fd) })
	cl := newUDPIO(fd, false)
	key := []byte("{b}bench")
	reqs := make([][]byte, depth)
	sign := func(op wire.Opcode, value []byte) {
		ts := time.Now().UnixNano()
		for i := range reqs {
			r := wire.Request{ID: uint32(i), Op: op, Key: key, Value: value}
			reqs[i], err = wire.AppendSignedRequest(reqs[i][:0], &r, testKey, ts)
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	to := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), port)
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	roundTrip := func() {
		for _, r := range reqs {
			cl.queue(r, to)
		}
		if d := cl.send(); d > 0 {
			b.Fatalf("client dropped %d requests", d)
		}
		for got := 0; got < len(reqs); {
			n, err := cl.recv()
			if err != nil {
				b.Fatal(err)
			}
			if n == 0 {
				if k, err := unix.Poll(pfd, 5000); err != nil && err != unix.EINTR || k == 0 && err == nil {
					b.Fatalf("no reply within 5s (%d of %d): %v", got, len(reqs), err)
				}
			}
			got += n
		}
	}
	sign(wire.OpSet, []byte("0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789"))
	roundTrip()
	sign(wire.OpGet, nil)

	w0, r0, s0 := srvCounters(b, s)
	b.ReportAllocs()
	b.ResetTimer()
	signed := time.Now()
	done := 0
	for done < b.N {
		if time.Since(signed) > time.Second { // inside the 5s replay window
			sign(wire.OpGet, nil)
			signed = time.Now()
		}
		roundTrip()
		done += depth
	}
	b.StopTimer()
	w1, r1, s1 := srvCounters(b, s)
	b.ReportMetric(float64(r1-r0+s1-s0)/float64(done), "srv-mmsg/dgram")
	b.ReportMetric(float64(w1-w0)/float64(done), "wakeups/dgram")
}

// srvCounters reads the server's loop 0 wakeups and mmsg calls on the loop.
func srvCounters(b *testing.B, s *Server) (wakeups, recvCalls, sendCalls uint64) {
	l := s.loops[0]
	if err := s.RunOnLoop(context.Background(), 0, func() {
		wakeups, recvCalls, sendCalls = l.udp.wakeups, l.udp.recvCalls, l.udp.sendCalls
	}); err != nil {
		b.Fatal(err)
	}
	return
}
