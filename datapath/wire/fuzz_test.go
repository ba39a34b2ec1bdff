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
	for _, r := range []Request{
		{ID: 4, Op: OpGet, Key: []byte("{acme}:user:1")},
		{ID: 5, Op: OpSet, Key: []byte("{t}:k"), Value: []byte("value")},
	} {
		b, _ := AppendSignedRequest(nil, &r, testKey, testTS)
		f.Add(b)
	}
	f.Add(AppendRequestUnchecked(nil, &Request{Signed: true, Op: OpSet, Tag: []byte("a"), Key: []byte("a"), Value: make([]byte, MaxValueLen+1)}))
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
		if r.Signed {
			// Whatever parses, only the key's holder could have made: a
			// re-signing must match exactly when it verifies.
			if Verify(b, testKey) {
				again, err := AppendSignedRequest(nil, &r, testKey, r.Timestamp)
				if err != nil || !bytes.Equal(again, b) {
					t.Fatalf("verified %x, re-signed %x (%v)", b, again, err)
				}
			}
			return
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
		s, _ := AppendSignedReply(nil, &r, testKey, 0xfeedface)
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Reply
		if err := ParseReply(b, &r); err != nil {
			return
		}
		if r.Signed {
			if Verify(b, testKey) {
				again, err := AppendSignedReply(nil, &r, testKey, r.RequestMAC)
				if err != nil || !bytes.Equal(again, b) {
					t.Fatalf("verified %x, re-signed %x (%v)", b, again, err)
				}
			}
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
