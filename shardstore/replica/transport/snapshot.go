package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"google.golang.org/grpc/metadata"
)

// SendSnapshot streams a snapshot to node to: header first, then data read
// from r in chunks (WithSnapshotChunkSize, 1 MiB by default), each sent once
// gRPC's flow control admits it. It runs on its own connection, so raft
// batches and heartbeats to the same node are not queued behind it. It
// returns when the receiver's handler has returned, with its error.
func (t *Transport) SendSnapshot(ctx context.Context, to uint64, h SnapshotHeader, r io.Reader) error {
	p := t.peer(to)
	if p == nil {
		return fmt.Errorf("transport: snapshot to node %d: not a peer", to)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(p.ctx, cancel)() // a stopped peer aborts the stream
	ctx = metadata.NewOutgoingContext(ctx, metadata.Pairs(
		mdFrom, strconv.FormatUint(t.id, 10), mdTo, strconv.FormatUint(to, 10)))
	fail := func(what string, err error) error {
		err = fmt.Errorf("transport: snapshot of group %d to node %d: %s: %w", h.Group, to, what, err)
		p.ctr.setErr(err)
		return err
	}
	cs, err := p.snapConn.NewStream(ctx, &snapshotStreamDesc, snapshotMethod)
	if err != nil {
		return fail("open stream", err)
	}
	frame, err := appendSnapHeader(nil, h)
	if err != nil {
		return fail("header", err)
	}
	if err := cs.SendMsg(newOutFrame(frame)); err != nil {
		return fail("send header", statusOf(cs, err))
	}
	buf := make([]byte, t.opts.chunkSize)
	var sent int64
	for {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			frame = appendSnapChunk(frame[:0], buf[:n])
			if err := cs.SendMsg(newOutFrame(frame)); err != nil {
				return fail("send chunk", statusOf(cs, err))
			}
			sent += int64(n)
			p.ctr.snapBytesSent.Add(uint64(n))
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return fail("read data", rerr) // cancel aborts the stream: the receiver sees an error
		}
	}
	if h.Size >= 0 && sent != h.Size {
		return fail("read data", fmt.Errorf("%d bytes, header said %d", sent, h.Size))
	}
	if err := cs.CloseSend(); err != nil {
		return fail("close", err)
	}
	if err := cs.RecvMsg(&inFrame{}); err != nil {
		return fail("receiver", err)
	}
	p.ctr.snapsSent.Add(1)
	return nil
}

// statusOf turns SendMsg's io.EOF (the receiver ended the stream) into the
// status the receiver ended it with.
func statusOf(cs interface{ RecvMsg(any) error }, err error) error {
	if !errors.Is(err, io.EOF) {
		return err
	}
	if rerr := cs.RecvMsg(&inFrame{}); rerr != nil {
		return rerr
	}
	return err
}
