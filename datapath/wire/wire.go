package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"

	"github.com/dorivo/dorivo/bpf"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// Protocol limits, from bpf/dorivo.h.
const (
	Magic   = uint16(bpf.DorivoProtoPROTO_MAGIC)
	Version = uint8(bpf.DorivoProtoPROTO_VERSION)
	// VersionSigned is v2: a datagram ends with a 16-byte trailer, the
	// request's timestamp (or, in a reply, the request's MAC) and a MAC.
	VersionSigned = uint8(bpf.DorivoProtoPROTO_VERSION_SIGNED)
	HeaderLen     = int(bpf.DorivoProtoPROTO_HDR_LEN)
	TrailerLen    = int(bpf.DorivoProtoPROTO_TRAILER_LEN)
	MACLen        = int(bpf.DorivoProtoPROTO_MAC_LEN)
	// MaxMACInput is the longest input of a request MAC.
	MaxMACInput = int(bpf.DorivoProtoPROTO_MAX_MAC_INPUT)
	MaxTagLen   = int(bpf.DorivoProtoPROTO_MAX_TAG_LEN)
	MaxKeyLen   = int(bpf.DorivoProtoPROTO_MAX_KEY_LEN)
	MaxValueLen = int(bpf.DorivoProtoPROTO_MAX_VALUE_LEN)
	FlagReply   = uint8(bpf.DorivoProtoPROTO_FLAG_REPLY)

	// MaxDatagram is the largest UDP payload over IPv4 (65535 minus the IP
	// and UDP headers). A reply body is bounded by it, not by MaxValueLen:
	// a GET may return a value that was written over TCP.
	MaxDatagram = 65535 - 20 - 8
	// MaxReplyBody is the largest unsigned reply body that fits in one
	// datagram; MaxSignedReplyBody leaves room for the trailer.
	MaxReplyBody       = MaxDatagram - HeaderLen
	MaxSignedReplyBody = MaxReplyBody - TrailerLen
)

// The header must match the C struct byte for byte; the generated Go struct
// has the same size only when no padding crept in.
var _ [HeaderLen - int(unsafe.Sizeof(bpf.DorivoWireHdr{}))]struct{}
var _ [int(unsafe.Sizeof(bpf.DorivoWireHdr{})) - HeaderLen]struct{}

// Field offsets inside the header, taken from the generated struct.
var (
	offMagic     = int(unsafe.Offsetof(bpf.DorivoWireHdr{}.Magic))
	offVersion   = int(unsafe.Offsetof(bpf.DorivoWireHdr{}.Version))
	offOpcode    = int(unsafe.Offsetof(bpf.DorivoWireHdr{}.Opcode))
	offFlags     = int(unsafe.Offsetof(bpf.DorivoWireHdr{}.Flags))
	offStatus    = int(unsafe.Offsetof(bpf.DorivoWireHdr{}.Status))
	offTagLen    = int(unsafe.Offsetof(bpf.DorivoWireHdr{}.TagLen))
	offReserved  = int(unsafe.Offsetof(bpf.DorivoWireHdr{}.Reserved))
	offRequestID = int(unsafe.Offsetof(bpf.DorivoWireHdr{}.RequestId))
	offKeyLen    = int(unsafe.Offsetof(bpf.DorivoWireHdr{}.KeyLen))
	offValueLen  = int(unsafe.Offsetof(bpf.DorivoWireHdr{}.ValueLen))
)

// Opcode is a request's operation.
type Opcode uint8

// Opcodes, from bpf/dorivo.h.
const (
	OpGet = Opcode(bpf.DorivoOpcodeOP_GET)
	OpSet = Opcode(bpf.DorivoOpcodeOP_SET)
	OpDel = Opcode(bpf.DorivoOpcodeOP_DEL)
)

// Valid reports whether o is a known opcode.
func (o Opcode) Valid() bool { return o == OpGet || o == OpSet || o == OpDel }

func (o Opcode) String() string {
	switch o {
	case OpGet:
		return "GET"
	case OpSet:
		return "SET"
	case OpDel:
		return "DEL"
	}
	return fmt.Sprintf("Opcode(%d)", uint8(o))
}

