package bpf_test

import (
	"net"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/dorivo/dorivo/bpf"
	"github.com/dorivo/dorivo/internal/testenv"
)

// The programs attached for real (native XDP and TCX on a veth in a fresh
// namespace pair) see the traffic prog.Run tests assume: XDP drops a bad
// datagram before TC and the socket see it, and passes the rest.
func TestAttachedToVeth(t *testing.T) {
	objs := loadObjects(t)
	cli := testenv.NewNetns(t, "vcli")
	srv := testenv.NewNetns(t, "vsrv")
	testenv.VethPair(t, cli, "dv0", "10.77.0.1/24", srv, "dv1", "10.77.0.2/24")
	srvAddr := [4]byte{10, 77, 0, 2}

	var udpSrv, tcpSrv int
	srv.Do(t, func() {
		ifc, err := net.InterfaceByName("dv1")
		if err != nil {
			t.Fatal(err)
		}
		for _, opts := range []link.TCXOptions{
			{Interface: ifc.Index, Program: objs.TcIngress, Attach: ebpf.AttachTCXIngress},
			{Interface: ifc.Index, Program: objs.TcEgress, Attach: ebpf.AttachTCXEgress},
		} {
			l, err := link.AttachTCX(opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
		}
		l, err := link.AttachXDP(link.XDPOptions{Program: objs.XdpIngress, Interface: ifc.Index, Flags: link.XDPDriverMode})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })

		udpSrv = socketBound(t, unix.SOCK_DGRAM, srvAddr, udpPort)
		tcpSrv = socketBound(t, unix.SOCK_STREAM, srvAddr, tcpPort)
		if err := unix.Listen(tcpSrv, 8); err != nil {
			t.Fatal(err)
		}
	})
	var udpCli, tcpCli int
	cli.Do(t, func() {
		udpCli = socketBound(t, unix.SOCK_DGRAM, [4]byte{10, 77, 0, 1}, 0)
		var err error
		if tcpCli, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(tcpCli) })
	})
	srvUDP := &unix.SockaddrInet4{Port: udpPort, Addr: srvAddr}

	// A bad datagram first: XDP drops it, nothing reaches TC or the socket.
	bad := newReq(bpf.DorivoOpcodeOP_GET, "acme", "k", "")
	bad.magic = 0xBAD0
	if err := unix.Sendto(udpCli, bad.bytes(), 0, srvUDP); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "the bad datagram's drop", func() bool {
		return sumCounters(t, objs.XdpStats)[bpf.DorivoXdpReasonXDP_R_DROP_BAD_MAGIC].Packets == 1
	})
	good := newReq(bpf.DorivoOpcodeOP_GET, "acme", "k", "").bytes()
	if err := unix.Sendto(udpCli, good, 0, srvUDP); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	n, from, err := recvTimeout(udpSrv, buf)
	if err != nil {
		t.Fatalf("server received nothing: %v", err)
	}
	if string(buf[:n]) != string(good) {
		t.Fatalf("server received %x, want the good datagram %x", buf[:n], good)
	}
	if err := unix.Sendto(udpSrv, []byte("reply"), 0, from); err != nil {
		t.Fatal(err)
	}
	if _, _, err := recvTimeout(udpCli, buf); err != nil {
		t.Fatalf("client received no reply: %v", err)
	}

	// A TCP connection to the service port, with one write.
	if err := unix.Connect(tcpCli, &unix.SockaddrInet4{Port: tcpPort, Addr: srvAddr}); err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Write(tcpCli, []byte("PING\r\n")); err != nil {
		t.Fatal(err)
	}
	conn, _, err := unix.Accept(tcpSrv)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(conn)
	if err := unix.SetsockoptTimeval(conn, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 5}); err != nil {
		t.Fatal(err)
	}
	if n, err := unix.Read(conn, buf); err != nil || string(buf[:n]) != "PING\r\n" {
		t.Fatalf("server read %q, %v", buf[:n], err)
	}

	xdp := sumCounters(t, objs.XdpStats)
	tc := sumCounters(t, objs.TcStats)
	if got := xdp[bpf.DorivoXdpReasonXDP_R_PASS_UDP].Packets; got != 1 {
		t.Errorf("XDP passed %d datagrams, want 1", got)
	}
	if got := tc[bpf.DorivoTcDirTC_INGRESS_UDP].Packets; got != 1 {
		t.Errorf("TC ingress counted %d datagrams, want the 1 XDP passed", got)
	}
	if got := tc[bpf.DorivoTcDirTC_EGRESS_UDP].Packets; got != 1 {
		t.Errorf("TC egress counted %d datagrams, want the 1 reply", got)
	}
	// In: SYN, ACK and the data segment at least. Out: the SYN-ACK (the
	// data's ACK may still be delayed).
	if in, pass := tc[bpf.DorivoTcDirTC_INGRESS_TCP].Packets, xdp[bpf.DorivoXdpReasonXDP_R_PASS_TCP].Packets; in < 3 || pass < 3 {
		t.Errorf("TCP in: TC counted %d, XDP passed %d, want >= 3 each", in, pass)
	}
	if out := tc[bpf.DorivoTcDirTC_EGRESS_TCP].Packets; out < 1 {
		t.Errorf("TC egress counted %d TCP segments, want >= 1", out)
	}
	for r, c := range xdp {
		switch bpf.DorivoXdpReason(r) {
		case bpf.DorivoXdpReasonXDP_R_PASS_OTHER, bpf.DorivoXdpReasonXDP_R_PASS_UDP,
			bpf.DorivoXdpReasonXDP_R_PASS_TCP, bpf.DorivoXdpReasonXDP_R_DROP_BAD_MAGIC:
		default:
			if c.Packets != 0 {
				t.Errorf("xdp_stats[%s] = %d, want 0", reasonNames[bpf.DorivoXdpReason(r)], c.Packets)
			}
		}
	}
}

func socketBound(tb testing.TB, typ int, addr [4]byte, port int) int {
	tb.Helper()
	fd, err := unix.Socket(unix.AF_INET, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: port, Addr: addr}); err != nil {
		tb.Fatal(err)
	}
	return fd
}

func recvTimeout(fd int, buf []byte) (int, unix.Sockaddr, error) {
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 5}); err != nil {
		return 0, nil, err
	}
	return unix.Recvfrom(fd, buf, 0)
}
