package bpf_test

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dorivo/dorivo/bpf"
	"github.com/dorivo/dorivo/datapath/wire"
	"github.com/dorivo/dorivo/datapath/wire/auth"
	"github.com/dorivo/dorivo/shardstore/slot"
)

const (
	dropUnsigned = bpf.DorivoXdpReasonXDP_R_DROP_UNSIGNED
	dropNoKey    = bpf.DorivoXdpReasonXDP_R_DROP_NO_KEY
	dropForged   = bpf.DorivoXdpReasonXDP_R_DROP_FORGED
	dropReplay   = bpf.DorivoXdpReasonXDP_R_DROP_REPLAY
	dropLength   = bpf.DorivoXdpReasonXDP_R_DROP_BAD_LENGTH
)

// taiOffset is CLOCK_TAI - CLOCK_REALTIME rounded to whole seconds, what
// the agent writes into config[0].tai_offset_ns.
func taiOffset(tb testing.TB) int64 {
	var tai, real unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_TAI, &tai); err != nil {
		tb.Fatal(err)
	}
	if err := unix.ClockGettime(unix.CLOCK_REALTIME, &real); err != nil {
		tb.Fatal(err)
	}
	d := tai.Nano() - real.Nano()
	return int64(math.Round(float64(d)/1e9)) * 1e9
}

// authConfig is the service config with auth settings; allowUnsigned is
// the policy of tags without an entry.
func authConfig(tb testing.TB, allowUnsigned bool) bpf.DorivoAgentConfig {
	cfg := bpf.DorivoAgentConfig{UdpPort: udpPort, TcpPort: tcpPort, TaiOffsetNs: taiOffset(tb)}
	if allowUnsigned {
		cfg.AllowUnsigned = 1
	}
	return cfg
}

func authTag(tag string) bpf.DorivoAuthTag {
	k := bpf.DorivoAuthTag{Len: uint8(len(tag))}
	copy(k.Tag[:], tag)
	return k
}

// putTenant writes t into tenant_auth, as agentconfig.Sync does.
func putTenant(tb testing.TB, objs *bpf.DorivoObjects, tag string, t auth.Tenant) {
	tb.Helper()
	var e bpf.DorivoAuthEntry
	if !t.Key.IsZero() {
		e.Key[0], e.Key[1] = t.Key.Halves()
		e.Flags |= uint32(bpf.DorivoAuthFlagAUTH_F_KEY)
	}
	if !t.OldKey.IsZero() {
		e.OldKey[0], e.OldKey[1] = t.OldKey.Halves()
		e.OldUntilNs = uint64(t.OldUntil.UnixNano())
	}
	if t.AllowUnsigned {
		e.Flags |= uint32(bpf.DorivoAuthFlagAUTH_F_ALLOW_UNSIGNED)
	}
	var prev bpf.DorivoAuthEntry
	existed := objs.TenantAuth.Lookup(authTag(tag), &prev) == nil
	if err := objs.TenantAuth.Put(authTag(tag), e); err != nil {
		tb.Fatal(err)
	}
	if !existed {
		addAuthSlot(tb, objs, tag, 1)
	}
}

// deleteTenant removes tag's entry and its count in auth_slots.
func deleteTenant(tb testing.TB, objs *bpf.DorivoObjects, tag string) {
	tb.Helper()
	if err := objs.TenantAuth.Delete(authTag(tag)); err != nil {
		tb.Fatal(err)
	}
	addAuthSlot(tb, objs, tag, -1)
}

func addAuthSlot(tb testing.TB, objs *bpf.DorivoObjects, tag string, d int32) {
	tb.Helper()
	s := uint32(slot.OfTag([]byte(tag)))
	var n uint32
	if err := objs.AuthSlots.Lookup(s, &n); err != nil {
		tb.Fatal(err)
	}
	if err := objs.AuthSlots.Put(s, uint32(int32(n)+d)); err != nil {
		tb.Fatal(err)
	}
}

