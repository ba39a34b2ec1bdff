package transport

import (
	"errors"
	"fmt"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// GroupMessage is one raft message and the raft group (shard) it belongs to:
// raftpb.Message has no group field, so the group travels beside it.
type GroupMessage struct {
	Group uint64
	Msg   *raftpb.Message
}

// SnapshotHeader opens a snapshot stream. Msg is the MsgSnap raft produced
// (its Snapshot.Data is usually empty: the data follows as chunks). Size is
// the number of data bytes that follow, or -1 when the sender does not know;
// a known size is checked at the end of the stream.
type SnapshotHeader struct {
	Group uint64
	Msg   *raftpb.Message
	Size  int64
}

// The frames are protobuf wire format written by hand with protowire, so a
// later version can add fields that an older one skips.
//
//	batch frame:     1 = group message (repeated), 2 = heartbeat block (at most one per flush)
//	group message:   1 = group (varint), 2 = raftpb.Message (proto.Marshal bytes)
//	heartbeat block: 1 = heartbeat (repeated)
//	heartbeat:       1 = group, 2 = type, 3 = to, 4 = from, 5 = term, 6 = commit (varints), 7 = context (bytes)
//	snapshot header: 1 = group, 2 = raftpb.Message, 3 = size (present only when known)
//	snapshot chunk:  4 = data
//
// A heartbeat field is written only when the original message had it set, so
// the receiver rebuilds a message proto.Equal to the one sent.
const (
	fBatchMsg        = 1
	fBatchHeartbeats = 2

	fGroupMsgGroup = 1
	fGroupMsgMsg   = 2

	fHBBlockEntry = 1

	fHBGroup   = 1
	fHBType    = 2
	fHBTo      = 3
	fHBFrom    = 4
	fHBTerm    = 5
	fHBCommit  = 6
	fHBContext = 7

	fSnapGroup = 1
	fSnapMsg   = 2
	fSnapSize  = 3
	fSnapChunk = 4
)

// errMalformed wraps every decoding failure: the receiver closes the stream of
// a peer whose frame fails with it.
var errMalformed = errors.New("malformed frame")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errMalformed, fmt.Sprintf(format, args...))
}

// coalescable reports whether m is a heartbeat (or response) that holds only
// the fields a heartbeat entry carries, so the receiver can rebuild it exactly.
// Anything else travels as a plain group message.
func coalescable(m *raftpb.Message) bool {
	if m.Type == nil {
		return false
	}
	if t := *m.Type; t != raftpb.MsgHeartbeat && t != raftpb.MsgHeartbeatResp {
		return false
	}
	return m.LogTerm == nil && m.Index == nil && len(m.Entries) == 0 && m.Vote == nil &&
		m.Snapshot == nil && m.Reject == nil && m.RejectHint == nil && len(m.Responses) == 0 &&
		len(m.ProtoReflect().GetUnknown()) == 0
}

var marshalCached = proto.MarshalOptions{UseCachedSize: true}

// appendGroupMsg appends one group message (field fBatchMsg) to a batch frame.
func appendGroupMsg(b []byte, group uint64, m *raftpb.Message) ([]byte, error) {
	size := proto.Size(m) // caches sizes for marshalCached
	inner := protowire.SizeTag(fGroupMsgGroup) + protowire.SizeVarint(group) +
		protowire.SizeTag(fGroupMsgMsg) + protowire.SizeBytes(size)
	start := len(b)
	b = protowire.AppendTag(b, fBatchMsg, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(inner))
	b = protowire.AppendTag(b, fGroupMsgGroup, protowire.VarintType)
	b = protowire.AppendVarint(b, group)
	b = protowire.AppendTag(b, fGroupMsgMsg, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(size))
	out, err := marshalCached.MarshalAppend(b, m)
	if err != nil || len(out)-len(b) != size {
		return b[:start], fmt.Errorf("marshal raft message of group %d: %v (size %d, wrote %d)", group, err, size, len(out)-len(b))
	}
	return out, nil
}

