package transport

import (
	"bytes"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func sampleBatch() []GroupMessage {
	var q []GroupMessage
	for g := uint64(1); g <= 4; g++ {
		q = append(q, GroupMessage{Group: g, Msg: app(2, 1, 3, g, "value")})
		hb := heartbeat(raftpb.MsgHeartbeat, 2, 1, 3)
		hb.Commit = new(g)
		if g == 2 {
			hb.Context = []byte("ctx")
		}
		q = append(q, GroupMessage{Group: g, Msg: hb})
		q = append(q, GroupMessage{Group: g, Msg: heartbeat(raftpb.MsgHeartbeatResp, 2, 1, 3)})
	}
	return q
}

// encodeBatch encodes q as writeBatch does for one frame.
func encodeBatch(t testing.TB, q []GroupMessage) []byte {
	var b []byte
	var hbs []GroupMessage
	for _, gm := range q {
		if coalescable(gm.Msg) {
			hbs = append(hbs, gm)
			continue
		}
		var err error
		if b, err = appendGroupMsg(b, gm.Group, gm.Msg); err != nil {
			t.Fatal(err)
		}
	}
	return appendHeartbeats(b, hbs)
}

func TestBatchRoundTrip(t *testing.T) {
	q := sampleBatch()
	got, err := decodeBatch(encodeBatch(t, q), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(q) {
		t.Fatalf("decoded %d messages, encoded %d", len(got), len(q))
	}
	// Plain messages first, in order; then the heartbeats, in order.
	var plain, hbs []GroupMessage
	for _, gm := range q {
		if coalescable(gm.Msg) {
			hbs = append(hbs, gm)
		} else {
			plain = append(plain, gm)
		}
	}
	for i, w := range append(plain, hbs...) {
		if got[i].Group != w.Group || !proto.Equal(got[i].Msg, w.Msg) {
			t.Fatalf("message %d: got %d %v, want %d %v", i, got[i].Group, got[i].Msg, w.Group, w.Msg)
		}
	}
}

// The coalesced block is smaller than the same heartbeats as plain messages.
func TestCoalescedBlockIsCompact(t *testing.T) {
	var hbs []GroupMessage
	for g := uint64(1); g <= 1000; g++ {
		hb := heartbeat(raftpb.MsgHeartbeat, 2, 1, 9)
		hb.Commit = new(1000 + g)
		hbs = append(hbs, GroupMessage{Group: 1000 + g, Msg: hb})
	}
	block := len(appendHeartbeats(nil, hbs))
	var plain []byte
	for _, h := range hbs {
		plain, _ = appendGroupMsg(plain, h.Group, h.Msg)
	}
	t.Logf("1000 heartbeats: coalesced %d bytes, as plain messages %d bytes", block, len(plain))
	if block >= len(plain) {
		t.Fatalf("coalesced block %d bytes is not smaller than %d", block, len(plain))
	}
}

func TestSnapFramesRoundTrip(t *testing.T) {
	h := SnapshotHeader{Group: 5, Msg: app(2, 1, 1, 1, "snap"), Size: 12}
	b, err := appendSnapHeader(nil, h)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeSnapHeader(b)
	if err != nil || got.Group != 5 || got.Size != 12 || !proto.Equal(got.Msg, h.Msg) {
		t.Fatalf("header round trip: %+v, %v", got, err)
	}
	data, err := decodeSnapChunk(appendSnapChunk(nil, []byte("hello")))
	if err != nil || !bytes.Equal(data, []byte("hello")) {
		t.Fatalf("chunk round trip: %q, %v", data, err)
	}
	if _, err := decodeSnapChunk(appendSnapChunk(appendSnapChunk(nil, []byte("a")), []byte("b"))); err == nil {
		t.Fatal("two chunks in one frame accepted")
	}
	if _, err := decodeSnapHeader(appendSnapChunk(nil, []byte("a"))); err == nil {
		t.Fatal("a chunk accepted as header")
	}
}

// FuzzDecodeBatch feeds arbitrary bytes to the batch decoder: it must return
// messages or an error, never panic, and what it decodes must re-encode and
// decode to the same messages.
func FuzzDecodeBatch(f *testing.F) {
	f.Add(encodeBatch(f, sampleBatch()))
	f.Add([]byte{0x0a, 0x04, 0x08, 0x01, 0x12, 0x00})
	f.Add([]byte{0x12, 0x06, 0x0a, 0x04, 0x08, 0x01, 0x10, 0x08})
	f.Fuzz(func(t *testing.T, b []byte) {
		msgs, err := decodeBatch(b, nil)
		if err != nil {
			return
		}
		again, err := decodeBatch(encodeBatch(t, msgs), nil)
		if err != nil {
			t.Fatalf("re-encoded batch does not decode: %v", err)
		}
		if len(again) != len(msgs) {
			t.Fatalf("re-encoded %d messages, decoded %d", len(msgs), len(again))
		}
	})
}

// FuzzDecodeSnapFrames does the same for the snapshot frames.
func FuzzDecodeSnapFrames(f *testing.F) {
	hdr, _ := appendSnapHeader(nil, SnapshotHeader{Group: 3, Msg: app(2, 1, 1, 1, "x"), Size: 10})
	f.Add(hdr)
	f.Add(appendSnapChunk(nil, []byte("chunk")))
	f.Fuzz(func(t *testing.T, b []byte) {
		if h, err := decodeSnapHeader(b); err == nil && h.Size < -1 {
			t.Fatalf("negative size %d", h.Size)
		}
		_, _ = decodeSnapChunk(b)
	})
}