func testKey(tb testing.TB, seed uint64) wire.Key {
	tb.Helper()
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], seed*0x9e3779b97f4a7c15+1)
	binary.LittleEndian.PutUint64(b[8:], seed*0xbf58476d1ce4e5b9+7)
	k, err := wire.KeyFromBytes(b[:])
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func signed(tb testing.TB, r wire.Request, k wire.Key, ts time.Time) []byte {
	tb.Helper()
	b, err := wire.AppendSignedRequest(nil, &r, k, ts.UnixNano())
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func unsignedReq(tb testing.TB, r wire.Request) []byte {
	tb.Helper()
	b, err := wire.AppendRequest(nil, &r)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestXDPAuthVerdicts(t *testing.T) {
	objs := loadObjects(t)
	setConfig(t, objs, authConfig(t, false))
	key, other := testKey(t, 1), testKey(t, 2)
	putTenant(t, objs, "acme", auth.Tenant{Key: key})
	putTenant(t, objs, "mixed", auth.Tenant{Key: key, AllowUnsigned: true})
	putTenant(t, objs, "legacy", auth.Tenant{AllowUnsigned: true})
	now := time.Now()
	get := wire.Request{ID: 1, Op: wire.OpGet, Key: []byte("{acme}:k")}
	set := wire.Request{ID: 2, Op: wire.OpSet, Key: []byte("{acme}:k"), Value: []byte("value")}
	del := wire.Request{ID: 3, Op: wire.OpDel, Key: []byte("{acme}:k")}
	maxSet := wire.Request{ID: 4, Op: wire.OpSet, Tag: bytes.Repeat([]byte("t"), 64), Key: bytes.Repeat([]byte("k"), 512), Value: bytes.Repeat([]byte("v"), 1024)}
	putTenant(t, objs, string(maxSet.Tag), auth.Tenant{Key: key})
	oversized := wire.AppendRequestUnchecked(nil, &wire.Request{Signed: true, Op: wire.OpSet, Tag: []byte("acme"), Key: []byte("{acme}:k"), Value: make([]byte, 1025)})
	legacy := wire.Request{Op: wire.OpGet, Key: []byte("{legacy}:k")}
	for _, tc := range []struct {
		name    string
		payload []byte
		reason  bpf.DorivoXdpReason
		tag     string // passes: whose tenant counter moves
	}{
		{"signed GET", signed(t, get, key, now), passUDP, "acme"},
		{"signed SET", signed(t, set, key, now), passUDP, "acme"},
		{"signed DEL", signed(t, del, key, now), passUDP, "acme"},
		{"longest signed datagram", signed(t, maxSet, key, now), passUDP, string(maxSet.Tag)},
		{"wrong key", signed(t, get, other, now), dropForged, ""},
		{"4 s old", signed(t, get, key, now.Add(-4*time.Second)), passUDP, "acme"},
		{"6 s old: replay", signed(t, get, key, now.Add(-6*time.Second)), dropReplay, ""},
		{"6 s ahead: replay", signed(t, get, key, now.Add(6*time.Second)), dropReplay, ""},
		{"an hour old: replay", signed(t, get, key, now.Add(-time.Hour)), dropReplay, ""},
		{"forged and old: forged", signed(t, get, other, now.Add(-time.Hour)), dropForged, ""},
		{"unsigned for a keyed tenant", unsignedReq(t, get), dropUnsigned, ""},
		{"unsigned, tenant allows it", unsignedReq(t, wire.Request{Op: wire.OpGet, Key: []byte("{mixed}:k")}), passUDP, "mixed"},
		{"signed, tenant also allows unsigned", signed(t, wire.Request{Op: wire.OpGet, Key: []byte("{mixed}:k")}, key, now), passUDP, "mixed"},
		{"unsigned legacy tenant", unsignedReq(t, legacy), passUDP, "legacy"},
		{"signed for a tenant without a key", signed(t, legacy, key, now), dropNoKey, ""},
		{"unsigned, unknown tenant, global off", unsignedReq(t, wire.Request{Op: wire.OpGet, Key: []byte("{nobody}:k")}), dropUnsigned, ""},
		{"signed, unknown tenant", signed(t, wire.Request{Op: wire.OpGet, Key: []byte("{nobody}:k")}, key, now), dropNoKey, ""},
		{"signed value over 1024", oversized, dropLength, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := udpFrame(cli4, srv4, tc.payload).bytes()
			var s uint16
			var before bpf.DorivoTenantCounter
			if tc.tag != "" {
				s = slot.OfTag([]byte(tc.tag))
				before = tenantCounter(t, objs, s)
			}
			verdict := uint32(xdpDrop)
			if tc.reason == passUDP {
				verdict = xdpPass
			}
			runXDP(t, objs, data, verdict, tc.reason)
			if tc.tag != "" {
				if got := tenantCounter(t, objs, s).Packets - before.Packets; got != 1 {
					t.Errorf("tenant_stats[%d] moved %d, want 1", s, got)
				}
			}
		})
	}
	// Global policy on: tags without an entry may send unsigned, keyed
	// tenants still may not.
	setConfig(t, objs, authConfig(t, true))
	runXDP(t, objs, udpFrame(cli4, srv4, unsignedReq(t, wire.Request{Op: wire.OpGet, Key: []byte("{nobody}:k")})).bytes(), xdpPass, passUDP)
	runXDP(t, objs, udpFrame(cli4, srv4, unsignedReq(t, get)).bytes(), xdpDrop, dropUnsigned)
	// Nothing the drops saw was charged to acme.
	if c := tenantCounter(t, objs, slot.OfTag([]byte("acme"))); c.Packets != 4 {
		t.Errorf("acme tenant_stats = %+v, want the 4 datagrams that passed", c)
	}
}

// Every single-bit flip of a signed datagram is dropped, and with the
// reason the Go parser and auth.Check predict: header bits fail the header
// checks, a tag bit names another tenant (no key), the rest is forged.
func TestXDPAuthEveryBitFlip(t *testing.T) {
	objs := loadObjects(t)
	setConfig(t, objs, authConfig(t, false))
	key := testKey(t, 3)
	putTenant(t, objs, "acme", auth.Tenant{Key: key})
	tbl := &auth.Table{Tenants: map[string]auth.Tenant{"acme": {Key: key}}}
	good := signed(t, wire.Request{ID: 77, Op: wire.OpSet, Key: []byte("{acme}:k"), Value: []byte("val")}, key, time.Now())
	fields := map[bpf.DorivoXdpReason]int{}
	for i := range len(good) * 8 {
		p := bytes.Clone(good)
		p[i/8] ^= 1 << (i % 8)
		want := predict(p, tbl, time.Now())
		if want == passUDP {
			t.Fatalf("bit %d flipped: Go would pass it", i)
		}
		runXDP(t, objs, udpFrame(cli4, srv4, p).bytes(), xdpDrop, want)
		fields[want]++
	}
	// ID (32 bits), key (64), value (24), timestamp (64) and MAC (64) are
	// covered by the MAC alone: 248 forged.
	if fields[dropForged] != 248 || fields[dropNoKey] != 32 {
		t.Errorf("reasons over the flips: %v, want 248 forged and 32 tag flips without key", named(toU64(fields)))
	}
}

func toU64(m map[bpf.DorivoXdpReason]int) map[bpf.DorivoXdpReason]uint64 {
	out := map[bpf.DorivoXdpReason]uint64{}
	for k, v := range m {
		out[k] = uint64(v)
	}
	return out
}

// predict is the Go side's verdict on payload p: wire.ParseRequest, then
// auth.Check.
func predict(p []byte, tbl *auth.Table, now time.Time) bpf.DorivoXdpReason {
	var r wire.Request
	err := wire.ParseRequest(p, &r)
	if reason, drop := wire.DropReason(err); drop {
		return reason
	}
	if _, err := tbl.Check(p, &r, now); err != nil {
		reason, _ := auth.DropReason(err)
		return reason
	}
	return passUDP
}

// The kernel's SipHash-2-4 and Go's agree on every length of MAC input
// (all eight tail lengths, up to the longest datagram) and every key: a
// datagram signed in Go passes, and the same with its MAC one bit off is
// forged.
func TestXDPMACMatchesGo(t *testing.T) {
	objs := loadObjects(t)
	setConfig(t, objs, authConfig(t, false))
	rng := rand.New(rand.NewPCG(11, 12))
	const n = 3000
	for i := range n {
		tag := make([]byte, 1+rng.IntN(64))
		for j := range tag {
			tag[j] = byte(rng.Uint32())
		}
		k := testKey(t, rng.Uint64())
		putTenant(t, objs, string(tag), auth.Tenant{Key: k})
		r := wire.Request{ID: rng.Uint32(), Op: wire.Opcode(1 + rng.IntN(3)), Tag: tag, Key: make([]byte, 1+rng.IntN(512))}
		for j := range r.Key {
			r.Key[j] = byte(rng.Uint32())
		}
		if r.Op == wire.OpSet {
			r.Value = make([]byte, rng.IntN(1025))
			for j := range r.Value {
				r.Value[j] = byte(rng.Uint32())
			}
		}
		p := signed(t, r, k, time.Now())
		runXDP(t, objs, udpFrame(cli4, srv4, p).bytes(), xdpPass, passUDP)
		p[len(p)-1-rng.IntN(8)] ^= 1 << rng.IntN(8)
		runXDP(t, objs, udpFrame(cli4, srv4, p).bytes(), xdpDrop, dropForged)
		if t.Failed() {
			t.Fatalf("datagram #%d: %d bytes, tag %d, key %d, value %d", i, len(p), len(tag), len(r.Key), len(r.Value))
		}
		deleteTenant(t, objs, string(tag))
	}
}

// A forged datagram spends none of its tenant's tokens and moves none of
// its counters: the bucket is charged only after the proof.
func TestXDPQuotaAfterProof(t *testing.T) {
	objs := loadObjects(t)
	setConfig(t, objs, authConfig(t, false))
	key := testKey(t, 4)
	putTenant(t, objs, "acme", auth.Tenant{Key: key})
	s := uint32(slot.OfTag([]byte("acme")))
	if err := objs.QuotaRules.Put(s, bpf.DorivoQuotaRule{Rate: 1, Burst: 2}); err != nil {
		t.Fatal(err)
	}
	get := wire.Request{Op: wire.OpGet, Key: []byte("{acme}:k")}
	forged := udpFrame(cli4, srv4, signed(t, get, testKey(t, 5), time.Now())).bytes()
	expectMoved(t, runRepeat(t, objs, forged, 50), map[bpf.DorivoXdpReason]uint64{dropForged: 50})
	unsigned := udpFrame(cli4, srv4, unsignedReq(t, get)).bytes()
	expectMoved(t, runRepeat(t, objs, unsigned, 50), map[bpf.DorivoXdpReason]uint64{dropUnsigned: 50})
	var b bpf.DorivoQuotaBucket
	if err := objs.QuotaBuckets.Lookup(s, &b); err != nil {
		t.Fatal(err)
	}
	if b.LastNs != 0 || b.TokensMilli != 0 {
		t.Fatalf("bucket touched by forged datagrams: %+v", b)
	}
	if c := tenantCounter(t, objs, uint16(s)); c != (bpf.DorivoTenantCounter{}) {
		t.Fatalf("tenant counter moved for forged datagrams: %+v", c)
	}
	// The tenant's own datagrams still get the full burst, and the next
	// one its OVER_QUOTA reply (a run of its own: XDP rewrites the frame).
	valid := udpFrame(cli4, srv4, signed(t, get, key, time.Now())).bytes()
	expectMoved(t, runRepeat(t, objs, valid, 2), map[bpf.DorivoXdpReason]uint64{passUDP: 2})
	runXDP(t, objs, valid, xdpTx, txOverQuota)
}

// During a rotation both keys verify; once the old key's time is up only
// the new one does.
func TestXDPKeyRotation(t *testing.T) {
	objs := loadObjects(t)
	setConfig(t, objs, authConfig(t, false))
	oldKey, newKey := testKey(t, 6), testKey(t, 7)
	get := wire.Request{Op: wire.OpGet, Key: []byte("{acme}:k")}
	byOld := func() []byte { return udpFrame(cli4, srv4, signed(t, get, oldKey, time.Now())).bytes() }
	byNew := func() []byte { return udpFrame(cli4, srv4, signed(t, get, newKey, time.Now())).bytes() }

	putTenant(t, objs, "acme", auth.Tenant{Key: oldKey})
	runXDP(t, objs, byOld(), xdpPass, passUDP)
	runXDP(t, objs, byNew(), xdpDrop, dropForged)

	putTenant(t, objs, "acme", auth.Tenant{Key: newKey, OldKey: oldKey, OldUntil: time.Now().Add(time.Hour)})
	runXDP(t, objs, byOld(), xdpPass, passUDP)
	runXDP(t, objs, byNew(), xdpPass, passUDP)

	putTenant(t, objs, "acme", auth.Tenant{Key: newKey, OldKey: oldKey, OldUntil: time.Now().Add(-time.Millisecond)})
	runXDP(t, objs, byOld(), xdpDrop, dropForged)
	runXDP(t, objs, byNew(), xdpPass, passUDP)
}

// The window follows config[0].replay_window_ms.
func TestXDPReplayWindowConfig(t *testing.T) {
	objs := loadObjects(t)
	cfg := authConfig(t, false)
	cfg.ReplayWindowMs = 20_000
	setConfig(t, objs, cfg)
	key := testKey(t, 8)
	putTenant(t, objs, "acme", auth.Tenant{Key: key})
	get := wire.Request{Op: wire.OpGet, Key: []byte("{acme}:k")}
	runXDP(t, objs, udpFrame(cli4, srv4, signed(t, get, key, time.Now().Add(-15*time.Second))).bytes(), xdpPass, passUDP)
	runXDP(t, objs, udpFrame(cli4, srv4, signed(t, get, key, time.Now().Add(-25*time.Second))).bytes(), xdpDrop, dropReplay)
	// A wrong TAI offset moves the kernel's "now": the same fresh datagram
	// becomes a replay, so the offset is really used.
	cfg.TaiOffsetNs += int64(time.Minute)
	setConfig(t, objs, cfg)
	runXDP(t, objs, udpFrame(cli4, srv4, signed(t, get, key, time.Now())).bytes(), xdpDrop, dropReplay)
}

// auth_slots gates the lookup: a tag whose slot counts no entry gets the
// global policy, even with an entry (so Sync marks a slot only after its
// entries are in, and clears it only after they are gone).
func TestXDPAuthSlotsGateTheLookup(t *testing.T) {
	objs := loadObjects(t)
	setConfig(t, objs, authConfig(t, true))
	key := testKey(t, 9)
	putTenant(t, objs, "acme", auth.Tenant{Key: key})
	get := wire.Request{Op: wire.OpGet, Key: []byte("{acme}:k")}
	runXDP(t, objs, udpFrame(cli4, srv4, unsignedReq(t, get)).bytes(), xdpDrop, dropUnsigned)
	addAuthSlot(t, objs, "acme", -1)
	runXDP(t, objs, udpFrame(cli4, srv4, unsignedReq(t, get)).bytes(), xdpPass, passUDP)
	runXDP(t, objs, udpFrame(cli4, srv4, signed(t, get, key, time.Now())).bytes(), xdpDrop, dropNoKey)
}

// The SipHash loop is walked once per iteration and key slot by the
// verifier: keep xdp_ingress well inside the 1M-instruction limit, so
// that a longer PROTO_MAX_MAC_INPUT or a third key slot is a decision.
func TestXDPVerifierBudget(t *testing.T) {
	objs := loadObjects(t)
	info, err := objs.XdpIngress.Info()
	if err != nil {
		t.Fatal(err)
	}
	n, ok := info.VerifiedInstructions()
	if !ok {
		t.Fatal("kernel does not report verified instructions")
	}
	t.Logf("xdp_ingress: %d instructions verified", n)
	if n == 0 || n > 250_000 {
		t.Fatalf("xdp_ingress: %d instructions verified, budget 250,000 of the verifier's 1,000,000", n)
	}
}
