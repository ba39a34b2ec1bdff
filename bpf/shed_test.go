package bpf_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/dorivo/dorivo/bpf"
	"github.com/dorivo/dorivo/datapath/wire"
	"github.com/dorivo/dorivo/datapath/wire/auth"
	"github.com/dorivo/dorivo/shardstore/slot"
)

const (
	txShedBreaker  = bpf.DorivoXdpReasonXDP_R_TX_SHED_BREAKER
	txShedOverload = bpf.DorivoXdpReasonXDP_R_TX_SHED_OVERLOAD
	txShedDisk     = bpf.DorivoXdpReasonXDP_R_TX_SHED_DISK
	shedBreaker    = uint32(bpf.DorivoShedReasonSHED_BREAKER)
	shedOverload   = uint32(bpf.DorivoShedReasonSHED_OVERLOAD)
	shedDisk       = uint32(bpf.DorivoShedReasonSHED_DISK)
)

func shedSlot(tb testing.TB, objs *bpf.DorivoObjects, tag string, reasons, retryMs uint32) uint32 {
	tb.Helper()
	s := uint32(slot.OfTag([]byte(tag)))
	if err := objs.SlotShed.Put(s, bpf.DorivoShedEntry{Reasons: reasons, RetryAfterMs: retryMs}); err != nil {
		tb.Fatal(err)
	}
	return s
}

// wantUnavailable is the UNAVAILABLE reply Go builds for request payload p:
// signed under k with the request's MAC when p is signed.
func wantUnavailable(t *testing.T, p []byte, k wire.Key, retry time.Duration) ([]byte, wire.Request) {
	t.Helper()
	var r wire.Request
	if err := wire.ParseRequest(p, &r); err != nil {
		t.Fatal(err)
	}
	rep := &wire.Reply{ID: r.ID, Op: r.Op, Status: wire.StatusUnavailable, Body: wire.AppendRetryAfter(nil, retry)}
	var want []byte
	var err error
	if r.Signed {
		want, err = wire.AppendSignedReply(nil, rep, k, r.MAC)
	} else {
		want, err = wire.AppendReply(nil, rep)
	}
	if err != nil {
		t.Fatal(err)
	}
	return want, r
}

