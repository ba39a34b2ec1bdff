package transport

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// server is the Transport seen as the gRPC service implementation.
type server Transport

// acceptPeer checks a stream's metadata: it must name a known peer as sender
// and this node as receiver (a node restarted under another ID, or an address
// reused by another node, is refused).
func (t *Transport) acceptPeer(ctx context.Context) (uint64, *peer, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	parse := func(key string) (uint64, error) {
		v := md.Get(key)
		if len(v) != 1 {
			return 0, fmt.Errorf("metadata %s: want one value, got %d", key, len(v))
		}
		return strconv.ParseUint(v[0], 10, 64)
	}
	from, err := parse(mdFrom)
	if err != nil {
		return 0, nil, status.Errorf(codes.InvalidArgument, "node %d: %v", t.id, err)
	}
	to, err := parse(mdTo)
	if err != nil {
		return 0, nil, status.Errorf(codes.InvalidArgument, "node %d: %v", t.id, err)
	}
	if to != t.id {
		return 0, nil, status.Errorf(codes.FailedPrecondition, "stream for node %d reached node %d", to, t.id)
	}
	p := t.peer(from)
	if p == nil {
		return 0, nil, status.Errorf(codes.PermissionDenied, "node %d: node %d is not a peer", t.id, from)
	}
	return from, p, nil
}

// refuseMalformed counts a bad frame from a peer and ends its stream.
func (t *Transport) refuseMalformed(from uint64, c *peerCounters, err error) error {
	c.malformed.Add(1)
	c.setErr(fmt.Errorf("from node %d: %w", from, err))
	return status.Errorf(codes.InvalidArgument, "node %d: %v", t.id, err)
}

func (s *server) raftStream(ss grpc.ServerStream) error {
	t := (*Transport)(s)
	from, p, err := t.acceptPeer(ss.Context())
	if err != nil {
		t.unknownRejects.Add(1)
		return err
	}
	if err := ss.SendHeader(metadata.Pairs(mdAccepted, "1")); err != nil {
		return err
	}
	c := p.ctr
	c.inbound.Add(1)
	defer c.inbound.Add(-1)
	p.goneSent.Store(false)
	defer p.streamEnded() // the peer's process may be gone: probe
	var in inFrame
	var msgs []GroupMessage
	for {
		if err := ss.RecvMsg(&in); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		msgs, err = decodeBatch(in.data, msgs[:0])
		if err != nil {
			clear(msgs)
			return t.refuseMalformed(from, c, err)
		}
		c.batchesRecv.Add(1)
		c.msgsRecv.Add(uint64(len(msgs)))
		c.bytesRecv.Add(uint64(len(in.data)))
		t.handler.HandleBatch(from, msgs)
		clear(msgs) // the handler keeps the messages, not the slice
	}
}

func (s *server) snapshotStream(ss grpc.ServerStream) error {
	t := (*Transport)(s)
	from, p, err := t.acceptPeer(ss.Context())
	if err != nil {
		t.unknownRejects.Add(1)
		return err
	}
	c := p.ctr
	r := &chunkReader{ss: ss}
	if err := ss.RecvMsg(&r.in); err != nil {
		return err
	}
	h, err := decodeSnapHeader(r.in.data)
	if err != nil {
		return t.refuseMalformed(from, c, err)
	}
	r.want = h.Size
	herr := t.handler.HandleSnapshot(from, h, r)
	c.snapBytesRecv.Add(uint64(r.got))
	if r.bad != nil {
		return t.refuseMalformed(from, c, r.bad)
	}
	if herr != nil {
		return status.Errorf(codes.Aborted, "node %d: snapshot of group %d: %v", t.id, h.Group, herr)
	}
	c.snapsRecv.Add(1)
	return ss.SendMsg(&outFrame{})
}

// chunkReader hands the snapshot's chunks to the handler as one stream of
// bytes, receiving the next frame only when the last is used up (so gRPC flow
// control paces the sender to the handler, with streamWindow of slack).
type chunkReader struct {
	ss   grpc.ServerStream
	in   inFrame
	cur  []byte // unread part of the current chunk (aliases in.data)
	want int64  // header.Size, or -1
	got  int64
	err  error // sticky: io.EOF or why the stream failed
	bad  error // a malformed frame, also in err
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		r.next()
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

func (r *chunkReader) next() {
	err := r.ss.RecvMsg(&r.in)
	switch {
	case err == io.EOF && r.want >= 0 && r.got != r.want:
		r.err = fmt.Errorf("snapshot ended after %d of %d bytes: %w", r.got, r.want, io.ErrUnexpectedEOF)
		return
	case err == io.EOF:
		r.err = io.EOF
		return
	case err != nil:
		r.err = fmt.Errorf("snapshot stream: %w", err)
		return
	}
	data, err := decodeSnapChunk(r.in.data)
	if err == nil && r.want >= 0 && r.got+int64(len(data)) > r.want {
		err = malformed("snapshot data past the %d bytes its header announced", r.want)
	}
	if err != nil {
		r.bad, r.err = err, err
		return
	}
	r.cur = data
	r.got += int64(len(data))
}
