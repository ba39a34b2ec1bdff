package transport

import (
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"
)

// The service is defined by hand (no protoc): two streaming methods whose
// messages are frames this package encodes itself, carried by rawCodec.
const (
	serviceName    = "dorivo.replica.Transport"
	raftMethod     = "/" + serviceName + "/Raft"
	snapshotMethod = "/" + serviceName + "/Snapshot"

	// Stream metadata: the sender's and the intended receiver's node IDs.
	mdFrom = "dorivo-from"
	mdTo   = "dorivo-to"
)

// raftStreamDesc is bidirectional only so that the client can block in
// RecvMsg and learn at once when the server ends the stream; the server never
// sends a message on it.
var raftStreamDesc = grpc.StreamDesc{StreamName: "Raft", ClientStreams: true, ServerStreams: true}

// snapshotStreamDesc is client streaming: header, chunks, then one empty
// reply (or the receiver's error as the status).
var snapshotStreamDesc = grpc.StreamDesc{StreamName: "Snapshot", ClientStreams: true}

// serviceHandler is what the hand-written service dispatches to.
type serviceHandler interface {
	raftStream(grpc.ServerStream) error
	snapshotStream(grpc.ServerStream) error
}

var serviceDesc = grpc.ServiceDesc{
	ServiceName: serviceName,
	HandlerType: (*serviceHandler)(nil),
	Streams: []grpc.StreamDesc{
		{
			StreamName:    "Raft",
			Handler:       func(srv any, s grpc.ServerStream) error { return srv.(serviceHandler).raftStream(s) },
			ClientStreams: true,
			ServerStreams: true,
		},
		{
			StreamName:    "Snapshot",
			Handler:       func(srv any, s grpc.ServerStream) error { return srv.(serviceHandler).snapshotStream(s) },
			ClientStreams: true,
		},
	},
	Metadata: "dorivo/replica/transport",
}

// outFrame is a frame to send: a buffer from gRPC's pool, which gRPC frees
// once written (so a sender never reuses it).
type outFrame struct{ bufs mem.BufferSlice }

// newOutFrame copies an encoded frame into a pooled buffer.
func newOutFrame(encoded []byte) *outFrame {
	pool := mem.DefaultBufferPool()
	buf := pool.Get(len(encoded))
	copy(*buf, encoded)
	return &outFrame{bufs: mem.BufferSlice{mem.NewBuffer(buf, pool)}}
}

// inFrame receives a frame into a buffer it reuses across RecvMsg calls:
// decoders copy what they keep.
type inFrame struct{ data []byte }

// rawCodec moves frames as they are; it is forced on both ends, so the
// content-subtype never selects another codec.
type rawCodec struct{}

func (rawCodec) Name() string { return "dorivo-frame" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	f, ok := v.(*outFrame)
	if !ok {
		return nil, fmt.Errorf("transport codec: cannot marshal %T", v)
	}
	bufs := f.bufs
	f.bufs = nil // gRPC owns and frees them now
	return bufs, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	f, ok := v.(*inFrame)
	if !ok {
		return fmt.Errorf("transport codec: cannot unmarshal into %T", v)
	}
	f.data = f.data[:0]
	for _, b := range data {
		f.data = append(f.data, b.ReadOnlyData()...)
	}
	return nil
}