// A datagram to a shed slot gets UNAVAILABLE with the slot's retry-after
// from XDP itself, over every frame layout, signed or not, counted under
// the reason that shed it; the tenant's traffic is counted, its quota is
// not charged.
func TestXDPShedReply(t *testing.T) {
	objs := loadObjects(t)
	setConfig(t, objs, authConfig(t, true)) // tags without an entry may send unsigned
	key, oldKey := testKey(t, 31), testKey(t, 32)
	putTenant(t, objs, "acme", auth.Tenant{Key: key, OldKey: oldKey, OldUntil: time.Now().Add(time.Hour)})
	putTenant(t, objs, "a", auth.Tenant{Key: key})
	sAcme := shedSlot(t, objs, "acme", shedBreaker, 1500)
	sLegacy := shedSlot(t, objs, "legacy", shedOverload, 20)
	sDisk := shedSlot(t, objs, "disk", shedDisk|shedOverload, 70000) // clamped to 65535
	sA := shedSlot(t, objs, "a", shedBreaker|shedOverload, 0)
	sX := shedSlot(t, objs, "x", shedBreaker, 9)
	// A quota that would drop everything: shedding comes first and leaves it alone.
	overQuota(t, objs, "acme")

	get := wire.Request{ID: 0xa1b2c3d4, Op: wire.OpGet, Key: []byte("{acme}:k")}
	set := wire.Request{ID: 7, Op: wire.OpSet, Key: []byte("{acme}:user:1"), Value: bytes.Repeat([]byte("v"), 1024)}
	del := wire.Request{ID: 8, Op: wire.OpDel, Key: []byte("{acme}:k")}
	legacy := wire.Request{ID: 9, Op: wire.OpSet, Key: []byte("{legacy}:k"), Value: []byte("value")}
	disk := wire.Request{ID: 10, Op: wire.OpGet, Key: []byte("{disk}:k")}
	shortest := wire.Request{ID: 11, Op: wire.OpGet, Tag: []byte("a"), Key: []byte("a")}
	shortestV1 := wire.Request{ID: 12, Op: wire.OpDel, Tag: []byte("x"), Key: []byte("x")}
	v4 := func(p []byte) frame { return udpFrame(cli4, srv4, p) }
	v6 := func(p []byte) frame { return udpFrame(cli6, srv6, p) }
	with := func(f frame, g func(*frame)) frame { g(&f); return f }
	q := func(f *frame) { f.vlanTPID = tpid8021Q }
	ad := func(f *frame) { f.vlanTPID = tpid8021AD }
	for _, tc := range []struct {
		name   string
		f      frame
		k      wire.Key
		pad    int
		slotN  uint32
		reason bpf.DorivoXdpReason
		retry  time.Duration
	}{
		{"v4 signed GET", v4(signed(t, get, key, time.Now())), key, 0, sAcme, txShedBreaker, 1500 * time.Millisecond},
		{"v6 signed GET", v6(signed(t, get, key, time.Now())), key, 0, sAcme, txShedBreaker, 1500 * time.Millisecond},
		{"v4 802.1Q signed SET", with(v4(signed(t, set, key, time.Now())), q), key, 0, sAcme, txShedBreaker, 1500 * time.Millisecond},
		{"v6 802.1ad signed DEL", with(v6(signed(t, del, key, time.Now())), ad), key, 0, sAcme, txShedBreaker, 1500 * time.Millisecond},
		{"v4 options are dropped", with(v4(signed(t, get, key, time.Now())), func(f *frame) { f.ipOptions = make([]byte, 40) }), key, 0, sAcme, txShedBreaker, 1500 * time.Millisecond},
		{"v4 padding is cut", v4(signed(t, get, key, time.Now())), key, 20, sAcme, txShedBreaker, 1500 * time.Millisecond},
		{"signed with the old key: reply under it", v6(signed(t, get, oldKey, time.Now())), oldKey, 0, sAcme, txShedBreaker, 1500 * time.Millisecond},
		{"v4 unsigned, overloaded loop", v4(unsignedReq(t, legacy)), wire.Key{}, 0, sLegacy, txShedOverload, 20 * time.Millisecond},
		{"v6 802.1Q unsigned, overloaded loop", with(v6(unsignedReq(t, legacy)), q), wire.Key{}, 6, sLegacy, txShedOverload, 20 * time.Millisecond},
		{"overload sheds a GET the disk reason would not", with(v4(unsignedReq(t, disk)), ad), wire.Key{}, 0, sDisk, txShedOverload, wire.MaxRetryAfter},
		{"shortest signed request, breaker counted first", with(v6(signed(t, shortest, key, time.Now())), q), key, 0, sA, txShedBreaker, 0},
		{"shortest unsigned request", with(v4(unsignedReq(t, shortestV1)), q), wire.Key{}, 0, sX, txShedBreaker, 9 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, r := wantUnavailable(t, tc.f.payload, tc.k, tc.retry)
			data := append(tc.f.bytes(), make([]byte, tc.pad)...)
			before := tenantCounter(t, objs, uint16(tc.slotN))
			out := runXDPOut(t, objs, data, xdpTx, tc.reason)
			got := checkReplyFrame(t, tc.f, out, want)
			var rep wire.Reply
			if err := wire.ParseReply(got, &rep); err != nil || rep.ID != r.ID || rep.Op != r.Op {
				t.Fatalf("reply %+v (err %v) does not answer request %d", rep, err, r.ID)
			}
			if d, ok := rep.RetryAfter(); !ok || d != tc.retry {
				t.Errorf("retry-after %v (%v), want %v", d, ok, tc.retry)
			}
			if r.Signed && (rep.RequestMAC != r.MAC || !wire.Verify(got, tc.k)) {
				t.Errorf("signed reply does not verify as the answer to MAC %#x", r.MAC)
			}
			after := tenantCounter(t, objs, uint16(tc.slotN))
			if after.Packets-before.Packets != 1 || after.QuotaDrops != before.QuotaDrops {
				t.Errorf("tenant_stats moved %+v -> %+v, want one packet and no quota drop", before, after)
			}
		})
	}
	var b bpf.DorivoQuotaBucket
	if err := objs.QuotaBuckets.Lookup(sAcme, &b); err != nil || b.TokensMilli != 0 || b.LastNs != farFuture {
		t.Errorf("quota bucket of a shed slot = %+v (err %v): want it untouched", b, err)
	}
}

