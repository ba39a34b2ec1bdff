package driver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/dorivo/dorivo/shardstore/slot"
	"maps"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/dorivo/dorivo/cmd/dorivo-loadgen/internal/workload"
	"github.com/dorivo/dorivo/datapath/wire"
)

// udpSweep is how often the UDP reader wakes to expire lost requests.
const udpSweep = 20 * time.Millisecond

// probeUDP sends one GET and waits for any reply, because a datagram
// socket cannot tell an absent server from a quiet one otherwise. With
// keys the probe is signed, for a tenant that has one: a node drops
// unsigned datagrams unless told otherwise.
func probeUDP(nc *net.UDPConn, timeout time.Duration, keys map[string]wire.Key) error {
	req := &wire.Request{ID: 0xffffffff, Op: wire.OpGet, Key: []byte("{probe}:dorivo-loadgen")}
	b, err := wire.AppendRequest(nil, req)
	for _, tenant := range slices.Sorted(maps.Keys(keys)) {
		req.Key = []byte("{" + tenant + "}:dorivo-loadgen-probe")
		b, err = wire.AppendSignedRequest(nil, req, keys[tenant], time.Now().UnixNano())
		break
	}
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

// udpBatch is the most datagrams one sendmmsg(2) or recvmmsg(2) carries:
// the load generator spends one syscall per batch, not per datagram, so
// that the client is not what a datagram benchmark measures.
const udpBatch = 64

// batchConn is the sendmmsg/recvmmsg side of a connected UDP socket:
// golang.org/x/net's ipv4 or ipv6 PacketConn (their Message types are both
// socket.Message). Both honour the socket's deadlines through the runtime
// poller.
type batchConn interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

func newBatchConn(nc *net.UDPConn) batchConn {
	if a, ok := nc.RemoteAddr().(*net.UDPAddr); ok && a.IP.To4() == nil {
		return ipv6.NewPacketConn(nc)
	}
	return ipv4.NewPacketConn(nc)
}

// newMessages returns n messages, each with one buffer of size bytes.
func newMessages(n, size int) []ipv4.Message {
	ms := make([]ipv4.Message, n)
	for i := range ms {
		ms[i].Buffers = [][]byte{make([]byte, size)}
	}
	return ms
}

// udpSender collects a connection's datagrams and sends them in batches.
type udpSender struct {
	bc   batchConn
	tab  *udpTable
	open bool // open loop: intended times come from the schedule
	msgs []ipv4.Message
	reqs []*pending // reqs[i] is carried by msgs[i], for i < n
	n    int
}

// add encodes req into the next message of the batch, signed when keys
// has its tenant's key.
func (u *udpSender) add(p *pending, req *wire.Request, keys map[string]wire.Key) error {
	var b []byte
	var err error
	if k, ok := keys[string(slot.Tag(req.Key))]; ok {
		b, err = wire.AppendSignedRequest(u.msgs[u.n].Buffers[0][:0], req, k, time.Now().UnixNano())
		if err == nil {
			p.key, p.mac = k, binary.LittleEndian.Uint64(b[len(b)-8:])
		}
	} else {
		p.key = wire.Key{}
		b, err = wire.AppendRequest(u.msgs[u.n].Buffers[0][:0], req)
	}
	if err != nil {
		return err
	}
	u.msgs[u.n].Buffers[0] = b
	u.reqs[u.n] = p
	u.n++
	return nil
}

// flush enters the batch's requests in the table, stamped with one send
// time, and sends them: one sendmmsg(2) when the socket takes them all. A
// message the socket refuses (an ICMP error pending on it, e.g. port
// unreachable) is skipped: its request times out and is charged then.
func (c *conn) flushUDP(u *udpSender) error {
	if u.n == 0 {
		return nil
	}
	u.tab.mu.Lock()
	now := c.run.since()
	for _, p := range u.reqs[:u.n] {
		p.sent = now
		if !u.open {
			p.intended = now
		}
		u.tab.byID[p.id] = p
	}
	u.tab.mu.Unlock()
	for i := 0; i < u.n; {
		k, err := u.bc.WriteBatch(u.msgs[i:u.n], 0)
		if err != nil {
			c.fail(connErrorKind(err))
			k = max(k, 1) // skip the refused message (k is -1 or 0 here)
		}
		i += k
	}
	clear(u.reqs[:u.n])
	u.n = 0
	return nil
}

// udpConn is one datagram socket's state, shared by its sender and
// receiver (one goroutine each in open loop, one for both in closed loop).
type udpConn struct {
	nc   *net.UDPConn
	bc   batchConn
	tab  *udpTable
	free chan *pending // requests not in flight
	u    *udpSender

	key, val []byte // scratch for the sender
	id       uint32 // last request ID sent

	// receiver state
	msgs       []ipv4.Message
	rep        wire.Reply
	rkey       []byte
	drainUntil time.Duration // -1 until the sender is done
	nextSweep  time.Duration
}

// runUDP drives one datagram socket until the run ends, then waits up to
// Timeout for the replies in flight. Closed loop, one goroutine sends a
// batch, then reads the replies that free its requests, with no handoff
// between threads; open loop, a second goroutine reads while the sender
// keeps the schedule.
func (c *conn) runUDP(ctx context.Context, nc *net.UDPConn) {
	cfg := c.run.cfg
	uc := &udpConn{nc: nc, bc: newBatchConn(nc), free: make(chan *pending, cfg.Pipeline), drainUntil: -1,
		tab: &udpTable{byID: make(map[uint32]*pending, cfg.Pipeline), writing: true}}
	for range cfg.Pipeline {
		uc.free <- &pending{keys: make([]workload.Key, 0, 1)}
	}
	n := min(cfg.Pipeline, udpBatch)
	uc.msgs = newMessages(n, wire.MaxDatagram)
	uc.u = &udpSender{bc: uc.bc, tab: uc.tab, open: cfg.Rate > 0, msgs: newMessages(n, wire.MaxDatagram), reqs: make([]*pending, n)}
	if cfg.Rate > 0 {
		c.runUDPOpen(ctx, uc)
	} else {
		c.runUDPClosed(ctx, uc)
	}
	c.recordFailure()
}

func (c *conn) runUDPClosed(ctx context.Context, uc *udpConn) {
	sending := true
	for {
		for sending {
			var p *pending
			select {
			case p = <-uc.free:
			default:
			}
			if p == nil {
				break // all in flight: read replies
			}
			if ctx.Err() != nil || !c.run.take() {
				uc.free <- p
				sending = false
				break
			}
			c.addUDP(uc, p, 0)
		}
		_ = c.flushUDP(uc.u)
		if !sending {
			uc.tab.mu.Lock()
			uc.tab.writing = false
			uc.tab.mu.Unlock()
		}
		if c.receiveUDP(uc) {
			return
		}
	}
}

func (c *conn) runUDPOpen(ctx context.Context, uc *udpConn) {
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for !c.receiveUDP(uc) {
		}
	}()
	s := c.newScheduler()
	flush := func() error { return c.flushUDP(uc.u) }
	for {
		// The batch leaves before the wait for the next send time.
		intended, ok := c.wait(ctx, s, flush)
		if !ok {
			break
		}
		var p *pending
		select {
		case p = <-uc.free:
		default:
			// Every request is in flight or batched: send the batch, then
			// wait for a reply to free one.
			_ = flush()
			select {
			case p = <-uc.free:
			case <-ctx.Done():
			}
		}
		if p == nil {
			break
		}
		c.addUDP(uc, p, intended)
	}
	_ = flush()
	uc.tab.mu.Lock()
	uc.tab.writing = false
	uc.tab.mu.Unlock()
	<-readerDone
}

