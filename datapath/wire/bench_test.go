package wire

import "testing"

func BenchmarkAppendRequest(b *testing.B) {
	req := Request{ID: 1, Op: OpSet, Tag: []byte("tenant1"), Key: []byte("{tenant1}:key:12345"), Value: make([]byte, 100)}
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = AppendRequest(buf[:0], &req)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkParseRequest(b *testing.B) {
	dg, _ := AppendRequest(nil, &Request{ID: 1, Op: OpSet, Tag: []byte("tenant1"), Key: []byte("{tenant1}:key:12345"), Value: make([]byte, 100)})
	var r Request
	b.ReportAllocs()
	b.SetBytes(int64(len(dg)))
	for b.Loop() {
		if err := ParseRequest(dg, &r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendReply(b *testing.B) {
	rep := Reply{ID: 1, Op: OpGet, Status: StatusOK, Body: make([]byte, 100)}
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = AppendReply(buf[:0], &rep)
	}
}

func BenchmarkParseReply(b *testing.B) {
	dg, _ := AppendReply(nil, &Reply{ID: 1, Op: OpGet, Status: StatusOK, Body: make([]byte, 100)})
	var r Reply
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseReply(dg, &r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendSignedRequest(b *testing.B) {
	req := Request{ID: 1, Op: OpSet, Tag: []byte("tenant1"), Key: []byte("{tenant1}:key:12345"), Value: make([]byte, 100)}
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = AppendSignedRequest(buf[:0], &req, testKey, testTS)
	}
	b.SetBytes(int64(len(buf)))
}
