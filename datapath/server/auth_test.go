package server

import (
	"context"
	"encoding/binary"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dorivo/dorivo/datapath/dgram"
	"github.com/dorivo/dorivo/datapath/wire"
	"github.com/dorivo/dorivo/datapath/wire/auth"
	"github.com/dorivo/dorivo/internal/testenv"
	"golang.org/x/sys/unix"
)

// Two tenants with their own keys: over UDP neither can read or write the
// other's keys. A datagram signed with the wrong tenant's key gets no reply
// at all, and one naming the other tenant's key under its own tag is
// refused (the tag must be the key's hash tag).
func TestDatagramTenantsAreIsolated(t *testing.T) {
	ns := testenv.NewNetns(t, "dgauth")
	const addr = "127.0.0.1:7321"
	acmeKey, _ := wire.ParseKey("a0a1a2a3a4a5a6a7a8a9aaabacadaeaf")
	betaKey, _ := wire.ParseKey("b0b1b2b3b4b5b6b7b8b9babbbcbdbebf")
	tbl := new(atomic.Pointer[auth.Table])
	tbl.Store(&auth.Table{Tenants: map[string]auth.Tenant{"acme": {Key: acmeKey}, "beta": {Key: betaKey}}})
	s := startIn(t, ns, Config{TCPAddr: addr, UDPAddr: addr, Loops: 2, Auth: tbl})

	acme, beta := udpDialIn(t, ns, addr), udpDialIn(t, ns, addr)
	acme.key, beta.key = acmeKey, betaKey
	if r := beta.do(wire.OpSet, "{beta}secret", "b"); r.Status != wire.StatusOK {
		t.Fatalf("beta's own SET = %v %q", r.Status, r.Body)
	}
	if r := acme.do(wire.OpSet, "{acme}k", "a"); r.Status != wire.StatusOK {
		t.Fatalf("acme's own SET = %v %q", r.Status, r.Body)
	}
	// acme's key on beta's tag and key: forged, dropped, no reply.
	for _, op := range []wire.Opcode{wire.OpGet, wire.OpSet, wire.OpDel} {
		req := wire.Request{ID: 99, Op: op, Key: []byte("{beta}secret"), Value: []byte("x")}
		if op != wire.OpSet {
			req.Value = nil
		}
		b, err := wire.AppendSignedRequest(nil, &req, acmeKey, time.Now().UnixNano())
		if err != nil {
			t.Fatal(err)
		}
		acme.expectNoReply(b)
	}
	// acme's own tag, beta's key: refused by the loop.
	req := wire.Request{ID: 7, Op: wire.OpGet, Tag: []byte("acme"), Key: []byte("{beta}secret")}
	b, err := wire.AppendSignedRequest(nil, &req, acmeKey, time.Now().UnixNano())
	if err != nil {
		t.Fatal(err)
	}
	if r := acme.roundTrip(b, 7); r.Status != wire.StatusError || !strings.Contains(string(r.Body), "hash tag") {
		t.Fatalf("GET of beta's key under acme's tag = %v %q", r.Status, r.Body)
	}
	// Unsigned: both tenants have keys, so unsigned datagrams are dropped.
	plain := udpDialIn(t, ns, addr)
	u, err := wire.AppendRequest(nil, &wire.Request{ID: 8, Op: wire.OpGet, Key: []byte("{beta}secret")})
	if err != nil {
		t.Fatal(err)
	}
	plain.expectNoReply(u)
	if r := beta.do(wire.OpGet, "{beta}secret", ""); r.Status != wire.StatusOK || string(r.Body) != "b" {
		t.Fatalf("beta's key after acme's attempts = %v %q", r.Status, r.Body)
	}
	var drops uint64
	for _, st := range s.Stats() {
		drops += st.AuthDrops
	}
	if drops != 4 {
		t.Fatalf("%d datagrams dropped for authentication, want 4", drops)
	}
}

// expectNoReply sends b and checks that nothing comes back.
func (u *udpClient) expectNoReply(b []byte) {
	u.t.Helper()
	if _, err := u.c.Write(b); err != nil {
		u.t.Fatal(err)
	}
	_ = u.c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := u.c.Read(u.buf); err == nil {
		u.t.Fatalf("got a %d-byte reply to a datagram that must get none", n)
	}
}