// The disk reason sheds writes only; an entry without reasons, or another
// slot, serves; unproven datagrams to a shed slot are dropped for what they
// are, unanswered.
func TestXDPShedScope(t *testing.T) {
	objs := loadObjects(t)
	setConfig(t, objs, authConfig(t, true))
	key := testKey(t, 33)
	putTenant(t, objs, "sig", auth.Tenant{Key: key})
	sDisk := shedSlot(t, objs, "disk", shedDisk, 250)
	shedSlot(t, objs, "idle", 0, 250)
	shedSlot(t, objs, "sig", shedBreaker, 250)
	setDisk := v1(t, wire.Request{ID: 1, Op: wire.OpSet, Key: []byte("{disk}:k"), Value: []byte("v")})
	want, _ := wantUnavailable(t, setDisk.payload, wire.Key{}, 250*time.Millisecond)
	checkReplyFrame(t, setDisk, runXDPOut(t, objs, setDisk.bytes(), xdpTx, txShedDisk), want)
	delDisk := v1(t, wire.Request{ID: 2, Op: wire.OpDel, Key: []byte("{disk}:k")})
	runXDPOut(t, objs, delDisk.bytes(), xdpTx, txShedDisk)
	for _, tc := range []struct {
		name    string
		data    []byte
		verdict uint32
		reason  bpf.DorivoXdpReason
	}{
		{"GET under the disk reason", v1(t, wire.Request{Op: wire.OpGet, Key: []byte("{disk}:k")}).bytes(), xdpPass, passUDP},
		{"entry without reasons", v1(t, wire.Request{Op: wire.OpSet, Key: []byte("{idle}:k")}).bytes(), xdpPass, passUDP},
		{"another slot", v1(t, wire.Request{Op: wire.OpSet, Key: []byte("{other}:k")}).bytes(), xdpPass, passUDP},
		{"forged, to a shed slot", udpFrame(cli4, srv4, signed(t, wire.Request{Op: wire.OpGet, Key: []byte("{sig}:k")}, testKey(t, 34), time.Now())).bytes(), xdpDrop, dropForged},
		{"replayed, to a shed slot", udpFrame(cli4, srv4, signed(t, wire.Request{Op: wire.OpGet, Key: []byte("{sig}:k")}, key, time.Now().Add(-time.Minute))).bytes(), xdpDrop, dropReplay},
		{"unsigned from a tenant that must sign", udpFrame(cli4, srv4, unsignedReq(t, wire.Request{Op: wire.OpGet, Key: []byte("{sig}:k")})).bytes(), xdpDrop, dropUnsigned},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := runXDPOut(t, objs, tc.data, tc.verdict, tc.reason)
			if !bytes.Equal(out, tc.data) {
				t.Errorf("frame was rewritten:\n got %x\nwant %x", out, tc.data)
			}
		})
	}
	// Cleared: the slot serves again.
	if err := objs.SlotShed.Put(sDisk, bpf.DorivoShedEntry{}); err != nil {
		t.Fatal(err)
	}
	runXDPOut(t, objs, setDisk.bytes(), xdpPass, passUDP)
}

func v1(t *testing.T, r wire.Request) frame { return udpFrame(cli4, srv4, unsignedReq(t, r)) }
