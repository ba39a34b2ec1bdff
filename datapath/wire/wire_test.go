package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/dorivo/dorivo/bpf"
)

func mustAppendRequest(t testing.TB, r *Request) []byte {
	t.Helper()
	b, err := AppendRequest(nil, r)
	if err != nil {
		t.Fatalf("AppendRequest(%+v): %v", r, err)
	}
	return b
}

func TestRequestLayoutMatchesDoc(t *testing.T) {
	b := mustAppendRequest(t, &Request{ID: 0x01020304, Op: OpSet, Key: []byte("{acme}:k"), Value: []byte("vv")})
	want := []byte{
		0xD0, 0x17, // magic
		1,    // version
		2,    // opcode SET
		0, 0, // flags, status
		4,          // tag_len
		0,          // reserved
		1, 2, 3, 4, // request_id
		0, 8, // key_len
		0, 2, // value_len
	}
	want = append(want, "acme{acme}:kvv"...)
	if !bytes.Equal(b, want) {
		t.Fatalf("SET datagram\n got %x\nwant %x", b, want)
	}
	rep, err := AppendReply(nil, &Reply{ID: 7, Op: OpGet, Status: StatusNotFound})
	if err != nil {
		t.Fatal(err)
	}
	wantRep := []byte{0xD0, 0x17, 1, 1, 1, 1, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0}
	if !bytes.Equal(rep, wantRep) {
		t.Fatalf("reply datagram\n got %x\nwant %x", rep, wantRep)
	}
}

func TestRequestRoundTrip(t *testing.T) {
	for _, r := range []Request{
		{ID: 1, Op: OpGet, Tag: []byte("t"), Key: []byte("{t}:a")},
		{ID: 2, Op: OpSet, Tag: []byte("tenant7"), Key: []byte("{tenant7}:key:9"), Value: bytes.Repeat([]byte("x"), MaxValueLen)},
		{ID: 3, Op: OpSet, Tag: []byte("k"), Key: []byte("k"), Value: []byte{}},
		{ID: 0xffffffff, Op: OpDel, Tag: bytes.Repeat([]byte("t"), MaxTagLen), Key: bytes.Repeat([]byte("k"), MaxKeyLen)},
	} {
		b := mustAppendRequest(t, &r)
		var got Request
		if err := ParseRequest(b, &got); err != nil {
			t.Fatalf("ParseRequest(%x): %v", b, err)
		}
		if got.ID != r.ID || got.Op != r.Op || !bytes.Equal(got.Tag, r.Tag) || !bytes.Equal(got.Key, r.Key) || !bytes.Equal(got.Value, r.Value) {
			t.Errorf("round trip: got %+v, want %+v", got, r)
		}
		if !TagMatchesKey(got.Tag, got.Key) && r.ID != 0xffffffff {
			t.Errorf("TagMatchesKey(%q, %q) = false", got.Tag, got.Key)
		}
	}
}

func TestReplyRoundTrip(t *testing.T) {
	for _, r := range []Reply{
		{ID: 9, Op: OpGet, Status: StatusOK, Body: []byte("value")},
		{ID: 10, Op: OpSet, Status: StatusError, Body: []byte(ValueTooLargeMessage)},
		{ID: 11, Op: OpDel, Status: StatusUnavailable, Body: []byte{}},
		{ID: 12, Op: OpGet, Status: StatusOK, Body: bytes.Repeat([]byte("b"), MaxReplyBody)},
	} {
		b, err := AppendReply(nil, &r)
		if err != nil {
			t.Fatal(err)
		}
		var got Reply
		if err := ParseReply(b, &got); err != nil {
			t.Fatalf("ParseReply: %v", err)
		}
		if got.ID != r.ID || got.Op != r.Op || got.Status != r.Status || !bytes.Equal(got.Body, r.Body) {
			t.Errorf("round trip: got %+v, want %+v", got, r)
		}
	}
	for _, tc := range []struct {
		r    Reply
		want error
	}{
		{Reply{Op: 0}, ErrBadOpcode},
		{Reply{Op: OpGet, Status: 5}, ErrBadStatus},
		{Reply{Op: OpGet, Body: make([]byte, MaxReplyBody+1)}, ErrBodyTooLarge},
	} {
		if b, err := AppendReply([]byte("x"), &tc.r); err != tc.want || string(b) != "x" {
			t.Errorf("AppendReply(%v) = %q, %v; want dst unchanged, %v", tc.r.Op, b, err, tc.want)
		}
	}
}

// patch returns a copy of a valid GET datagram with fn applied.
func patch(fn func(b []byte) []byte) []byte {
	b, _ := AppendRequest(nil, &Request{ID: 5, Op: OpGet, Key: []byte("{acme}:user:1")})
	return fn(b)
}

