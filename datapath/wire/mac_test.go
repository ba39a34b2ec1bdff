package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/dorivo/dorivo/bpf"
)

// testKey is 00 01 .. 0f, the key of the SipHash paper's test vectors.
var testKey = func() Key {
	k, err := ParseKey("000102030405060708090a0b0c0d0e0f")
	if err != nil {
		panic(err)
	}
	return k
}()

const testTS = int64(1_767_225_600_123_456_789) // 2026-01-01T00:00:00.123456789Z

// The reference vector of the SipHash paper (appendix A): 15 bytes 00..0e.
func TestMACReferenceVector(t *testing.T) {
	msg := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}
	if got := MAC(testKey, msg); got != 0xa129ca6149be45e5 {
		t.Fatalf("SipHash-2-4(00..0e) = %#x, want 0xa129ca6149be45e5", got)
	}
	if k0, k1 := testKey.Halves(); k0 != 0x0706050403020100 || k1 != 0x0f0e0d0c0b0a0908 {
		t.Fatalf("Halves = %#x %#x", k0, k1)
	}
	if KeyFromHalves(testKey.Halves()) != testKey {
		t.Fatal("KeyFromHalves(Halves()) differs")
	}
}

func TestSignedRequestLayoutMatchesDoc(t *testing.T) {
	b, err := AppendSignedRequest(nil, &Request{ID: 0x01020304, Op: OpSet, Key: []byte("{acme}:k"), Value: []byte("vv")}, testKey, testTS)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0xD0, 0x17, 2, 2, 0, 0, 4, 0, 1, 2, 3, 4, 0, 8, 0, 2}
	want = append(want, "acme{acme}:kvv"...)
	want = binary.BigEndian.AppendUint64(want, uint64(testTS))
	want = binary.LittleEndian.AppendUint64(want, MAC(testKey, want))
	if !bytes.Equal(b, want) {
		t.Fatalf("signed SET\n got %x\nwant %x", b, want)
	}
	var r Request
	if err := ParseRequest(b, &r); err != nil {
		t.Fatal(err)
	}
	if !r.Signed || r.Timestamp != testTS || r.MAC != binary.LittleEndian.Uint64(b[len(b)-8:]) ||
		string(r.Key) != "{acme}:k" || string(r.Value) != "vv" || string(r.Tag) != "acme" {
		t.Fatalf("parsed %+v", r)
	}
	if !Verify(b, testKey) {
		t.Fatal("Verify of a fresh signed request = false")
	}
}

func TestVerifyRejectsEveryBitFlipAndTheWrongKey(t *testing.T) {
	b, _ := AppendSignedRequest(nil, &Request{ID: 9, Op: OpSet, Key: []byte("{t}:k"), Value: []byte("value")}, testKey, testTS)
	other, _ := ParseKey("ffeeddccbbaa99887766554433221100")
	if Verify(b, other) {
		t.Fatal("verified under another key")
	}
	for i := range len(b) * 8 {
		c := bytes.Clone(b)
		c[i/8] ^= 1 << (i % 8)
		if Verify(c, testKey) {
			t.Fatalf("bit %d flipped: still verifies", i)
		}
	}
	if Verify(b[:HeaderLen+TrailerLen-1], testKey) {
		t.Fatal("a datagram too short for a trailer verified")
	}
}

func TestSignedReplyRoundTrip(t *testing.T) {
	const reqMAC = 0x1122334455667788
	b, err := AppendSignedReply(nil, &Reply{ID: 5, Op: OpGet, Status: StatusOK, Body: []byte("val")}, testKey, reqMAC)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0xD0, 0x17, 2, 1, 1, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 3, 'v', 'a', 'l'}
	want = binary.LittleEndian.AppendUint64(want, reqMAC)
	want = binary.LittleEndian.AppendUint64(want, MAC(testKey, want))
	if !bytes.Equal(b, want) {
		t.Fatalf("signed reply\n got %x\nwant %x", b, want)
	}
	var r Reply
	if err := ParseReply(b, &r); err != nil {
		t.Fatal(err)
	}
	if !r.Signed || r.RequestMAC != reqMAC || string(r.Body) != "val" || !Verify(b, testKey) {
		t.Fatalf("parsed %+v, verify %v", r, Verify(b, testKey))
	}
	if _, err := AppendSignedReply(nil, &Reply{Op: OpGet, Body: make([]byte, MaxSignedReplyBody+1)}, testKey, 0); err != ErrBodyTooLarge {
		t.Errorf("oversized signed reply: %v", err)
	}
	if _, err := AppendSignedReply(nil, &Reply{Op: OpGet}, Key{}, 0); err == nil {
		t.Error("signed a reply with the zero key")
	}
}

