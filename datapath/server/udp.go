package server

import (
	"net"
	"net/netip"

	"github.com/dorivo/dorivo/datapath/command"
	"github.com/dorivo/dorivo/datapath/wire"
	"github.com/dorivo/dorivo/shardstore/slot"
	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// tagMismatch is the StatusError body for a request whose tag is not its
// key's hash tag: the kernel steered by the tag, the store files by the key.
const tagMismatch = "tag is not the key's hash tag"

// onDatagram handles one datagram from the loop's UDP socket. gnet's UDP
// Conn is only valid during this call.
func (l *loop) onDatagram(c gnet.Conn) {
	l.stats.datagrams.Add(1)
	b, _ := c.Next(-1)
	var req wire.Request
	err := wire.ParseRequest(b, &req)
	if err != nil && err != wire.ErrValueTooLarge {
		l.stats.drops.Add(1)
		return
	}
	owner := l.srv.cfg.Table.Owner(slot.OfTag(req.Tag))
	if owner == l.idx && err == nil && (l.defCount[l.idx] > 0 || l.datagramWaits(&req)) {
		// A cross-loop transaction holds the key, or its value is cold:
		// park the datagram, to be answered from this socket once the key
		// is free.
		ua, ok := c.RemoteAddr().(*net.UDPAddr)
		m := msg{kind: mDatagram, buf: b}
		if ok {
			m.addr = ua.AddrPort()
		}
		if !ok || !l.deferMsg(l.idx, &m) {
			l.stats.drops.Add(1) // datagrams are lossy: none is queued without bound
		}
		return
	}
	if owner == l.idx || err != nil {
		// Errors are answered wherever they land: no keyspace involved.
		if out, ok := l.serveDatagram(b); ok && !l.holdDatagram(out, c, netip.AddrPort{}) {
			_, _ = c.Write(out)
		}
		return
	}
	l.stats.nonOwner.Add(1)
	ua, ok := c.RemoteAddr().(*net.UDPAddr)
	if !ok {
		l.stats.drops.Add(1)
		return
	}
	p := &l.peers[owner]
	if p.credits >= p.repIn.Cap() {
		l.stats.drops.Add(1) // datagrams are lossy: no stalling a socket for one
		return
	}
	m := msg{kind: mDatagram, addr: ua.AddrPort()}
	if stageTo(p.reqOut, p.reqOutA, &m, len(b), func(dst []byte) { copy(dst, b) }) != nil {
		l.stats.drops.Add(1)
		return
	}
	p.credits++
	l.stats.crossSent.Add(1)
	p.reqOut.Flush()
}

// serveDatagram executes datagram b on this loop's keyspace and returns the
// reply datagram (aliasing l.udpOut); ok is false when there is nothing to
// send (malformed: dropped and counted).
func (l *loop) serveDatagram(b []byte) ([]byte, bool) {
	var req wire.Request
	err := wire.ParseRequest(b, &req)
	rep := wire.Reply{ID: req.ID, Op: req.Op, Status: wire.StatusOK}
	switch {
	case err == wire.ErrValueTooLarge:
		rep.Status, rep.Body = wire.StatusError, []byte(wire.ValueTooLargeMessage)
	case err != nil:
		l.stats.drops.Add(1)
		return nil, false
	case !wire.TagMatchesKey(req.Tag, req.Key):
		rep.Status, rep.Body = wire.StatusError, []byte(tagMismatch)
	case req.Op != wire.OpGet && l.writeRefusal() != "":
		rep.Status, rep.Body = wire.StatusError, datagramRefusal(l.writeRefusal())
	default:
		l.stats.executed.Add(1)
		switch req.Op {
		case wire.OpGet:
			v, ok := l.ks.Get(req.Key, l.now)
			if !ok {
				rep.Status = wire.StatusNotFound
			} else if len(v) > wire.MaxReplyBody {
				rep.Status, rep.Body = wire.StatusError, []byte("value too large for a datagram, use TCP")
			} else {
				rep.Body = v
			}
		case wire.OpSet:
			l.ks.Set(req.Key, req.Value, 0)
			l.mutated(command.Mutation{Op: command.OpSet, Key: req.Key, Val: req.Value})
		case wire.OpDel:
			if !l.ks.Delete(req.Key, l.now) {
				rep.Status = wire.StatusNotFound
			} else {
				l.mutated(command.Mutation{Op: command.OpDel, Key: req.Key})
			}
		}
	}
	out, err := wire.AppendReply(l.udpOut[:0], &rep)
	if err != nil {
		l.stats.drops.Add(1)
		return nil, false
	}
	l.udpOut = out
	return out, true
}

// mutated reports a datagram write to the Mutations hook.
func (l *loop) mutated(m command.Mutation) {
	l.muts = append(l.muts[:0], m)
	if l.srv.cfg.Mutations != nil {
		l.srv.cfg.Mutations(l.idx, l.muts)
	}
	if l.dur != nil {
		l.propose(l.muts)
	}
}

// sendTo answers a forwarded datagram from this loop's own UDP socket.
func (l *loop) sendTo(b []byte, to netip.AddrPort) {
	var sa unix.Sockaddr
	if a := to.Addr().Unmap(); a.Is4() && !l.udp6 {
		l.sa4.Addr, l.sa4.Port = a.As4(), int(to.Port())
		sa = &l.sa4
	} else {
		l.sa6.Addr, l.sa6.Port = a.As16(), int(to.Port())
		sa = &l.sa6
	}
	if err := unix.Sendto(l.udpFD, b, 0, sa); err != nil {
		l.stats.drops.Add(1)
	}
}
