package wire

import (
	"encoding/binary"
	"time"

	"github.com/dorivo/dorivo/bpf"
)

// UNAVAILABLE replies (docs/protocol.md) carry how long the client should
// wait before it retries: a 2-byte body, the big-endian retry-after in
// milliseconds. XDP sends them itself for a shed slot; the event loops
// send the same reply for a datagram that bypassed XDP.
const (
	// UnavailableBodyLen is the body length of an UNAVAILABLE reply.
	UnavailableBodyLen = int(bpf.DorivoUnavailableReplyUNAVAILABLE_BODY_LEN)
	// MaxRetryAfter is the longest retry-after the body can carry.
	MaxRetryAfter = time.Duration(bpf.DorivoUnavailableReplyUNAVAILABLE_MAX_RETRY_MS) * time.Millisecond
)

// AppendRetryAfter appends the body of an UNAVAILABLE reply for d, rounded
// up to a millisecond and clamped to 0..MaxRetryAfter.
func AppendRetryAfter(b []byte, d time.Duration) []byte {
	ms := (d + time.Millisecond - 1) / time.Millisecond
	ms = min(max(ms, 0), MaxRetryAfter/time.Millisecond)
	return binary.BigEndian.AppendUint16(b, uint16(ms))
}

// RetryAfter is the wait an UNAVAILABLE reply asks for. ok is false for
// any other status, or an UNAVAILABLE body that is not 2 bytes (a node
// older than the retry-after sent an empty one).
func (r *Reply) RetryAfter() (d time.Duration, ok bool) {
	if r.Status != StatusUnavailable || len(r.Body) != UnavailableBodyLen {
		return 0, false
	}
	return time.Duration(binary.BigEndian.Uint16(r.Body)) * time.Millisecond, true
}