func TestParseRequestMalformations(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
		want error
		drop bpf.DorivoXdpReason
	}{
		{"empty", nil, ErrShortHeader, bpf.DorivoXdpReasonXDP_R_DROP_SHORT_HDR},
		{"15 bytes", patch(func(b []byte) []byte { return b[:15] }), ErrShortHeader, bpf.DorivoXdpReasonXDP_R_DROP_SHORT_HDR},
		{"magic", patch(func(b []byte) []byte { b[1] = 0x18; return b }), ErrBadMagic, bpf.DorivoXdpReasonXDP_R_DROP_BAD_MAGIC},
		{"version 3", patch(func(b []byte) []byte { b[2] = 3; return b }), ErrBadVersion, bpf.DorivoXdpReasonXDP_R_DROP_BAD_VERSION},
		{"opcode 0", patch(func(b []byte) []byte { b[3] = 0; return b }), ErrBadOpcode, bpf.DorivoXdpReasonXDP_R_DROP_BAD_OPCODE},
		{"opcode 4", patch(func(b []byte) []byte { b[3] = 4; return b }), ErrBadOpcode, bpf.DorivoXdpReasonXDP_R_DROP_BAD_OPCODE},
		{"reply flag", patch(func(b []byte) []byte { b[4] = FlagReply; return b }), ErrBadFlags, bpf.DorivoXdpReasonXDP_R_DROP_BAD_OPCODE},
		{"status", patch(func(b []byte) []byte { b[5] = 1; return b }), ErrBadStatus, bpf.DorivoXdpReasonXDP_R_DROP_BAD_OPCODE},
		{"reserved", patch(func(b []byte) []byte { b[7] = 1; return b }), ErrBadReserved, bpf.DorivoXdpReasonXDP_R_DROP_BAD_OPCODE},
		{"tag len 0", patch(func(b []byte) []byte { b[6] = 0; return b }), ErrBadTagLen, bpf.DorivoXdpReasonXDP_R_DROP_BAD_TAG_LEN},
		{"tag len 65", patch(func(b []byte) []byte { b[6] = 65; return b }), ErrBadTagLen, bpf.DorivoXdpReasonXDP_R_DROP_BAD_TAG_LEN},
		{"key len 0", patch(func(b []byte) []byte { binary.BigEndian.PutUint16(b[12:], 0); return b }), ErrBadKeyLen, bpf.DorivoXdpReasonXDP_R_DROP_BAD_LENGTH},
		{"key len 513", patch(func(b []byte) []byte { binary.BigEndian.PutUint16(b[12:], 513); return b }), ErrBadKeyLen, bpf.DorivoXdpReasonXDP_R_DROP_BAD_LENGTH},
		{"value on GET", patch(func(b []byte) []byte { binary.BigEndian.PutUint16(b[14:], 1); return append(b, 'v') }), ErrValueNotAllowed, bpf.DorivoXdpReasonXDP_R_DROP_BAD_LENGTH},
		{"trailing byte", patch(func(b []byte) []byte { return append(b, 0) }), ErrBadLength, bpf.DorivoXdpReasonXDP_R_DROP_BAD_LENGTH},
		{"truncated key", patch(func(b []byte) []byte { return b[:len(b)-1] }), ErrBadLength, bpf.DorivoXdpReasonXDP_R_DROP_BAD_LENGTH},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r Request
			err := ParseRequest(tc.b, &r)
			if err != tc.want {
				t.Fatalf("ParseRequest = %v, want %v", err, tc.want)
			}
			if got, ok := DropReason(err); !ok || got != tc.drop {
				t.Errorf("DropReason(%v) = %d, %v; want %d", err, got, ok, tc.drop)
			}
		})
	}
}

func TestOversizedValueIsParsedAndReported(t *testing.T) {
	value := bytes.Repeat([]byte("v"), MaxValueLen+1)
	req := Request{ID: 42, Op: OpSet, Tag: []byte("acme"), Key: []byte("{acme}:big"), Value: value}
	if _, err := AppendRequest(nil, &req); err != ErrValueTooLarge {
		t.Fatalf("AppendRequest with %d-byte value: %v, want ErrValueTooLarge", len(value), err)
	}
	b := AppendRequestUnchecked(nil, &req)
	var r Request
	if err := ParseRequest(b, &r); err != ErrValueTooLarge {
		t.Fatalf("ParseRequest = %v, want ErrValueTooLarge", err)
	}
	if r.ID != 42 || r.Op != OpSet || string(r.Key) != "{acme}:big" || !bytes.Equal(r.Value, value) {
		t.Fatalf("oversized SET not fully parsed: %+v", r)
	}
	if _, ok := DropReason(ErrValueTooLarge); ok {
		t.Error("DropReason(ErrValueTooLarge) reports a kernel drop; the kernel passes it")
	}
	if !strings.Contains(ValueTooLargeMessage, "max 1024 bytes") {
		t.Errorf("message %q does not name the limit", ValueTooLargeMessage)
	}
}