// Status is a reply's outcome.
type Status uint8

// Statuses, from bpf/dorivo.h.
const (
	StatusOK          = Status(bpf.DorivoStatusSTATUS_OK)
	StatusNotFound    = Status(bpf.DorivoStatusSTATUS_NOT_FOUND)
	StatusError       = Status(bpf.DorivoStatusSTATUS_ERROR)
	StatusOverQuota   = Status(bpf.DorivoStatusSTATUS_OVER_QUOTA)
	StatusUnavailable = Status(bpf.DorivoStatusSTATUS_UNAVAILABLE)
)

// Valid reports whether s is a known status.
func (s Status) Valid() bool { return s <= StatusUnavailable }

func (s Status) String() string {
	switch s {
	case StatusOK:
		return "OK"
	case StatusNotFound:
		return "NOT_FOUND"
	case StatusError:
		return "ERROR"
	case StatusOverQuota:
		return "OVER_QUOTA"
	case StatusUnavailable:
		return "UNAVAILABLE"
	}
	return fmt.Sprintf("Status(%d)", uint8(s))
}

// Malformations, one per check, in the order the XDP program checks them.
// They are plain values (never wrapped) so that parsing stays allocation
// free; compare with errors.Is or ==.
var (
	ErrShortHeader = errors.New("wire: datagram shorter than the 16-byte header")
	ErrBadMagic    = errors.New("wire: bad magic")
	ErrBadVersion  = errors.New("wire: unsupported version")
	ErrBadOpcode   = errors.New("wire: unknown opcode")
	ErrBadFlags    = errors.New("wire: bad flags (reply flag on a request or missing on a reply)")
	ErrBadStatus   = errors.New("wire: status set on a request or unknown in a reply")
	ErrBadReserved = errors.New("wire: reserved byte not zero")
	ErrBadTagLen   = errors.New("wire: tag length not in 1..64 (requests) or not 0 (replies)")
	ErrBadKeyLen   = errors.New("wire: key length not in 1..512 (requests) or not 0 (replies)")
	// ErrValueNotAllowed: a GET or DEL carries a value.
	ErrValueNotAllowed = errors.New("wire: value on a GET or DEL")
	// ErrBadLength: the header's lengths disagree with the datagram length.
	ErrBadLength = errors.New("wire: header lengths disagree with the datagram length")
	// ErrValueTooLarge is not a malformation: the kernel passes such a SET
	// and ParseRequest fills the Request completely. The server answers it
	// with StatusError and ValueTooLargeMessage.
	ErrValueTooLarge = errors.New("wire: value too large for datagrams")
	// ErrBodyTooLarge: a reply body does not fit in one datagram.
	ErrBodyTooLarge = errors.New("wire: reply body too large for one datagram")
	// ErrSignedValueTooLarge: a signed SET's value exceeds MaxValueLen.
	// Unlike ErrValueTooLarge it is a malformation: the kernel verifies
	// no MAC past MaxMACInput, so it drops the datagram.
	ErrSignedValueTooLarge = errors.New("wire: signed SET value over the datagram limit")
)

// ValueTooLargeMessage is the StatusError body for a SET whose value exceeds
// MaxValueLen.
var ValueTooLargeMessage = fmt.Sprintf("value too large for datagrams (max %d bytes), use TCP", MaxValueLen)

// DropReason returns the XDP drop counter that counts datagrams ParseRequest
// rejects with err, and false for errors the kernel passes (nil,
// ErrValueTooLarge) or that are not ParseRequest's.
func DropReason(err error) (bpf.DorivoXdpReason, bool) {
	switch err {
	case ErrShortHeader:
		return bpf.DorivoXdpReasonXDP_R_DROP_SHORT_HDR, true
	case ErrBadMagic:
		return bpf.DorivoXdpReasonXDP_R_DROP_BAD_MAGIC, true
	case ErrBadVersion:
		return bpf.DorivoXdpReasonXDP_R_DROP_BAD_VERSION, true
	case ErrBadOpcode, ErrBadFlags, ErrBadStatus, ErrBadReserved:
		return bpf.DorivoXdpReasonXDP_R_DROP_BAD_OPCODE, true
	case ErrBadTagLen:
		return bpf.DorivoXdpReasonXDP_R_DROP_BAD_TAG_LEN, true
	case ErrBadKeyLen, ErrValueNotAllowed, ErrBadLength, ErrSignedValueTooLarge:
		return bpf.DorivoXdpReasonXDP_R_DROP_BAD_LENGTH, true
	}
	return 0, false
}

