package driver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/dorivo/dorivo/cmd/dorivo-loadgen/internal/workload"
	"github.com/dorivo/dorivo/datapath/wire"
)

// udpSweep is how often the UDP reader wakes to expire lost requests.
const udpSweep = 20 * time.Millisecond

// probeUDP sends one GET and waits for any reply, because a datagram
// socket cannot tell an absent server from a quiet one otherwise.
func probeUDP(nc *net.UDPConn, timeout time.Duration) error {
	b, err := wire.AppendRequest(nil, &wire.Request{ID: 0xffffffff, Op: wire.OpGet, Key: []byte("{probe}:dorivo-loadgen")})
	if err != nil {
		return err
	}
	buf := make([]byte, wire.MaxDatagram)
	deadline := time.Now().Add(timeout)
	for attempt := 0; time.Now().Before(deadline); attempt++ {
		if _, err := nc.Write(b); err != nil {
			return fmt.Errorf("probe datagram: %w", err)
		}
		_ = nc.SetReadDeadline(time.Now().Add(min(timeout/4, time.Until(deadline))))
		n, err := nc.Read(buf)
		if err == nil {
			var rep wire.Reply
			if err := wire.ParseReply(buf[:n], &rep); err != nil {
				return fmt.Errorf("probe reply: %w", err)
			}
			_ = nc.SetReadDeadline(time.Time{})
			return nil
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return fmt.Errorf("probe datagram: %w", err)
		}
	}
	return fmt.Errorf("no reply to a probe datagram within %v", timeout)
}

// udpTable tracks a connection's requests in flight by request ID: replies
// may come out of order or never.
type udpTable struct {
	mu      sync.Mutex
	byID    map[uint32]*pending
	writing bool
}

// runUDP drives one datagram socket until the run ends, then waits up to
// Timeout for the replies in flight.
func (c *conn) runUDP(ctx context.Context, nc *net.UDPConn) {
	cfg := c.run.cfg
	free := make(chan *pending, cfg.Pipeline)
	for range cfg.Pipeline {
		free <- &pending{keys: make([]workload.Key, 0, 1)}
	}
	tab := &udpTable{byID: make(map[uint32]*pending, cfg.Pipeline), writing: true}
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		c.readUDP(nc, tab, free)
	}()

	s := c.newScheduler()
	var key, val, dg []byte
	var id uint32
	noFlush := func() error { return nil }
	for {
		intended, ok := c.wait(ctx, s, noFlush)
		if !ok {
			break
		}
		var p *pending
		select {
		case p = <-free:
		case <-ctx.Done():
		}
		if p == nil {
			break
		}
		p.op, p.keys = c.picker.Next(p.keys)
		c.seq++
		p.valueID = c.run.valueID(c.idx, c.seq)
		id++
		p.id = id
		req := wire.Request{ID: id, Op: wire.OpGet, Key: workload.AppendKey(key[:0], p.keys[0])}
		if p.op == workload.Set {
			req.Op = wire.OpSet
			val = workload.AppendValue(val[:0], p.valueID, cfg.Workload.ValueSize)
			req.Value = val
		}
		key = req.Key
		var err error
		if dg, err = wire.AppendRequest(dg[:0], &req); err != nil {
			c.rec.Error(p.op, "encode: "+err.Error())
			free <- p
			continue
		}
		p.sent = c.run.since()
		p.intended = intended
		if !s.open {
			p.intended = p.sent
		}
		tab.mu.Lock()
		tab.byID[id] = p
		tab.mu.Unlock()
		if _, err := nc.Write(dg); err != nil {
			// A refused datagram (ICMP) surfaces here or in the reader;
			// the request is charged when it times out.
			c.rec.Stray(connErrorKind(err))
		}
	}
	tab.mu.Lock()
	tab.writing = false
	tab.mu.Unlock()
	<-readerDone
}

// readUDP matches replies to requests and expires those unanswered after
// Timeout. It returns when the writer is done and nothing is in flight, or
// Timeout after the writer finished.
func (c *conn) readUDP(nc *net.UDPConn, tab *udpTable, free chan *pending) {
	cfg := c.run.cfg
	buf := make([]byte, wire.MaxDatagram)
	var rep wire.Reply
	var key []byte
	var drainUntil time.Duration = -1
	for {
		_ = nc.SetReadDeadline(time.Now().Add(udpSweep))
		n, err := nc.Read(buf)
		now := c.run.since()
		if err == nil {
			c.handleUDPReply(buf[:n], &rep, tab, free, now, &key)
		} else if !errors.Is(err, os.ErrDeadlineExceeded) {
			c.rec.Stray(connErrorKind(err))
		}
		tab.mu.Lock()
		if !tab.writing && drainUntil < 0 {
			drainUntil = now + cfg.Timeout
		}
		expireBefore := now - cfg.Timeout
		if drainUntil >= 0 && now >= drainUntil {
			expireBefore = now + 1 // expire everything
		}
		for id, p := range tab.byID {
			if p.sent < expireBefore {
				delete(tab.byID, id)
				c.rec.Error(p.op, "timeout")
				free <- p
			}
		}
		finished := !tab.writing && len(tab.byID) == 0
		tab.mu.Unlock()
		if finished {
			return
		}
	}
}

func (c *conn) handleUDPReply(b []byte, rep *wire.Reply, tab *udpTable, free chan *pending, now time.Duration, key *[]byte) {
	if err := wire.ParseReply(b, rep); err != nil {
		c.rec.Stray("malformed reply")
		return
	}
	tab.mu.Lock()
	p := tab.byID[rep.ID]
	delete(tab.byID, rep.ID)
	tab.mu.Unlock()
	if p == nil {
		c.rec.Stray("late or unmatched reply")
		return
	}
	defer func() { free <- p }()
	wantOp := wire.OpGet
	if p.op == workload.Set {
		wantOp = wire.OpSet
	}
	switch {
	case rep.Op != wantOp:
		c.rec.Error(p.op, "reply for another opcode")
	case rep.Status == wire.StatusOK:
		c.rec.OK(p.op, now-p.intended, now-p.sent)
		if j := c.run.cfg.Journal; j != nil && p.op == workload.Set {
			*key = workload.AppendKey((*key)[:0], p.keys[0])
			var v [64]byte
			val := workload.AppendValue(v[:0], p.valueID, c.run.cfg.Workload.ValueSize)
			if err := j.Log(p.op.String(), *key, val); err != nil {
				c.rec.Stray("record file write failed")
			}
		}
	case rep.Status == wire.StatusNotFound && p.op == workload.Get:
		c.rec.Miss(p.op)
		c.rec.OK(p.op, now-p.intended, now-p.sent)
	case rep.Status == wire.StatusError:
		c.rec.Error(p.op, "ERROR "+errorKind(rep.Body))
	default:
		c.rec.Error(p.op, rep.Status.String())
	}
}