func TestAppendRequestRefusesInvalid(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    Request
		want error
	}{
		{"opcode", Request{Op: 9, Key: []byte("k")}, ErrBadOpcode},
		{"empty key and tag", Request{Op: OpGet}, ErrBadTagLen},
		{"long untagged key", Request{Op: OpGet, Key: bytes.Repeat([]byte("k"), 65)}, ErrBadTagLen},
		{"long key", Request{Op: OpGet, Key: append([]byte("{t}"), make([]byte, MaxKeyLen)...)}, ErrBadKeyLen},
		{"value on DEL", Request{Op: OpDel, Key: []byte("k"), Value: []byte("v")}, ErrValueNotAllowed},
	} {
		if b, err := AppendRequest([]byte("x"), &tc.r); err != tc.want || string(b) != "x" {
			t.Errorf("%s: AppendRequest = %q, %v; want dst unchanged, %v", tc.name, b, err, tc.want)
		}
	}
}

func TestParseReplyMalformations(t *testing.T) {
	valid := func() []byte {
		b, _ := AppendReply(nil, &Reply{ID: 1, Op: OpGet, Status: StatusOK, Body: []byte("v")})
		return b
	}
	for _, tc := range []struct {
		name string
		fn   func(b []byte) []byte
		want error
	}{
		{"short", func(b []byte) []byte { return b[:3] }, ErrShortHeader},
		{"magic", func(b []byte) []byte { b[0] = 0; return b }, ErrBadMagic},
		{"version", func(b []byte) []byte { b[2] = 0; return b }, ErrBadVersion},
		{"opcode", func(b []byte) []byte { b[3] = 0; return b }, ErrBadOpcode},
		{"no reply flag", func(b []byte) []byte { b[4] = 0; return b }, ErrBadFlags},
		{"status 5", func(b []byte) []byte { b[5] = 5; return b }, ErrBadStatus},
		{"reserved", func(b []byte) []byte { b[7] = 1; return b }, ErrBadReserved},
		{"tag len", func(b []byte) []byte { b[6] = 1; return b }, ErrBadTagLen},
		{"key len", func(b []byte) []byte { b[13] = 1; return b }, ErrBadKeyLen},
		{"short body", func(b []byte) []byte { return b[:len(b)-1] }, ErrBadLength},
	} {
		var r Reply
		if err := ParseReply(tc.fn(valid()), &r); err != tc.want {
			t.Errorf("%s: ParseReply = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestTagMatchesKey(t *testing.T) {
	for _, tc := range []struct {
		tag, key string
		want     bool
	}{
		{"acme", "{acme}:user:1", true},
		{"plain", "plain", true},
		{"acme", "{other}:user:1", false},
		{"{acme}:x", "{acme}:x", false},
		{"{}x", "{}x", true},
	} {
		if got := TagMatchesKey([]byte(tc.tag), []byte(tc.key)); got != tc.want {
			t.Errorf("TagMatchesKey(%q, %q) = %v, want %v", tc.tag, tc.key, got, tc.want)
		}
	}
}

func TestErrorsAreDistinct(t *testing.T) {
	all := []error{ErrShortHeader, ErrBadMagic, ErrBadVersion, ErrBadOpcode, ErrBadFlags, ErrBadStatus,
		ErrBadReserved, ErrBadTagLen, ErrBadKeyLen, ErrValueNotAllowed, ErrBadLength, ErrValueTooLarge, ErrBodyTooLarge}
	for i, a := range all {
		for j, b := range all {
			if i != j && errors.Is(a, b) {
				t.Errorf("%v is %v", a, b)
			}
		}
	}
}

func TestNoAllocations(t *testing.T) {
	req := Request{ID: 1, Op: OpSet, Tag: []byte("acme"), Key: []byte("{acme}:k"), Value: make([]byte, 100)}
	buf := make([]byte, 0, 2048)
	dg := mustAppendRequest(t, &req)
	rep, _ := AppendReply(nil, &Reply{ID: 1, Op: OpSet, Status: StatusOK, Body: []byte("x")})
	var r Request
	var rr Reply
	n := testing.AllocsPerRun(100, func() {
		buf, _ = AppendRequest(buf[:0], &req)
		_ = ParseRequest(dg, &r)
		buf, _ = AppendReply(buf[:0], &Reply{ID: 1, Op: OpGet, Body: req.Value})
		_ = ParseReply(rep, &rr)
		_ = ParseRequest(dg[:3], &r) // error path
	})
	if n != 0 {
		t.Fatalf("%v allocations per append/parse round, want 0", n)
	}
}