func TestSignedMalformations(t *testing.T) {
	good, _ := AppendSignedRequest(nil, &Request{ID: 1, Op: OpGet, Key: []byte("{a}:k")}, testKey, testTS)
	big := AppendRequestUnchecked(nil, &Request{Signed: true, Op: OpSet, Tag: []byte("a"), Key: []byte("a"), Value: make([]byte, MaxValueLen+1)})
	for _, tc := range []struct {
		name string
		b    []byte
		want error
		drop bpf.DorivoXdpReason
	}{
		{"oversized signed value", big, ErrSignedValueTooLarge, bpf.DorivoXdpReasonXDP_R_DROP_BAD_LENGTH},
		{"trailer cut", good[:len(good)-1], ErrBadLength, bpf.DorivoXdpReasonXDP_R_DROP_BAD_LENGTH},
		{"no trailer", good[:len(good)-TrailerLen], ErrBadLength, bpf.DorivoXdpReasonXDP_R_DROP_BAD_LENGTH},
		{"unsigned with a trailer", func() []byte { c := bytes.Clone(good); c[2] = Version; return c }(), ErrBadLength, bpf.DorivoXdpReasonXDP_R_DROP_BAD_LENGTH},
	} {
		var r Request
		err := ParseRequest(tc.b, &r)
		if err != tc.want {
			t.Errorf("%s: ParseRequest = %v, want %v", tc.name, err, tc.want)
		}
		if d, ok := DropReason(err); !ok || d != tc.drop {
			t.Errorf("%s: DropReason = %d %v", tc.name, d, ok)
		}
	}
	if _, err := AppendSignedRequest(nil, &Request{Op: OpSet, Key: []byte("k"), Value: make([]byte, MaxValueLen+1)}, testKey, 0); err != ErrValueTooLarge {
		t.Errorf("AppendSignedRequest of an oversized value: %v", err)
	}
	if b, err := AppendSignedRequest([]byte("x"), &Request{Op: OpGet, Key: []byte("k")}, Key{}, 0); err == nil || string(b) != "x" {
		t.Errorf("zero key: %q %v", b, err)
	}
}

// A key never shows in any printed form; errors never quote key input.
func TestKeyIsRedactedEverywhere(t *testing.T) {
	const hexKey = "5a5b5c5d5e5f60616263646566676869"
	k, err := ParseKey(hexKey)
	if err != nil {
		t.Fatal(err)
	}
	type holder struct {
		Tenant string
		Key    Key
	}
	h := holder{"acme", k}
	var out strings.Builder
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
		fmt.Fprintf(&out, verb+"\n", h)
		fmt.Fprintf(&out, verb+"\n", k)
	}
	j, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	out.Write(j)
	slog.New(slog.NewJSONHandler(&out, nil)).Info("cfg", "key", k, "holder", h)
	slog.New(slog.NewTextHandler(&out, nil)).Info("cfg", "key", k)
	s := out.String()
	lower := strings.ToLower(s)
	for _, leak := range []string{hexKey[:8], hexKey[8:16], "5a5b", "zz[\\", "90 91"} {
		if strings.Contains(lower, leak) {
			t.Fatalf("key material %q in printed forms:\n%s", leak, s)
		}
	}
	if !strings.Contains(s, "[redacted]") {
		t.Fatalf("no redaction marker in:\n%s", s)
	}
	var back holder
	if err := json.Unmarshal([]byte(`{"Tenant":"a","Key":"`+hexKey+`"}`), &back); err != nil || !back.Key.Equal(k) {
		t.Fatalf("UnmarshalText: %v", err)
	}
	for _, bad := range []string{"5a5b", hexKey + "00", strings.Repeat("zz", 16), strings.Repeat("0", 32)} {
		_, err := ParseKey(bad)
		if err == nil || strings.Contains(err.Error(), bad) {
			t.Errorf("ParseKey(%q) = %v: want an error that does not quote the input", bad, err)
		}
	}
}

func TestSignedNoAllocations(t *testing.T) {
	req := Request{ID: 1, Op: OpSet, Tag: []byte("acme"), Key: []byte("{acme}:k"), Value: make([]byte, 100)}
	buf := make([]byte, 0, 2048)
	dg, _ := AppendSignedRequest(nil, &req, testKey, testTS)
	var r Request
	n := testing.AllocsPerRun(100, func() {
		buf, _ = AppendSignedRequest(buf[:0], &req, testKey, testTS)
		_ = ParseRequest(dg, &r)
		_ = Verify(dg, testKey)
		buf, _ = AppendSignedReply(buf[:0], &Reply{ID: 1, Op: OpGet, Body: req.Value}, testKey, r.MAC)
	})
	if n != 0 {
		t.Fatalf("%v allocations per signed round, want 0", n)
	}
}

func TestAppendReplyWithin(t *testing.T) {
	req, _ := AppendRequest(nil, &Request{ID: 3, Op: OpGet, Key: []byte("k")}) // 18 bytes, the shortest
	big := Reply{ID: 3, Op: OpGet, Status: StatusOK, Body: make([]byte, 65000)}
	out, replaced, err := AppendReplyWithin(nil, &big, len(req))
	var r Reply
	if err != nil || !replaced || len(out) > len(req) || ParseReply(out, &r) != nil || r.Status != StatusError || r.ID != 3 {
		t.Fatalf("AppendReplyWithin(65000-byte body, %d) = %d bytes %v %v, parsed %+v", len(req), len(out), replaced, err, r)
	}
	long, _ := AppendRequest(nil, &Request{Op: OpGet, Key: []byte("{acme}:" + strings.Repeat("k", 60))})
	out, _, _ = AppendReplyWithin(nil, &big, len(long))
	if ParseReply(out, &r) != nil || string(r.Body) != ReplyTooLargeMessage || len(out) > len(long) {
		t.Fatalf("whole message expected in %d bytes: %q", len(long), r.Body)
	}
	small := Reply{ID: 3, Op: OpGet, Status: StatusOK, Body: []byte("v")}
	out, replaced, err = AppendReplyWithin(nil, &small, len(req))
	if err != nil || replaced || ParseReply(out, &r) != nil || string(r.Body) != "v" {
		t.Fatalf("a reply that fits was changed: %q %v %v", r.Body, replaced, err)
	}
}
