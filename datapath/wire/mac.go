package wire

import (
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"

	"github.com/dchest/siphash"
)

// KeyLen is the length of a tenant key: SipHash-2-4 takes 128 bits.
const KeyLen = 16

// redacted is how every printed form of a Key reads.
const redacted = "[redacted]"

// Key is a tenant's 128-bit SipHash-2-4 key. Every printed form of it
// (fmt verbs, slog, JSON/text marshalling) is "[redacted]", so a Key that
// reaches a log line, `dorivo status` or /metrics by mistake shows nothing.
// The zero Key is "no key".
type Key struct{ b [KeyLen]byte }

// ParseKey parses 32 hexadecimal digits. The error never quotes the input.
func ParseKey(s string) (Key, error) {
	var k Key
	if len(s) != 2*KeyLen {
		return Key{}, fmt.Errorf("a tenant key is %d hex digits, got %d characters", 2*KeyLen, len(s))
	}
	if _, err := hex.Decode(k.b[:], []byte(s)); err != nil {
		return Key{}, fmt.Errorf("a tenant key is %d hex digits: not hexadecimal", 2*KeyLen)
	}
	if k.IsZero() {
		return Key{}, fmt.Errorf("a tenant key must not be all zeros")
	}
	return k, nil
}

// KeyFromBytes returns the key of 16 bytes b.
func KeyFromBytes(b []byte) (Key, error) {
	var k Key
	if len(b) != KeyLen {
		return Key{}, fmt.Errorf("a tenant key is %d bytes, got %d", KeyLen, len(b))
	}
	copy(k.b[:], b)
	return k, nil
}

// KeyFromHalves is the inverse of Halves (reading a key back from the map).
func KeyFromHalves(k0, k1 uint64) Key {
	var k Key
	binary.LittleEndian.PutUint64(k.b[:8], k0)
	binary.LittleEndian.PutUint64(k.b[8:], k1)
	return k
}

// Halves returns (k0, k1), the little-endian halves of the key bytes, as
// SipHash reads its key and the tenant_auth map holds it.
func (k Key) Halves() (k0, k1 uint64) {
	return binary.LittleEndian.Uint64(k.b[:8]), binary.LittleEndian.Uint64(k.b[8:])
}

// IsZero reports whether k is the zero Key (no key).
func (k Key) IsZero() bool { return k == Key{} }

// Equal compares in constant time.
func (k Key) Equal(o Key) bool { return subtle.ConstantTimeCompare(k.b[:], o.b[:]) == 1 }

// String is redacted.
func (Key) String() string { return redacted }

// GoString is redacted.
func (Key) GoString() string { return redacted }

// Format makes every fmt verb (%v, %x, %#v, %s...) print the redaction.
func (Key) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue is redacted.
func (Key) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText is redacted: configurations are never written back with keys.
func (Key) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// UnmarshalText parses 32 hex digits (a JSON config's "key").
func (k *Key) UnmarshalText(b []byte) error {
	p, err := ParseKey(string(b))
	if err != nil {
		return err
	}
	*k = p
	return nil
}

// MAC is SipHash-2-4 of b under k, the tag a signed datagram ends with
// (github.com/dchest/siphash; bpf/siphash.h is the kernel's twin).
func MAC(k Key, b []byte) uint64 {
	k0, k1 := k.Halves()
	return siphash.Hash(k0, k1, b)
}

// macOf returns the MAC a signed datagram b carries and the bytes it
// covers; ok is false when b is too short to carry one.
func macOf(b []byte) (covered []byte, mac uint64, ok bool) {
	if len(b) < HeaderLen+TrailerLen {
		return nil, 0, false
	}
	n := len(b) - MACLen
	return b[:n], binary.LittleEndian.Uint64(b[n:]), true
}

// Verify reports whether signed datagram b (request or reply) ends with
// the MAC of everything before it under k. It does not parse b.
func Verify(b []byte, k Key) bool {
	covered, mac, ok := macOf(b)
	// One 64-bit compare: constant time, whichever bits differ.
	return ok && MAC(k, covered) == mac
}
