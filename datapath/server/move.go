package server

import (
	"bytes"
	"context"
	"net"
	"os"

	"github.com/dorivo/dorivo/datapath/core"
	"github.com/panjf2000/gnet/v2"
)

// Moving a connection to its home loop (datapath/core, move.go). Once the
// core says a connection is ready (every reply it is owed written), the
// shell checks that gnet holds none of its output either, closes it on
// this loop, and in OnClose, while the socket is still open, duplicates
// its descriptor, takes the bytes this loop read but did not parse, and
// registers the duplicate on the home loop's engine (Engine.Register with
// a net.Conn context: gnet enrolls it there). gnet's close only closes
// this loop's descriptor, which does not shut the socket down, and it has
// no output left to write, so nothing reaches the client from the old
// loop after the move; bytes the client sends meanwhile wait in the socket
// for the new loop.

// moveMarker is the gnet context of a connection registered on its home
// loop: the core's connection and the bytes its old loop had not parsed.
type moveMarker struct {
	tc       *core.Conn
	leftover []byte
}

// startMove closes tc on this loop, to reopen it on loop to, once gnet has
// written all of its output; until then it waits on l.movesLater.
func (l *loop) startMove(tc *core.Conn, to int) {
	gc := tc.Shell.(gnet.Conn)
	if gc.OutboundBuffered() > 0 {
		l.movesLater = append(l.movesLater, tc)
		return
	}
	l.moving[tc] = to
	_ = gc.Close()
}

// retryMoves starts the moves that waited for gnet's output.
func (l *loop) retryMoves() {
	list := l.movesLater
	l.movesLater = nil
	for _, tc := range list {
		if to, ok := tc.MoveTo(); ok {
			l.startMove(tc, to)
		}
	}
}

// finishMove runs in OnClose of a moving connection: it hands the socket
// to loop to. false means the move failed and the connection is closed.
func (l *loop) finishMove(c gnet.Conn, tc *core.Conn, to int) bool {
	unread, _ := c.Peek(-1)
	leftover := bytes.Clone(unread)
	fd, err := c.Dup()
	if err != nil {
		l.srv.cfg.Logger.Warn("server: moving a connection: dup failed; closing it", "loop", l.idx, "err", err)
		return false
	}
	f := os.NewFile(uintptr(fd), "moved connection")
	nc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		l.srv.cfg.Logger.Warn("server: moving a connection: closing it", "loop", l.idx, "err", err)
		return false
	}
	l.core.Release(tc)
	ctx := gnet.NewContext(gnet.NewNetConnContext(context.Background(), nc), moveMarker{tc: tc, leftover: leftover})
	ch, err := l.srv.loops[to].eng.Register(ctx)
	if err != nil {
		nc.Close()
		l.srv.clients.Add(-1)
		l.srv.cfg.Logger.Warn("server: moving a connection: register failed; it is closed", "from", l.idx, "to", to, "err", err)
		return true
	}
	go func() { // the loop never waits for gnet's worker
		if r := <-ch; r.Err != nil {
			l.srv.clients.Add(-1)
			l.srv.cfg.Logger.Warn("server: moving a connection failed; it is closed", "from", l.idx, "to", to, "err", r.Err)
		}
	}()
	return true
}

// adopt serves a connection moved here, starting with its unparsed bytes.
func (l *loop) adopt(c gnet.Conn, mv moveMarker) {
	l.core.Adopt(mv.tc, &movedInput{pre: mv.leftover, c: c}, c)
	mv.tc.FD = c.Fd()
	c.SetContext(mv.tc)
	l.core.Traffic(mv.tc, nowMs())
	l.flush()
}

// movedInput is a moved connection's unread bytes: those its old loop had
// read, then gnet's buffer here.
type movedInput struct {
	pre    []byte
	c      gnet.Conn
	joined []byte
}

func (in *movedInput) Peek(int) ([]byte, error) {
	buf, _ := in.c.Peek(-1)
	if len(in.pre) == 0 {
		return buf, nil
	}
	in.joined = append(append(in.joined[:0], in.pre...), buf...)
	return in.joined, nil
}

func (in *movedInput) Discard(n int) (int, error) {
	k := min(n, len(in.pre))
	in.pre = in.pre[k:]
	if len(in.pre) == 0 {
		in.joined = nil
	}
	if n > k {
		m, err := in.c.Discard(n - k)
		return k + m, err
	}
	return k, nil
}

func (in *movedInput) InboundBuffered() int { return len(in.pre) + in.c.InboundBuffered() }
