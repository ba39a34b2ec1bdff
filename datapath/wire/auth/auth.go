package auth

import (
	"errors"
	"time"

	"github.com/dorivo/dorivo/bpf"
	"github.com/dorivo/dorivo/datapath/wire"
)

// DefaultWindow is how far a signed datagram's timestamp may be from now
// when the Table (or config[0].replay_window_ms) says 0.
const DefaultWindow = 5 * time.Second

// Tenant is one tag's entry, the Go form of struct auth_entry.
type Tenant struct {
	// Key verifies signed datagrams; zero: the tenant has no key.
	Key wire.Key
	// OldKey verifies too, until OldUntil: the overlap after a rotation.
	OldKey   wire.Key
	OldUntil time.Time
	// AllowUnsigned lets the tenant's v1 datagrams through as well.
	AllowUnsigned bool
}

// Table is the authentication policy of every tenant.
type Table struct {
	Tenants map[string]Tenant
	// AllowUnsigned is the policy of tags without an entry.
	AllowUnsigned bool
	// Window bounds |timestamp - now|; 0 means DefaultWindow.
	Window time.Duration
}

// Refusals, one per XDP drop reason. They are plain values (never
// wrapped): Check allocates nothing.
var (
	ErrUnsigned = errors.New("auth: unsigned datagram from a tenant that must sign")
	ErrNoKey    = errors.New("auth: signed datagram for a tenant without a key")
	ErrForged   = errors.New("auth: MAC does not verify under the tenant's keys")
	ErrReplay   = errors.New("auth: timestamp outside the replay window")
)

// DropReason returns the XDP counter of a Check refusal.
func DropReason(err error) (bpf.DorivoXdpReason, bool) {
	switch err {
	case ErrUnsigned:
		return bpf.DorivoXdpReasonXDP_R_DROP_UNSIGNED, true
	case ErrNoKey:
		return bpf.DorivoXdpReasonXDP_R_DROP_NO_KEY, true
	case ErrForged:
		return bpf.DorivoXdpReasonXDP_R_DROP_FORGED, true
	case ErrReplay:
		return bpf.DorivoXdpReasonXDP_R_DROP_REPLAY, true
	}
	return 0, false
}

// Check decides datagram dg, already parsed into r by wire.ParseRequest,
// at time now. For a signed datagram it returns the key that verified it:
// the reply is signed with that key (wire.AppendSignedReply). An unsigned
// datagram that may pass returns the zero key and nil. The order is the
// kernel's: policy, then MAC (current key, then the old one while live),
// then the timestamp. A nil Table admits unsigned datagrams only.
func (t *Table) Check(dg []byte, r *wire.Request, now time.Time) (wire.Key, error) {
	if t == nil {
		if r.Signed {
			return wire.Key{}, ErrNoKey
		}
		return wire.Key{}, nil
	}
	ten, ok := t.Tenants[string(r.Tag)]
	if !r.Signed {
		if (ok && ten.AllowUnsigned) || (!ok && t.AllowUnsigned) {
			return wire.Key{}, nil
		}
		return wire.Key{}, ErrUnsigned
	}
	if !ok || ten.Key.IsZero() {
		return wire.Key{}, ErrNoKey
	}
	key := ten.Key
	if !wire.Verify(dg, key) {
		if ten.OldKey.IsZero() || !ten.OldUntil.After(now) || !wire.Verify(dg, ten.OldKey) {
			return wire.Key{}, ErrForged
		}
		key = ten.OldKey
	}
	w := t.Window
	if w <= 0 {
		w = DefaultWindow
	}
	if d := now.UnixNano() - r.Timestamp; d > int64(w) || d < -int64(w) {
		return wire.Key{}, ErrReplay
	}
	return key, nil
}