// Request is one datagram request. After ParseRequest, Tag, Key and Value
// alias the datagram: copy them before reusing its buffer.
type Request struct {
	ID    uint32
	Op    Opcode
	Tag   []byte
	Key   []byte
	Value []byte
	// Signed (v2) requests carry the client's clock (Unix ns) and the MAC
	// of every byte before it. ParseRequest fills them but verifies
	// nothing: see Verify and package auth.
	Signed    bool
	Timestamp int64
	MAC       uint64
}

// Reply is one datagram reply. After ParseReply, Body aliases the datagram.
type Reply struct {
	ID     uint32
	Op     Opcode
	Status Status
	Body   []byte
	// Signed (v2) replies echo the MAC of the request they answer and end
	// with their own MAC.
	Signed     bool
	RequestMAC uint64
	MAC        uint64
}

// TagMatchesKey reports whether tag is key's hash tag, the tag the kernel
// steers by; the server refuses requests where it is not, so that UDP and
// RESP address the same keys.
func TagMatchesKey(tag, key []byte) bool { return bytes.Equal(tag, slot.Tag(key)) }

// AppendRequest appends r as a datagram to dst. A nil r.Tag is taken to be
// the key's hash tag. It refuses, returning dst unchanged, what ParseRequest
// would reject, and also a value over MaxValueLen (ErrValueTooLarge): the
// server would refuse it. AppendRequestUnchecked builds such datagrams for
// tests.
func AppendRequest(dst []byte, r *Request) ([]byte, error) {
	tag := r.Tag
	if tag == nil {
		tag = slot.Tag(r.Key)
	}
	switch {
	case !r.Op.Valid():
		return dst, ErrBadOpcode
	case len(tag) < 1 || len(tag) > MaxTagLen:
		return dst, ErrBadTagLen
	case len(r.Key) < 1 || len(r.Key) > MaxKeyLen:
		return dst, ErrBadKeyLen
	case r.Op != OpSet && len(r.Value) != 0:
		return dst, ErrValueNotAllowed
	case len(r.Value) > MaxValueLen:
		return dst, ErrValueTooLarge
	}
	return appendHeaderAndBody(dst, Version, r.Op, 0, 0, uint8(len(tag)), r.ID, tag, r.Key, r.Value), nil
}

// AppendSignedRequest appends r as a signed (v2) datagram to dst:
// timestamp ts (Unix ns, the client's clock) and the MAC under k of
// everything before the MAC. It refuses what AppendRequest refuses, and
// a zero key.
func AppendSignedRequest(dst []byte, r *Request, k Key, ts int64) ([]byte, error) {
	if k.IsZero() {
		return dst, errors.New("wire: signing with the zero key")
	}
	start := len(dst)
	out, err := AppendRequest(dst, r)
	if err != nil {
		return dst, err
	}
	out[start+offVersion] = VersionSigned
	out = binary.BigEndian.AppendUint64(out, uint64(ts))
	return binary.LittleEndian.AppendUint64(out, MAC(k, out[start:])), nil
}

// AppendRequestUnchecked appends r without validation, truncating lengths to
// their field widths. It exists to build malformed or oversized datagrams
// in tests; a client uses AppendRequest.
// With r.Signed it appends r.Timestamp and r.MAC as they are (no signing).
func AppendRequestUnchecked(dst []byte, r *Request) []byte {
	if !r.Signed {
		return appendHeaderAndBody(dst, Version, r.Op, 0, 0, uint8(len(r.Tag)), r.ID, r.Tag, r.Key, r.Value)
	}
	dst = appendHeaderAndBody(dst, VersionSigned, r.Op, 0, 0, uint8(len(r.Tag)), r.ID, r.Tag, r.Key, r.Value)
	dst = binary.BigEndian.AppendUint64(dst, uint64(r.Timestamp))
	return binary.LittleEndian.AppendUint64(dst, r.MAC)
}

