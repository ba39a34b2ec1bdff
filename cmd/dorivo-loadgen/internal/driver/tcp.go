package driver

import (
	"bufio"
	"context"
	"net"
	"time"

	"github.com/dorivo/dorivo/cmd/dorivo-loadgen/internal/respclient"
	"github.com/dorivo/dorivo/cmd/dorivo-loadgen/internal/workload"
	"github.com/dorivo/dorivo/datapath/resp"
)

// runTCP drives one RESP connection until the run ends, then waits up to
// Timeout for the replies in flight.
func (c *conn) runTCP(ctx context.Context, nc net.Conn) {
	cfg := c.run.cfg
	free := make(chan *pending, cfg.Pipeline)
	for range cfg.Pipeline {
		free <- &pending{keys: make([]workload.Key, 0, cfg.Workload.MSetKeys)}
	}
	inflight := make(chan *pending, cfg.Pipeline)
	dead := make(chan struct{})
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		c.readTCP(nc, inflight, free, dead)
	}()

	bw := bufio.NewWriterSize(nc, 64<<10)
	flush := func() error {
		if bw.Buffered() == 0 {
			return nil
		}
		return bw.Flush()
	}
	s := c.newScheduler()
	var key, val []byte
loop:
	for {
		intended, ok := c.wait(ctx, s, flush)
		if !ok {
			break
		}
		var p *pending
		select {
		case p = <-free:
		default:
			if flush() != nil {
				break loop
			}
			select {
			case p = <-free:
			case <-dead:
				break loop
			case <-ctx.Done():
				break loop
			}
		}
		p.op, p.keys = c.picker.Next(p.keys)
		c.seq++
		p.valueID = c.run.valueID(c.idx, c.seq)
		switch p.op {
		case workload.Get:
			key = workload.AppendKey(key[:0], p.keys[0])
			writeBuf(bw, respclient.AppendGet, key)
		case workload.Set, workload.MSet:
			val = workload.AppendValue(val[:0], p.valueID, cfg.Workload.ValueSize)
			var b []byte
			if p.op == workload.Set {
				key = workload.AppendKey(key[:0], p.keys[0])
				b = respclient.AppendSet(bw.AvailableBuffer(), key, val)
			} else {
				b = respclient.AppendMSetHeader(bw.AvailableBuffer(), len(p.keys))
				for _, k := range p.keys {
					key = workload.AppendKey(key[:0], k)
					b = resp.AppendBulk(b, key)
					b = resp.AppendBulk(b, val)
				}
			}
			bw.Write(b)
		}
		p.sent = c.run.since()
		p.intended = intended
		if !s.open {
			p.intended = p.sent
		}
		inflight <- p
	}
	if err := flush(); err != nil {
		c.fail(connErrorKind(err))
	}
	close(inflight)
	_ = nc.SetReadDeadline(time.Now().Add(cfg.Timeout))
	<-readerDone
	c.recordFailure()
}

func writeBuf(bw *bufio.Writer, app func(dst, key []byte) []byte, key []byte) {
	bw.Write(app(bw.AvailableBuffer(), key))
}

// readTCP reads replies in order. After a connection failure it charges the
// failure to every request still in flight.
func (c *conn) readTCP(nc net.Conn, inflight, free chan *pending, dead chan struct{}) {
	cfg := c.run.cfg
	rr := respclient.NewReader(nc)
	var rep respclient.Reply
	var key, val []byte
	for p := range inflight {
		if err := rr.ReadReply(&rep); err != nil {
			kind := connErrorKind(err)
			c.fail(kind)
			close(dead)
			c.rec.Error(p.op, kind)
			free <- p
			for p := range inflight {
				c.rec.Error(p.op, kind)
				free <- p
			}
			return
		}
		now := c.run.since()
		switch {
		case rep.Kind == respclient.Error:
			c.rec.Error(p.op, errorKind(rep.Str))
		case p.op == workload.Get && rep.Kind == respclient.Bulk:
			if rep.Nil {
				c.rec.Miss(p.op)
			}
			c.rec.OK(p.op, now-p.intended, now-p.sent)
		case p.op != workload.Get && rep.Kind == respclient.Simple && string(rep.Str) == "OK":
			c.rec.OK(p.op, now-p.intended, now-p.sent)
			if cfg.Journal != nil {
				val = workload.AppendValue(val[:0], p.valueID, cfg.Workload.ValueSize)
				for _, k := range p.keys {
					key = workload.AppendKey(key[:0], k)
					if err := cfg.Journal.Log(p.op.String(), key, val); err != nil {
						c.rec.Stray("record file write failed")
					}
				}
			}
		default:
			c.rec.Error(p.op, "unexpected reply type "+string(rep.Kind))
		}
		free <- p
	}
}
