package core

import (
	"bytes"
	"net/netip"
	"time"

	"github.com/dorivo/dorivo/datapath/command"
	"github.com/dorivo/dorivo/datapath/resp"
	"github.com/dorivo/dorivo/datapath/svctime"
	"github.com/dorivo/dorivo/datapath/wire"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// Datagrams run through the command path: a GET, SET or DEL datagram is
// the command of the same name, executed like a RESP request (ACL, key
// locks, cold values, mutation records, durability) under the session of
// its tenant, and its RESP reply becomes the reply datagram. A datagram is
// parsed and authenticated once, where it arrives (Config.Auth; XDP did so
// too on its interface, but datagrams may arrive on others): one that does
// not verify is dropped and counted, never answered. One for another
// loop's slot crosses as its parsed fields (tag, key, value packed; id,
// opcode and how to answer in the message). A signed request gets a reply
// signed under the key it verified with; an unsigned one a reply no longer
// than itself, so that a forged source address gains no amplification.

// tagMismatch is the StatusError body for a request whose tag is not its
// key's hash tag: the kernel steered by the tag, the store files by the key.
const tagMismatch = "tag is not the key's hash tag"

// valueTooLargeForDatagram is the StatusError body of a GET whose value
// does not fit in a reply datagram.
const valueTooLargeForDatagram = "value too large for a datagram, use TCP"

// dgCmds and dgNames are the commands of the datagram opcodes, resolved
// once and indexed by opcode (a parsed request's opcode is valid).
var (
	dgNames = [...][]byte{wire.OpGet: []byte("GET"), wire.OpSet: []byte("SET"), wire.OpDel: []byte("DEL")}
	dgCmds  = [len(dgNames)]*command.Cmd{
		wire.OpGet: command.Resolve(dgNames[wire.OpGet : wire.OpGet+1]).Cmd,
		wire.OpSet: command.Resolve(dgNames[wire.OpSet : wire.OpSet+1]).Cmd,
		wire.OpDel: command.Resolve(dgNames[wire.OpDel : wire.OpDel+1]).Cmd,
	}
)

// dgram is a parsed datagram request: its header fields, and its tag, key
// and value aliasing the datagram (or a message's packed copy).
type dgram struct {
	wire.Request
	tooLarge bool // the value was over wire.MaxValueLen (not kept)
	ret      dgReturn
}

// dgReturn is how a datagram's reply goes back: to whom, signed under the
// key the request verified with and bound to its MAC, or unsigned within
// the request's length.
type dgReturn struct {
	to     netip.AddrPort
	signed bool
	key    wire.Key
	reqMAC uint64
	limit  int
}

// Datagram handles datagram b from the loop's UDP socket, sent by from, at
// time now; b is valid only during the call. Replies leave through
// TakeDatagrams.
func (l *Loop) Datagram(b []byte, from netip.AddrPort, now int64) {
	t0 := l.tick()
	l.datagram(b, from, now)
	l.observe(svctime.Datagram, t0)
}

func (l *Loop) datagram(b []byte, from netip.AddrPort, now int64) {
	l.now = now
	l.stats.datagrams.Add(1)
	var d dgram
	err := wire.ParseRequest(b, &d.Request)
	if err != nil && err != wire.ErrValueTooLarge {
		l.stats.drops.Add(1)
		return
	}
	d.tooLarge = err == wire.ErrValueTooLarge
	key, err := l.cfg.Auth.Load().Check(b, &d.Request, time.UnixMilli(now))
	if err != nil {
		l.stats.authDrops.Add(1) // no reply: the sender proved nothing
		return
	}
	d.ret = dgReturn{to: from, signed: d.Signed, key: key, reqMAC: d.MAC, limit: len(b)}
	if l.shed != nil && !d.tooLarge && l.shedDatagram(&d) {
		return // shed.go: its slot's breaker is open
	}
	owner := l.cfg.Table.Owner(slot.OfTag(d.Tag))
	switch {
	case owner == l.idx || d.tooLarge:
		// Too large is answered wherever it lands: no keyspace involved.
		m := msg{kind: mDatagram}
		if l.defCount[l.idx] > 0 || l.datagramWaits(&d) {
			// A cross-loop transaction locks the key, or its value is
			// cold: park the datagram, to be answered once it is free.
			l.scratch = l.packDatagram(l.scratch[:0], &d, &m)
			m.buf = l.scratch
			if !l.deferMsg(l.idx, &m) {
				l.stats.drops.Add(1) // datagrams are lossy: none is queued without bound
			}
		} else {
			l.serveDatagram(&d)
		}
	default:
		l.forwardDatagram(owner, &d)
	}
	if l.unlocked {
		l.afterWork()
	}
}

// forwardDatagram sends d to the loop owning its slot, which answers from
// its own socket (same address and port).
func (l *Loop) forwardDatagram(owner int, d *dgram) {
	l.stats.nonOwner.Add(1)
	p := &l.peers[owner]
	if p.credits >= p.repIn.Cap() {
		l.stats.drops.Add(1) // datagrams are lossy: no stalling a socket for one
		return
	}
	m := msg{kind: mDatagram}
	if stageTo(p.reqOut, p.reqOutA, &m, l.datagramLen(d), func(dst []byte) { l.fillDatagram(dst, d, &m) }) != nil {
		l.stats.drops.Add(1)
		return
	}
	p.credits++
	l.stats.crossSent.Add(1)
	p.reqOut.Flush()
}

// packDatagram appends d packed to dst (pack.go) and puts its header
// fields in m.
func (l *Loop) packDatagram(dst []byte, d *dgram, m *msg) []byte {
	n := len(dst)
	dst = append(dst, make([]byte, l.datagramLen(d))...)
	l.fillDatagram(dst[n:], d, m)
	return dst
}

// datagramLen is the packed size of d's fields.
func (l *Loop) datagramLen(d *dgram) int {
	l.dgFields = [3][]byte{d.Tag, d.Key, d.Value}
	return packedLen(l.dgFields[:])
}

func (l *Loop) fillDatagram(dst []byte, d *dgram, m *msg) {
	l.dgFields = [3][]byte{d.Tag, d.Key, d.Value}
	pack(dst, l.dgFields[:])
	m.seq = uint64(d.ID)
	m.dgOp, m.dgTooLarge, m.dgRet = d.Op, d.tooLarge, d.ret
}

// datagramOf returns the datagram message m carries, aliasing m.buf.
func (l *Loop) datagramOf(m *msg) dgram {
	l.args = unpack(m.buf, l.args[:0])
	d := dgram{tooLarge: m.dgTooLarge, ret: m.dgRet}
	d.ID, d.Op = uint32(m.seq), m.dgOp
	d.Tag, d.Key, d.Value = l.args[0], l.args[1], l.args[2]
	return d
}

// datagramWaits is mustWaitFor for a datagram request.
func (l *Loop) datagramWaits(d *dgram) bool {
	if d.tooLarge {
		return false
	}
	l.keys = append(l.keys[:0], d.Key)
	return l.mustWaitFor(command.Req{Cmd: dgCmds[d.Op]}, l.keys)
}

// serveDatagram runs d on this loop and sends its reply, once the write
// it made, if any, is durable.
func (l *Loop) serveDatagram(d *dgram) {
	rep := wire.Reply{ID: d.ID, Op: d.Op, Status: wire.StatusOK}
	var w *unsynced
	switch {
	case d.tooLarge:
		rep.Status, rep.Body = wire.StatusError, []byte(wire.ValueTooLargeMessage)
	case !wire.TagMatchesKey(d.Tag, d.Key):
		rep.Status, rep.Body = wire.StatusError, []byte(tagMismatch)
	default:
		r := command.Req{Cmd: dgCmds[d.Op], Args: append(l.dgArgs[:0], dgNames[d.Op], d.Key)}
		if d.Op == wire.OpSet {
			r.Args = append(r.Args, d.Value)
		}
		l.dgArgs = r.Args
		sess := l.dgSess
		sess.ActAs(l.cfg.Node.DatagramUser(d.Tag))
		if l.rep != nil && l.routeDatagram(d, r, sess) {
			return
		}
		res := l.exec(sess, r)
		w = res.w
		datagramReply(&rep, res.b, d.ret.signed)
	}
	if w != nil {
		l.waitDatagram(w, &rep, d.ret)
		return
	}
	l.replyDatagram(&rep, d.ret)
}

// replyDatagram encodes rep as ret says and queues it for sending.
func (l *Loop) replyDatagram(rep *wire.Reply, ret dgReturn) {
	var out []byte
	var err error
	if ret.signed {
		out, err = wire.AppendSignedReply(l.udpOut[:0], rep, ret.key, ret.reqMAC)
	} else {
		out, _, err = wire.AppendReplyWithin(l.udpOut[:0], rep, ret.limit)
	}
	if err != nil {
		l.stats.drops.Add(1)
		return
	}
	l.udpOut = out
	l.sendDatagram(out, ret.to)
}

// datagramReply turns a GET, SET or DEL command's RESP reply b into rep;
// a signed reply has a little less room for a value.
func datagramReply(rep *wire.Reply, b []byte, signed bool) {
	limit := wire.MaxReplyBody
	if signed {
		limit = wire.MaxSignedReplyBody
	}
	switch {
	case len(b) < 3:
	case b[0] == '-':
		rep.Status, rep.Body = wire.StatusError, errorBody(b)
	case b[0] == '$' && b[1] == '-':
		rep.Status = wire.StatusNotFound
	case b[0] == '$':
		i := bytes.IndexByte(b, '\n')
		body := b[i+1 : len(b)-2]
		if len(body) > limit {
			rep.Status, rep.Body = wire.StatusError, []byte(valueTooLargeForDatagram)
		} else {
			rep.Body = body
		}
	case b[0] == ':':
		if n, ok := resp.ParseInt(b[1 : len(b)-2]); ok && n == 0 {
			rep.Status = wire.StatusNotFound
		}
	}
}

// errorBody is a RESP error reply's message as a datagram error body:
// without the generic "ERR " prefix, cut to what fits.
func errorBody(b []byte) []byte {
	b = bytes.TrimPrefix(b[1:len(b)-2], []byte("ERR "))
	if len(b) > wire.MaxReplyBody {
		b = b[:wire.MaxReplyBody]
	}
	return b
}