func appendHeaderAndBody(dst []byte, version uint8, op Opcode, flags uint8, status Status, tagLen uint8, id uint32, tag, key, value []byte) []byte {
	var h [16]byte
	binary.BigEndian.PutUint16(h[offMagic:], Magic)
	h[offVersion] = version
	h[offOpcode] = uint8(op)
	h[offFlags] = flags
	h[offStatus] = uint8(status)
	h[offTagLen] = tagLen
	h[offReserved] = 0
	binary.BigEndian.PutUint32(h[offRequestID:], id)
	binary.BigEndian.PutUint16(h[offKeyLen:], uint16(len(key)))
	binary.BigEndian.PutUint16(h[offValueLen:], uint16(len(value)))
	dst = append(dst, h[:]...)
	dst = append(dst, tag...)
	dst = append(dst, key...)
	return append(dst, value...)
}

// checkHeader checks what requests and replies share, in the kernel's
// order: length, magic, version, opcode. It returns the trailer length:
// TrailerLen for a signed datagram, else 0.
func checkHeader(b []byte) (Opcode, int, error) {
	if len(b) < HeaderLen {
		return 0, 0, ErrShortHeader
	}
	if binary.BigEndian.Uint16(b[offMagic:]) != Magic {
		return 0, 0, ErrBadMagic
	}
	trailer := 0
	switch b[offVersion] {
	case Version:
	case VersionSigned:
		trailer = TrailerLen
	default:
		return 0, 0, ErrBadVersion
	}
	op := Opcode(b[offOpcode])
	if !op.Valid() {
		return 0, 0, ErrBadOpcode
	}
	return op, trailer, nil
}

// ParseRequest decodes datagram b into r, checking it in the kernel's order.
// On ErrValueTooLarge r is fully filled; on any other error r is undefined.
func ParseRequest(b []byte, r *Request) error {
	op, trailer, err := checkHeader(b)
	if err != nil {
		return err
	}
	switch {
	case b[offFlags] != 0:
		return ErrBadFlags
	case b[offStatus] != 0:
		return ErrBadStatus
	case b[offReserved] != 0:
		return ErrBadReserved
	}
	tagLen := int(b[offTagLen])
	if tagLen < 1 || tagLen > MaxTagLen {
		return ErrBadTagLen
	}
	keyLen := int(binary.BigEndian.Uint16(b[offKeyLen:]))
	if keyLen < 1 || keyLen > MaxKeyLen {
		return ErrBadKeyLen
	}
	valueLen := int(binary.BigEndian.Uint16(b[offValueLen:]))
	if op != OpSet && valueLen != 0 {
		return ErrValueNotAllowed
	}
	if trailer != 0 && valueLen > MaxValueLen {
		return ErrSignedValueTooLarge
	}
	if len(b) != HeaderLen+tagLen+keyLen+valueLen+trailer {
		return ErrBadLength
	}
	r.ID = binary.BigEndian.Uint32(b[offRequestID:])
	r.Op = op
	p := HeaderLen
	r.Tag = b[p : p+tagLen : p+tagLen]
	p += tagLen
	r.Key = b[p : p+keyLen : p+keyLen]
	p += keyLen
	r.Value = b[p : p+valueLen : p+valueLen]
	p += valueLen
	r.Signed, r.Timestamp, r.MAC = trailer != 0, 0, 0
	if r.Signed {
		r.Timestamp = int64(binary.BigEndian.Uint64(b[p:]))
		r.MAC = binary.LittleEndian.Uint64(b[p+8:])
	}
	if valueLen > MaxValueLen {
		return ErrValueTooLarge
	}
	return nil
}

