package server

import (
	"net/netip"
	"unsafe"

	"github.com/dorivo/dorivo/datapath/core"
	"golang.org/x/sys/unix"
)

// Datagrams in batches. gnet wakes the loop for a readable UDP socket and
// reads one datagram (recvfrom); the loop then drains the rest of the
// socket's queue with recvmmsg(2), up to udpBatch datagrams a call, and
// sends every reply the core queued with one sendmmsg(2) when it flushes.
// Both calls go straight to the socket's fd through unix.Syscall6 with
// MSG_DONTWAIT (the fd is non-blocking as well), on arrays owned by the
// loop: no allocation per datagram, no address decoding through x/sys
// (whose Recvfrom does a getsockopt(SO_PROTOCOL) per call and allocates a
// Sockaddr), and a call that finds nothing returns EAGAIN at once, so the
// loop never waits. golang.org/x/net/ipv4's ReadBatch and WriteBatch wrap
// the same calls but need a net.PacketConn in Go's own poller (this fd is
// gnet's) and allocate a net.Addr per message.
//
// A wakeup that finds one datagram only (a quiet socket) would pay a
// recvmmsg for nothing; after such an empty drain the loop skips draining
// for a few wakeups (doubling to udpMaxSkip), and any drain that finds
// datagrams resets that. Skipping is never wrong: what is left queued
// wakes the loop again.
//
// Replies of one flush to the same peer, of one size and contiguous in
// the core's buffer (a pipeline of GETs of like values, of SETs), go as
// one message with UDP_SEGMENT (UDP GSO): the stack is crossed once for
// the lot and the datagrams are cut apart on the way out, each the
// datagram it would have been alone.

const (
	// udpBatch is the most datagrams one recvmmsg or sendmmsg carries.
	udpBatch = 64
	// udpDrainRounds bounds the recvmmsg calls per wakeup, so that a
	// flooded socket cannot starve the loop's TCP connections: what is left
	// wakes the loop again (epoll is level-triggered).
	udpDrainRounds = 4
	// udpSlot is each receive slot's size: the largest datagram, so that
	// none is cut (an oversized SET still gets its "too large" reply).
	// Only the pages a datagram touches become resident.
	udpSlot = 65535 - 8
	// udpRcvBuf is the receive buffer asked for (SO_RCVBUFFORCE, else
	// SO_RCVBUF, which rmem_max caps): deep pipelines from many sockets
	// arrive in bursts larger than the 208 KiB default.
	udpRcvBuf = 4 << 20
	// udpMaxSkip is the most wakeups without a drain after empty ones.
	udpMaxSkip = 8
	// udpMaxSegs and udpMaxGSO bound one GSO message: the kernel takes
	// at most 64 segments (UDP_MAX_SEGMENTS, 128 since 6.9) and one IP
	// packet's worth of bytes.
	udpMaxSegs = 64
	udpMaxGSO  = 65000
)

// udpIO is one loop's batched receive and send state for its UDP socket.
// It is used on the loop's thread only.
type udpIO struct {
	fd int
	v6 bool // AF_INET6 socket: replies to v4 clients go to v4-mapped addresses

	rhdr  [udpBatch]unix.Mmsghdr
	riov  [udpBatch]unix.Iovec
	rname [udpBatch]unix.RawSockaddrInet6 // large enough for either family
	rbuf  []byte                          // udpBatch slots of udpSlot bytes

	// skip is how many wakeups to go without draining, skipNext what it
	// becomes after the next empty drain.
	skip, skipNext int

	// shdr[:sn] are the messages queued since the last send; their iovecs
	// alias the core's datagram buffer, valid until the core runs again.
	// Message i carries segs[i] replies of segSize[i] bytes each to sto[i]
	// (more than one: with its UDP_SEGMENT control message, scm[i]).
	shdr    [udpBatch]unix.Mmsghdr
	siov    [udpBatch]unix.Iovec
	sname   [udpBatch]unix.RawSockaddrInet6
	sto     [udpBatch]netip.AddrPort
	segs    [udpBatch]int
	segSize [udpBatch]int
	scm     [udpBatch][udpCmsgSpace]byte
	sn      int
	gso     bool // the kernel takes UDP_SEGMENT

	// Counters for tests and benchmarks: wakeups (gnet's one-datagram
	// reads), recvmmsg and sendmmsg calls, the datagrams they moved, and
	// the messages sent (fewer than sent with GSO).
	wakeups, recvCalls, recvd, sendCalls, sent, sentMsgs uint64
}

