package core

import (
	"bytes"
	"slices"
	"strconv"

	"github.com/dorivo/dorivo/datapath/command"
	"github.com/dorivo/dorivo/datapath/resp"
)

// CLIENT subcommands that need the connections (command.RouteClient). LIST
// and KILL run on every loop, as a broadcast: each loop lists or kills its
// own clients; LIST's parts are concatenated and sorted by id, KILL's
// counts added (the old form, CLIENT KILL addr, answers OK when a loop
// found it). INFO and REPLY concern the caller's connection alone.

// clientRoute dispatches a CLIENT subcommand of tc.
func (l *Loop) clientRoute(tc *Conn, r command.Req) bool {
	if msg := command.CheckReq(tc.sess, r); msg != "" {
		l.localReply(tc, now(resp.AppendError(l.reply[:0], msg)))
		return true
	}
	switch r.Cmd.Name {
	case "client|list", "client|kill":
		var msg string
		if r.Cmd.Name == "client|list" {
			_, msg = command.ParseClientList(r.Args)
		} else {
			_, msg = command.ParseClientKill(tc.sess, r.Args)
		}
		if msg != "" {
			l.localReply(tc, now(resp.AppendError(l.reply[:0], msg)))
			return true
		}
		m := mergeClientList
		if r.Cmd.Name == "client|kill" {
			m = mergeSum
			if len(r.Args) == 3 {
				m = mergeKillOld
			}
		}
		return l.broadcast(tc, r, m)
	case "client|info":
		l.localReply(tc, now(resp.AppendBulk(l.reply[:0], l.clientLine(l.scratch[:0], tc))))
	case "client|reply":
		switch string(bytes.ToLower(r.Args[2])) {
		case "on":
			tc.replyOff = false
			l.localReply(tc, now(resp.AppendOK(l.reply[:0])))
		case "off":
			tc.replyOff = true
		case "skip":
			tc.replySkip = true
		default:
			l.localReply(tc, now(resp.AppendError(l.reply[:0], "ERR syntax error")))
		}
	}
	return true
}

// clientPart is this loop's part of CLIENT LIST or KILL run by sess (the
// caller's session on its loop, a scratch session acting as its user on
// the others). final: this loop is the only one, the reply is the reply.
func (l *Loop) clientPart(sess *command.Session, r command.Req, final bool) []byte {
	if r.Cmd.Name == "client|list" {
		f, _ := command.ParseClientList(r.Args)
		b := l.scratch[:0]
		for _, tc := range l.clientsByID() {
			if f.Match(tc.sess.ID, tc.sess.Addr, tc.LAddr, tc.sess.User()) {
				b = l.clientLine(b, tc)
			}
		}
		l.scratch = b
		return resp.AppendBulk(l.reply[:0], b)
	}
	f, msg := command.ParseClientKill(sess, r.Args)
	if msg != "" {
		return resp.AppendError(l.reply[:0], msg)
	}
	n := int64(0)
	for _, tc := range l.clientsByID() {
		self := tc.sess == sess
		if tc.closing || (self && f.SkipMe) || !f.Match(tc.sess.ID, tc.sess.Addr, tc.LAddr, tc.sess.User()) {
			continue
		}
		n++
		tc.closing = true // after this reply, for the caller itself
		if !self {
			tc.CloseNow = true
			l.queueOut(tc)
		}
	}
	if final && f.Old {
		if n == 0 {
			return resp.AppendError(l.reply[:0], "ERR No such client")
		}
		return resp.AppendOK(l.reply[:0])
	}
	return resp.AppendInt(l.reply[:0], n)
}

// clientsByID returns the loop's open clients in id order.
func (l *Loop) clientsByID() []*Conn {
	list := make([]*Conn, 0, len(l.conns))
	for tc := range l.conns {
		if !tc.closed {
			list = append(list, tc)
		}
	}
	slices.SortFunc(list, func(a, b *Conn) int { return int(a.sess.ID - b.sess.ID) })
	return list
}

// clientLine appends tc's CLIENT LIST line: Redis 7.0.15's fields in its
// order. Fields Dorivo has no counterpart for (sub, psub, ssub, argv-mem,
// multi-mem) are 0; the reply buffers are gnet's and the loop's: qbuf and
// rbs/rbp are the unread bytes, omem the unsent ones, oll the replies owed.
func (l *Loop) clientLine(b []byte, tc *Conn) []byte {
	s := tc.sess
	qbuf := int64(tc.in.InboundBuffered())
	omem := int64(tc.unsent + tc.held)
	flags := "N"
	switch {
	case tc.closing:
		flags = "c"
	case s.InMulti():
		flags = "x"
	}
	events := ""
	if !tc.paused {
		events = "r"
	}
	if tc.unsent > 0 {
		events += "w"
	}
	cmd := tc.lastCmd
	if cmd == "" {
		cmd = "NULL"
	}
	respN := "2"
	if s.RESP3() {
		respN = "3"
	}
	i := func(k string, v int64) { b = append(strconv.AppendInt(append(b, k...), v, 10), ' ') }
	str := func(k, v string) { b = append(append(append(b, k...), v...), ' ') }
	i("id=", s.ID)
	str("addr=", s.Addr)
	str("laddr=", tc.LAddr)
	i("fd=", int64(tc.FD))
	b = append(append(append(b, "name="...), s.Name...), ' ')
	i("age=", (l.now-tc.created)/1000)
	i("idle=", (l.now-tc.active)/1000)
	str("flags=", flags)
	b = append(b, "db=0 sub=0 psub=0 ssub=0 "...)
	i("multi=", int64(s.MultiLen()))
	i("qbuf=", qbuf)
	b = append(b, "qbuf-free=0 argv-mem=0 multi-mem=0 "...)
	i("rbs=", qbuf)
	i("rbp=", qbuf)
	i("obl=", int64(len(tc.Out)))
	i("oll=", int64(tc.tail-tc.head))
	i("omem=", omem)
	i("tot-mem=", qbuf+omem+int64(len(tc.Out)))
	str("events=", events)
	str("cmd=", cmd)
	str("user=", s.User())
	b = append(b, "redir=-1 resp="...)
	return append(append(b, respN...), '\n')
}

// sortClientLines sorts CLIENT LIST lines by their id.
func sortClientLines(body []byte) []byte {
	lines := bytes.SplitAfter(body, []byte("\n"))
	if n := len(lines); n > 0 && len(lines[n-1]) == 0 {
		lines = lines[:n-1]
	}
	id := func(line []byte) int64 {
		end := bytes.IndexByte(line, ' ')
		if end < 3 {
			return 0
		}
		v, _ := strconv.ParseInt(string(line[3:end]), 10, 64)
		return v
	}
	slices.SortStableFunc(lines, func(a, b []byte) int { return int(id(a) - id(b)) })
	return bytes.Join(lines, nil)
}

// mute drops the reply of the request just dispatched (CLIENT REPLY OFF
// or SKIP): the slots it took are marked, a reply it wrote to Out is cut.
func (l *Loop) mute(tc *Conn, head, tail uint64, out int) {
	for s := tail; s != tc.tail; s++ {
		tc.slot(s).mute = true
	}
	if tc.head == head && tc.tail == tail && len(tc.Out) > out {
		tc.Out = tc.Out[:out]
	}
}