// addUDP gives p the next request and puts it in the batch, sending the
// batch when it is full.
func (c *conn) addUDP(uc *udpConn, p *pending, intended time.Duration) {
	cfg := c.run.cfg
	p.op, p.keys = c.picker.Next(p.keys)
	c.seq++
	p.valueID = c.run.valueID(c.idx, c.seq)
	uc.id++
	p.id = uc.id
	p.intended = intended
	req := wire.Request{ID: uc.id, Op: wire.OpGet, Key: workload.AppendKey(uc.key[:0], p.keys[0])}
	if p.op == workload.Set {
		req.Op = wire.OpSet
		uc.val = workload.AppendValue(uc.val[:0], p.valueID, cfg.Workload.ValueSize)
		req.Value = uc.val
	}
	uc.key = req.Key
	if err := uc.u.add(p, &req, cfg.Keys); err != nil {
		c.rec.Error(p.op, "encode: "+err.Error())
		uc.free <- p
		return
	}
	if uc.u.n == len(uc.u.msgs) {
		_ = c.flushUDP(uc.u)
	}
}

// receiveUDP reads one recvmmsg(2) batch of replies (waiting at most
// udpSweep), matches them to requests, and expires those unanswered after
// Timeout. It reports true when the sender is done and nothing is in
// flight, or Timeout after the sender finished.
func (c *conn) receiveUDP(uc *udpConn) bool {
	cfg := c.run.cfg
	_ = uc.nc.SetReadDeadline(time.Now().Add(udpSweep))
	n, err := uc.bc.ReadBatch(uc.msgs, 0)
	n = max(n, 0) // recvmmsg's -1 on an error
	now := c.run.since()
	for _, m := range uc.msgs[:n] {
		c.handleUDPReply(m.Buffers[0][:m.N], &uc.rep, uc.tab, uc.free, now, &uc.rkey)
	}
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		c.fail(connErrorKind(err))
	}
	tab := uc.tab
	tab.mu.Lock()
	defer tab.mu.Unlock()
	if !tab.writing && uc.drainUntil < 0 {
		uc.drainUntil = now + cfg.Timeout
	}
	// Sweep for lost requests every udpSweep, not on every batch.
	if now >= uc.nextSweep || uc.drainUntil >= 0 {
		uc.nextSweep = now + udpSweep
		expireBefore := now - cfg.Timeout
		if uc.drainUntil >= 0 && now >= uc.drainUntil {
			expireBefore = now + 1 // expire everything
		}
		for id, p := range tab.byID {
			if p.sent < expireBefore {
				delete(tab.byID, id)
				c.rec.Error(p.op, "timeout")
				uc.free <- p
			}
		}
	}
	return !tab.writing && len(tab.byID) == 0
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
	if !p.key.IsZero() && (!rep.Signed || rep.RequestMAC != p.mac || !wire.Verify(b, p.key)) {
		c.rec.Error(p.op, "forged or unsigned reply")
		return
	}
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