// udpCmsgSpace is the room for one UDP_SEGMENT control message (a uint16).
const udpCmsgSpace = unix.SizeofCmsghdr + 8

func newUDPIO(fd int, v6 bool) *udpIO {
	u := &udpIO{fd: fd, v6: v6, rbuf: make([]byte, udpBatch*udpSlot)}
	for i := range udpBatch {
		u.riov[i].Base = &u.rbuf[i*udpSlot]
		u.riov[i].SetLen(udpSlot)
		h := &u.rhdr[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&u.rname[i]))
		h.Iov = &u.riov[i]
		h.SetIovlen(1)
		s := &u.shdr[i].Hdr
		s.Name = (*byte)(unsafe.Pointer(&u.sname[i]))
		s.Iov = &u.siov[i]
		s.SetIovlen(1)
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, udpRcvBuf) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, udpRcvBuf)
	}
	// A GSO size of 0 is "none by default": accepted where UDP GSO exists.
	u.gso = unix.SetsockoptInt(fd, unix.SOL_UDP, unix.UDP_SEGMENT, 0) == nil
	return u
}

// shouldDrain says whether this wakeup drains the socket (see the top).
func (u *udpIO) shouldDrain() bool {
	if u.skip > 0 {
		u.skip--
		return false
	}
	return true
}

// drained records what a wakeup's drain found.
func (u *udpIO) drained(n int) {
	if n > 0 {
		u.skipNext = 0
		return
	}
	u.skip = u.skipNext
	u.skipNext = min(max(2*u.skipNext, 1), udpMaxSkip)
}

// recv reads up to udpBatch queued datagrams without waiting and returns
// how many it read: datagram i is u.datagram(i). An empty queue is 0, nil.
func (u *udpIO) recv() (int, error) {
	for i := range u.rhdr {
		u.rhdr[i].Hdr.Namelen = unix.SizeofSockaddrInet6
		u.rhdr[i].Hdr.Flags = 0
	}
	for {
		r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(u.fd), uintptr(unsafe.Pointer(&u.rhdr[0])), udpBatch,
			unix.MSG_DONTWAIT, 0, 0)
		u.recvCalls++
		switch e {
		case 0:
			u.recvd += uint64(r)
			return int(r), nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, nil
		}
		return 0, e
	}
}

// datagram returns the i-th datagram of the last recv and its sender; the
// bytes are valid until the next recv.
func (u *udpIO) datagram(i int) ([]byte, netip.AddrPort) {
	off := i * udpSlot
	b := u.rbuf[off : off+int(u.rhdr[i].Len) : off+udpSlot]
	return b, fromRaw(&u.rname[i])
}

// fromRaw decodes a sockaddr the kernel filled in.
func fromRaw(sa *unix.RawSockaddrInet6) netip.AddrPort {
	switch sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), netPort(sa4.Port))
	case unix.AF_INET6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), netPort(sa.Port))
	}
	return netip.AddrPort{}
}

// netPort reads a port the kernel stored in network byte order.
func netPort(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}

// setNetPort stores port in network byte order.
func setNetPort(p *uint16, port uint16) {
	b := (*[2]byte)(unsafe.Pointer(p))
	b[0], b[1] = byte(port>>8), byte(port)
}

