package wire

import (
	"bytes"
	"testing"
)

func seedRequests(f *testing.F) {
	for _, r := range []Request{
		{ID: 1, Op: OpGet, Key: []byte("{acme}:user:1")},
		{ID: 2, Op: OpSet, Key: []byte("{t}:k"), Value: []byte("value")},
		{ID: 3, Op: OpDel, Key: []byte("plain")},
	} {
		b, _ := AppendRequest(nil, &r)
		f.Add(b)
	}
	f.Add(AppendRequestUnchecked(nil, &Request{Op: OpSet, Tag: []byte("a"), Key: []byte("{a}"), Value: make([]byte, MaxValueLen+1)}))
	f.Add([]byte{0xD0, 0x17, 1})
}

// FuzzParseRequest: the parser never panics, every rejection is one the
// kernel counts, and whatever it accepts re-encodes to the same bytes.
func FuzzParseRequest(f *testing.F) {
	seedRequests(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Request
		err := ParseRequest(b, &r)
		if err != nil && err != ErrValueTooLarge {
			if _, ok := DropReason(err); !ok {
				t.Fatalf("ParseRequest error %v has no kernel drop reason", err)
			}
			return
		}
		if got := AppendRequestUnchecked(nil, &r); !bytes.Equal(got, b) {
			t.Fatalf("re-encoded %x, parsed from %x", got, b)
		}
		got, aerr := AppendRequest(nil, &r)
		if aerr != err {
			t.Fatalf("AppendRequest error %v, ParseRequest error %v", aerr, err)
		}
		if aerr == nil && !bytes.Equal(got, b) {
			t.Fatalf("AppendRequest %x, parsed from %x", got, b)
		}
	})
}

// FuzzParseReply: the parser never panics and whatever it accepts
// re-encodes to the same bytes.
func FuzzParseReply(f *testing.F) {
	for _, r := range []Reply{
		{ID: 1, Op: OpGet, Status: StatusOK, Body: []byte("v")},
		{ID: 2, Op: OpSet, Status: StatusError, Body: []byte(ValueTooLargeMessage)},
		{ID: 3, Op: OpDel, Status: StatusNotFound},
	} {
		b, _ := AppendReply(nil, &r)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Reply
		if err := ParseReply(b, &r); err != nil {
			return
		}
		got, err := AppendReply(nil, &r)
		if err != nil {
			t.Fatalf("AppendReply of parsed %+v: %v", r, err)
		}
		if !bytes.Equal(got, b) {
			t.Fatalf("re-encoded %x, parsed from %x", got, b)
		}
	})
}