func sizeOptVarint(num protowire.Number, v *uint64) int {
	if v == nil {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeVarint(*v)
}

func appendOptVarint(b []byte, num protowire.Number, v *uint64) []byte {
	if v == nil {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, *v)
}

func heartbeatSize(group uint64, m *raftpb.Message) int {
	n := protowire.SizeTag(fHBGroup) + protowire.SizeVarint(group) +
		protowire.SizeTag(fHBType) + protowire.SizeVarint(uint64(*m.Type)) +
		sizeOptVarint(fHBTo, m.To) + sizeOptVarint(fHBFrom, m.From) +
		sizeOptVarint(fHBTerm, m.Term) + sizeOptVarint(fHBCommit, m.Commit)
	if m.Context != nil {
		n += protowire.SizeTag(fHBContext) + protowire.SizeBytes(len(m.Context))
	}
	return n
}

// appendHeartbeats appends the heartbeat block (field fBatchHeartbeats) for
// hbs, all of which are coalescable.
func appendHeartbeats(b []byte, hbs []GroupMessage) []byte {
	if len(hbs) == 0 {
		return b
	}
	block := 0
	for _, h := range hbs {
		block += protowire.SizeTag(fHBBlockEntry) + protowire.SizeBytes(heartbeatSize(h.Group, h.Msg))
	}
	b = protowire.AppendTag(b, fBatchHeartbeats, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(block))
	for _, h := range hbs {
		m := h.Msg
		b = protowire.AppendTag(b, fHBBlockEntry, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(heartbeatSize(h.Group, m)))
		b = protowire.AppendTag(b, fHBGroup, protowire.VarintType)
		b = protowire.AppendVarint(b, h.Group)
		b = protowire.AppendTag(b, fHBType, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(*m.Type))
		b = appendOptVarint(b, fHBTo, m.To)
		b = appendOptVarint(b, fHBFrom, m.From)
		b = appendOptVarint(b, fHBTerm, m.Term)
		b = appendOptVarint(b, fHBCommit, m.Commit)
		if m.Context != nil {
			b = protowire.AppendTag(b, fHBContext, protowire.BytesType)
			b = protowire.AppendBytes(b, m.Context)
		}
	}
	return b
}

// field is one decoded top-level field of a frame: a varint or a byte slice
// that aliases the frame.
type field struct {
	num   protowire.Number
	typ   protowire.Type
	v     uint64
	bytes []byte
}

// nextField consumes one field from b. Fields of other wire types than varint
// and bytes are skipped over (returned with typ set, no value).
func nextField(b []byte) (field, []byte, error) {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 {
		return field{}, nil, malformed("tag: %v", protowire.ParseError(n))
	}
	b = b[n:]
	f := field{num: num, typ: typ}
	switch typ {
	case protowire.VarintType:
		f.v, n = protowire.ConsumeVarint(b)
	case protowire.BytesType:
		f.bytes, n = protowire.ConsumeBytes(b)
	default:
		n = protowire.ConsumeFieldValue(num, typ, b)
	}
	if n < 0 {
		return field{}, nil, malformed("field %d: %v", num, protowire.ParseError(n))
	}
	return f, b[n:], nil
}

// want checks that a known field has the wire type its number needs.
func (f field) want(typ protowire.Type, what string) error {
	if f.typ != typ {
		return malformed("%s (field %d) has wire type %d", what, f.num, f.typ)
	}
	return nil
}

// decodeBatch decodes a batch frame, appending its messages to out: the
// group messages in the order sent, then the fanned-out heartbeats. The
// messages copy what they need, so b may be reused afterwards.
func decodeBatch(b []byte, out []GroupMessage) ([]GroupMessage, error) {
	for len(b) > 0 {
		f, rest, err := nextField(b)
		if err != nil {
			return out, err
		}
		b = rest
		switch f.num {
		case fBatchMsg:
			if err := f.want(protowire.BytesType, "group message"); err != nil {
				return out, err
			}
			gm, err := decodeGroupMsg(f.bytes)
			if err != nil {
				return out, err
			}
			out = append(out, gm)
		case fBatchHeartbeats:
			if err := f.want(protowire.BytesType, "heartbeat block"); err != nil {
				return out, err
			}
			if out, err = decodeHeartbeats(f.bytes, out); err != nil {
				return out, err
			}
		}
	}
	return out, nil
}

func decodeGroupMsg(b []byte) (GroupMessage, error) {
	var gm GroupMessage
	var msg []byte
	var haveGroup, haveMsg bool
	for len(b) > 0 {
		f, rest, err := nextField(b)
		if err != nil {
			return gm, err
		}
		b = rest
		switch f.num {
		case fGroupMsgGroup:
			if err := f.want(protowire.VarintType, "group"); err != nil {
				return gm, err
			}
			gm.Group, haveGroup = f.v, true
		case fGroupMsgMsg:
			if err := f.want(protowire.BytesType, "raft message"); err != nil {
				return gm, err
			}
			msg, haveMsg = f.bytes, true
		}
	}
	if !haveGroup || !haveMsg {
		return gm, malformed("group message without group or message")
	}
	gm.Msg = new(raftpb.Message)
	if err := proto.Unmarshal(msg, gm.Msg); err != nil {
		return gm, malformed("raft message of group %d: %v", gm.Group, err)
	}
	return gm, nil
}

func decodeHeartbeats(b []byte, out []GroupMessage) ([]GroupMessage, error) {
	for len(b) > 0 {
		f, rest, err := nextField(b)
		if err != nil {
			return out, err
		}
		b = rest
		if f.num != fHBBlockEntry {
			continue
		}
		if err := f.want(protowire.BytesType, "heartbeat"); err != nil {
			return out, err
		}
		gm, err := decodeHeartbeat(f.bytes)
		if err != nil {
			return out, err
		}
		out = append(out, gm)
	}
	return out, nil
}

func decodeHeartbeat(b []byte) (GroupMessage, error) {
	var gm GroupMessage
	m := new(raftpb.Message)
	var haveGroup bool
	for len(b) > 0 {
		f, rest, err := nextField(b)
		if err != nil {
			return gm, err
		}
		b = rest
		if f.num == fHBContext {
			if err := f.want(protowire.BytesType, "heartbeat context"); err != nil {
				return gm, err
			}
			m.Context = append([]byte{}, f.bytes...) // non-nil even when empty, as sent
			continue
		}
		if f.num < fHBGroup || f.num > fHBCommit {
			continue
		}
		if err := f.want(protowire.VarintType, "heartbeat field"); err != nil {
			return gm, err
		}
		switch f.num {
		case fHBGroup:
			gm.Group, haveGroup = f.v, true
		case fHBType:
			t := raftpb.MessageType(f.v)
			if uint64(t) != f.v || (t != raftpb.MsgHeartbeat && t != raftpb.MsgHeartbeatResp) {
				return gm, malformed("heartbeat of type %d", f.v)
			}
			m.Type = t.Enum()
		case fHBTo:
			m.To = new(f.v)
		case fHBFrom:
			m.From = new(f.v)
		case fHBTerm:
			m.Term = new(f.v)
		case fHBCommit:
			m.Commit = new(f.v)
		}
	}
	if !haveGroup || m.Type == nil {
		return gm, malformed("heartbeat without group or type")
	}
	gm.Msg = m
	return gm, nil
}

// appendSnapHeader encodes a snapshot header frame.
func appendSnapHeader(b []byte, h SnapshotHeader) ([]byte, error) {
	b = protowire.AppendTag(b, fSnapGroup, protowire.VarintType)
	b = protowire.AppendVarint(b, h.Group)
	if h.Msg != nil {
		msg, err := proto.Marshal(h.Msg)
		if err != nil {
			return nil, fmt.Errorf("marshal snapshot message of group %d: %w", h.Group, err)
		}
		b = protowire.AppendTag(b, fSnapMsg, protowire.BytesType)
		b = protowire.AppendBytes(b, msg)
	}
	if h.Size >= 0 {
		b = protowire.AppendTag(b, fSnapSize, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(h.Size))
	}
	return b, nil
}

func decodeSnapHeader(b []byte) (SnapshotHeader, error) {
	h := SnapshotHeader{Size: -1}
	var haveGroup bool
	for len(b) > 0 {
		f, rest, err := nextField(b)
		if err != nil {
			return h, err
		}
		b = rest
		switch f.num {
		case fSnapGroup:
			if err := f.want(protowire.VarintType, "snapshot group"); err != nil {
				return h, err
			}
			h.Group, haveGroup = f.v, true
		case fSnapMsg:
			if err := f.want(protowire.BytesType, "snapshot message"); err != nil {
				return h, err
			}
			h.Msg = new(raftpb.Message)
			if err := proto.Unmarshal(f.bytes, h.Msg); err != nil {
				return h, malformed("snapshot message: %v", err)
			}
		case fSnapSize:
			if err := f.want(protowire.VarintType, "snapshot size"); err != nil {
				return h, err
			}
			if f.v > 1<<62 {
				return h, malformed("snapshot size %d", f.v)
			}
			h.Size = int64(f.v)
		case fSnapChunk:
			return h, malformed("snapshot chunk before the header")
		}
	}
	if !haveGroup {
		return h, malformed("snapshot header without group")
	}
	return h, nil
}

func appendSnapChunk(b, data []byte) []byte {
	b = protowire.AppendTag(b, fSnapChunk, protowire.BytesType)
	return protowire.AppendBytes(b, data)
}

// decodeSnapChunk returns the data of a chunk frame, aliasing b.
func decodeSnapChunk(b []byte) ([]byte, error) {
	var data []byte
	var have bool
	for len(b) > 0 {
		f, rest, err := nextField(b)
		if err != nil {
			return nil, err
		}
		b = rest
		if f.num != fSnapChunk {
			continue
		}
		if err := f.want(protowire.BytesType, "snapshot chunk"); err != nil {
			return nil, err
		}
		if have {
			return nil, malformed("two chunks in one frame")
		}
		data, have = f.bytes, true
	}
	if !have {
		return nil, malformed("snapshot frame without a chunk")
	}
	return data, nil
}