// AppendReply appends r as a datagram to dst, or returns dst unchanged and
// an error when r could not be parsed back.
func AppendReply(dst []byte, r *Reply) ([]byte, error) {
	switch {
	case !r.Op.Valid():
		return dst, ErrBadOpcode
	case !r.Status.Valid():
		return dst, ErrBadStatus
	case len(r.Body) > MaxReplyBody:
		return dst, ErrBodyTooLarge
	}
	return appendHeaderAndBody(dst, Version, r.Op, FlagReply, r.Status, 0, r.ID, nil, nil, r.Body), nil
}

// ReplyTooLargeMessage is the StatusError body that replaces an unsigned
// reply larger than its request (AppendReplyWithin), cut to fit.
const ReplyTooLargeMessage = "reply larger than the unsigned request, use TCP or sign"

// AppendReplyWithin appends r as an unsigned reply of at most limit bytes,
// the length of the request it answers: an unsigned request proves no
// source address, so its reply must not amplify. A reply that would be
// longer becomes StatusError with ReplyTooLargeMessage, cut to the limit
// (an 18-byte request, the shortest, leaves 2 bytes of message). The
// returned bool says whether r was replaced.
func AppendReplyWithin(dst []byte, r *Reply, limit int) ([]byte, bool, error) {
	if HeaderLen+len(r.Body) <= limit {
		out, err := AppendReply(dst, r)
		return out, false, err
	}
	msg := ReplyTooLargeMessage
	if room := limit - HeaderLen; room < len(msg) {
		msg = msg[:max(room, 0)]
	}
	rep := Reply{ID: r.ID, Op: r.Op, Status: StatusError, Body: []byte(msg)}
	out, err := AppendReply(dst, &rep)
	return out, true, err
}

// AppendSignedReply appends r as a signed (v2) reply to dst: the body,
// then requestMAC (the MAC of the request it answers, binding the reply
// to it) and the MAC under k of everything before the reply's MAC. The
// key is the one the request verified with.
func AppendSignedReply(dst []byte, r *Reply, k Key, requestMAC uint64) ([]byte, error) {
	switch {
	case k.IsZero():
		return dst, errors.New("wire: signing with the zero key")
	case !r.Op.Valid():
		return dst, ErrBadOpcode
	case !r.Status.Valid():
		return dst, ErrBadStatus
	case len(r.Body) > MaxSignedReplyBody:
		return dst, ErrBodyTooLarge
	}
	start := len(dst)
	out := appendHeaderAndBody(dst, VersionSigned, r.Op, FlagReply, r.Status, 0, r.ID, nil, nil, r.Body)
	out = binary.LittleEndian.AppendUint64(out, requestMAC)
	return binary.LittleEndian.AppendUint64(out, MAC(k, out[start:])), nil
}

// ParseReply decodes reply datagram b into r. On error r is undefined.
func ParseReply(b []byte, r *Reply) error {
	op, trailer, err := checkHeader(b)
	if err != nil {
		return err
	}
	status := Status(b[offStatus])
	switch {
	case b[offFlags] != FlagReply:
		return ErrBadFlags
	case !status.Valid():
		return ErrBadStatus
	case b[offReserved] != 0:
		return ErrBadReserved
	case b[offTagLen] != 0:
		return ErrBadTagLen
	case binary.BigEndian.Uint16(b[offKeyLen:]) != 0:
		return ErrBadKeyLen
	}
	bodyLen := int(binary.BigEndian.Uint16(b[offValueLen:]))
	if len(b) != HeaderLen+bodyLen+trailer {
		return ErrBadLength
	}
	r.ID = binary.BigEndian.Uint32(b[offRequestID:])
	r.Op = op
	r.Status = status
	end := HeaderLen + bodyLen
	r.Body = b[HeaderLen:end:end]
	r.Signed, r.RequestMAC, r.MAC = trailer != 0, 0, 0
	if r.Signed {
		r.RequestMAC = binary.LittleEndian.Uint64(b[end:])
		r.MAC = binary.LittleEndian.Uint64(b[end+8:])
	}
	return nil
}