// Datagrams with a forged source address, sent from a raw socket: the
// node must not be a reflector. A request whose MAC does not verify gets
// no reply, and an unsigned one (its tenant may send unsigned) gets a
// reply no longer than itself, though the value it asks for is 1,000
// bytes.
func TestDatagramNoReflection(t *testing.T) {
	ns := testenv.NewNetns(t, "dgrefl")
	const addr = "127.0.0.1:7322"
	key, _ := wire.ParseKey("c0c1c2c3c4c5c6c7c8c9cacbcccdcecf")
	tbl := new(atomic.Pointer[auth.Table])
	tbl.Store(&auth.Table{Tenants: map[string]auth.Tenant{"signed": {Key: key}}, AllowUnsigned: true})
	startIn(t, ns, Config{TCPAddr: addr, UDPAddr: addr, Loops: 2, Auth: tbl})
	c := dialIn(t, ns, addr, 0)
	big := strings.Repeat("v", 1000)
	expect(t, c, "+OK", "SET", "{open}k", big)
	expect(t, c, "+OK", "SET", "{signed}k", big)

	// The victim: a UDP socket at the forged source address.
	var victim *net.UDPConn
	var err error
	ns.Do(t, func() { victim, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 9), Port: 4444}) })
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Close()

	get := wire.Request{ID: 1, Op: wire.OpGet, Key: []byte("{open}k")}
	unsigned, err := wire.AppendRequest(nil, &get)
	if err != nil {
		t.Fatal(err)
	}
	get.Key = []byte("{signed}k")
	forged, err := wire.AppendSignedRequest(nil, &get, wire.Key{}, time.Now().UnixNano()) // zero key: the MAC cannot verify
	if err == nil {
		t.Fatal("signing with the zero key worked")
	}
	wrong, _ := wire.ParseKey("00000000000000000000000000000001")
	if forged, err = wire.AppendSignedRequest(nil, &get, wrong, time.Now().UnixNano()); err != nil {
		t.Fatal(err)
	}
	ns.Do(t, func() {
		sendSpoofed(t, net.IPv4(127, 0, 0, 9), 4444, net.IPv4(127, 0, 0, 1), 7322, forged)
		sendSpoofed(t, net.IPv4(127, 0, 0, 9), 4444, net.IPv4(127, 0, 0, 1), 7322, unsigned)
	})
	buf := make([]byte, 65536)
	_ = victim.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	n, err := victim.Read(buf)
	if err != nil {
		t.Fatalf("no reply reached the forged source at all (the unsigned request should get one): %v", err)
	}
	var r wire.Reply
	if err := wire.ParseReply(buf[:n], &r); err != nil || r.Signed {
		t.Fatalf("reply at the victim: %v (signed %v)", err, r.Signed)
	}
	if n > len(unsigned) || r.Status != wire.StatusError {
		t.Fatalf("reply of %d bytes (%v) to a %d-byte unsigned request: amplification", n, r.Status, len(unsigned))
	}
	if _, err := victim.Read(buf); err == nil {
		t.Fatal("a second reply reached the victim: the forged MAC was answered")
	}
}

// sendSpoofed sends payload as a UDP datagram from src:sport to dst:dport
// through a raw socket, with the IP header built here.
func sendSpoofed(t *testing.T, src net.IP, sport int, dst net.IP, dport int, payload []byte) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW)
	if err != nil {
		t.Fatalf("raw socket: %v", err)
	}
	defer unix.Close(fd)
	pkt := make([]byte, 28+len(payload))
	pkt[0], pkt[8], pkt[9] = 0x45, 64, unix.IPPROTO_UDP
	binary.BigEndian.PutUint16(pkt[2:], uint16(len(pkt)))
	copy(pkt[12:16], src.To4())
	copy(pkt[16:20], dst.To4())
	binary.BigEndian.PutUint16(pkt[20:], uint16(sport))
	binary.BigEndian.PutUint16(pkt[22:], uint16(dport))
	binary.BigEndian.PutUint16(pkt[24:], uint16(8+len(payload))) // UDP checksum 0: none
	copy(pkt[28:], payload)
	to := &unix.SockaddrInet4{Port: dport}
	copy(to.Addr[:], dst.To4())
	if err := unix.Sendto(fd, pkt, 0, to); err != nil {
		t.Fatalf("raw send: %v", err)
	}
}

// The datagram client package against the real server: signed GET, SET
// and DEL of a tenant's keys work, and the same client with another
// tenant's key gets nothing (its requests never verify).
func TestDgramClientAgainstServer(t *testing.T) {
	ns := testenv.NewNetns(t, "dgcli")
	const addr = "127.0.0.1:7323"
	key, _ := wire.ParseKey("d0d1d2d3d4d5d6d7d8d9dadbdcdddedf")
	wrong, _ := wire.ParseKey("e0e1e2e3e4e5e6e7e8e9eaebecedeeef")
	tbl := new(atomic.Pointer[auth.Table])
	tbl.Store(&auth.Table{Tenants: map[string]auth.Tenant{"acme": {Key: key}}})
	startIn(t, ns, Config{TCPAddr: addr, UDPAddr: addr, Loops: 2, Auth: tbl})
	ns.Do(t, func() {
		ctx := context.Background()
		c, err := dgram.Dial(addr, dgram.Options{Tenant: "acme", Key: key})
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		big := strings.Repeat("x", 1000) // a GET reply longer than its request: only a signed one may be
		if err := c.Set(ctx, []byte("{acme}doc"), []byte(big)); err != nil {
			t.Errorf("Set: %v", err)
		}
		if v, found, err := c.Get(ctx, []byte("{acme}doc")); err != nil || !found || string(v) != big {
			t.Errorf("Get = %d bytes, %v, %v", len(v), found, err)
		}
		if deleted, err := c.Del(ctx, []byte("{acme}doc")); err != nil || !deleted {
			t.Errorf("Del = %v, %v", deleted, err)
		}
		if _, found, err := c.Get(ctx, []byte("{acme}doc")); err != nil || found {
			t.Errorf("Get after Del: found %v, %v", found, err)
		}
		if st := c.Stats(); st.Forged != 0 || st.Stale != 0 {
			t.Errorf("client saw forged or stale replies: %+v", st)
		}
		bad, err := dgram.Dial(addr, dgram.Options{Tenant: "acme", Key: wrong, Timeout: 100 * time.Millisecond, Attempts: 2})
		if err != nil {
			t.Error(err)
			return
		}
		defer bad.Close()
		if _, _, err := bad.Get(ctx, []byte("{acme}doc")); err == nil {
			t.Error("a client with the wrong key got an answer")
		}
	})
}