// queue adds reply b to to to the send batch: into the last message, as
// one more GSO segment, when it can; else as a message of its own, sending
// the batch first when it is full. It reports how many replies failed to
// go.
func (u *udpIO) queue(b []byte, to netip.AddrPort) (dropped int) {
	if u.sn > 0 && u.gso && len(b) > 0 {
		j := u.sn - 1
		iov := &u.siov[j]
		if u.sto[j] == to && u.segSize[j] == len(b) && u.segs[j] < udpMaxSegs &&
			int(iov.Len)+len(b) <= udpMaxGSO &&
			uintptr(unsafe.Pointer(iov.Base))+uintptr(iov.Len) == uintptr(unsafe.Pointer(&b[0])) {
			iov.SetLen(int(iov.Len) + len(b))
			u.segs[j]++
			return 0
		}
	}
	if u.sn == udpBatch {
		dropped = u.send()
	}
	i := u.sn
	h := &u.shdr[i].Hdr
	sa := &u.sname[i]
	if a := to.Addr().Unmap(); a.Is4() && !u.v6 {
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		*sa4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: a.As4()}
		setNetPort(&sa4.Port, to.Port())
		h.Namelen = unix.SizeofSockaddrInet4
	} else {
		*sa = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: a.As16()}
		setNetPort(&sa.Port, to.Port())
		h.Namelen = unix.SizeofSockaddrInet6
	}
	if len(b) > 0 {
		u.siov[i].Base = &b[0]
	} else {
		u.siov[i].Base = nil
	}
	u.siov[i].SetLen(len(b))
	u.sto[i], u.segs[i], u.segSize[i] = to, 1, len(b)
	u.sn++
	return dropped
}

// setSegments gives message i its UDP_SEGMENT control message, or none
// when it carries one datagram.
func (u *udpIO) setSegments(i int) {
	h := &u.shdr[i].Hdr
	if u.segs[i] == 1 {
		h.Control = nil
		h.SetControllen(0)
		return
	}
	c := &u.scm[i]
	cm := (*unix.Cmsghdr)(unsafe.Pointer(&c[0]))
	cm.Level, cm.Type = unix.SOL_UDP, unix.UDP_SEGMENT
	cm.SetLen(unix.CmsgLen(2))
	*(*uint16)(unsafe.Pointer(&c[unix.SizeofCmsghdr])) = uint16(u.segSize[i])
	h.Control = &c[0]
	h.SetControllen(unix.CmsgSpace(2))
}

// send sends the queued replies, one sendmmsg for all of them unless one
// fails: that one is dropped and the rest go on; a full socket buffer
// (EAGAIN) drops the rest of the batch, as datagrams are lossy and the
// loop never waits. It reports how many were dropped.
func (u *udpIO) send() (dropped int) {
	for i := range u.sn {
		u.setSegments(i)
	}
	for i := 0; i < u.sn; {
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(u.fd), uintptr(unsafe.Pointer(&u.shdr[i])), uintptr(u.sn-i),
			unix.MSG_DONTWAIT, 0, 0)
		u.sendCalls++
		switch e {
		case 0:
			r = max(r, 1) // never 0 for a non-empty batch; no spinning if it were
			for k := i; k < i+int(r); k++ {
				u.sent += uint64(u.segs[k])
			}
			u.sentMsgs += uint64(r)
			i += int(r)
		case unix.EINTR:
		case unix.EAGAIN:
			for k := i; k < u.sn; k++ {
				dropped += u.segs[k]
			}
			i = u.sn
		default:
			dropped += u.segs[i]
			i++
		}
	}
	for i := range u.sn {
		u.siov[i].Base = nil // the core's buffer is reused: hold no pointer into it
	}
	u.sn = 0
	return dropped
}

// drainUDP serves the datagrams queued behind the one gnet read, a
// recvmmsg batch at a time, and flushes the replies after each batch (the
// core's datagram and its buffers are valid until then).
func (l *loop) drainUDP(now int64) {
	l.udp.wakeups++
	if !l.udp.shouldDrain() {
		return
	}
	for round := range udpDrainRounds {
		n, err := l.udp.recv()
		if round == 0 {
			l.udp.drained(n)
		}
		if err != nil {
			return // e.g. ENOMEM; the next wakeup tries again
		}
		for i := range n {
			b, from := l.udp.datagram(i)
			l.core.Datagram(b, from, now)
		}
		if n < udpBatch {
			return // the queue is empty for now
		}
		l.flush()
	}
}

// sendTo queues a reply datagram for this loop's own UDP socket.
func (l *loop) sendTo(d core.Datagram) {
	for range l.udp.queue(d.Buf, d.To) {
		l.core.DatagramDropped()
	}
}

// sendUDP sends the replies sendTo queued: one sendmmsg per flush.
func (l *loop) sendUDP() {
	if l.udp == nil || l.udp.sn == 0 {
		return
	}
	for range l.udp.send() {
		l.core.DatagramDropped()
	}
}
