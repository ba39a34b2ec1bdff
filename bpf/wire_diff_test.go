package bpf_test

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/dorivo/dorivo/bpf"
	"github.com/dorivo/dorivo/datapath/wire"
	"github.com/dorivo/dorivo/datapath/wire/auth"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// The kernel and user space must agree on every datagram: XDP drops what
// wire.ParseRequest rejects or auth.Check refuses, with the counter their
// DropReason names, and passes the rest (oversized v1 SET values
// included) into the tenant slot of the parsed tag.
func checkAgainstWire(t *testing.T, objs *bpf.DorivoObjects, tbl *auth.Table, payload []byte) {
	t.Helper()
	data := udpFrame(cli4, srv4, payload).bytes()
	var r wire.Request
	err := wire.ParseRequest(payload, &r)
	want := predict(payload, tbl, time.Now())
	drop := want != bpf.DorivoXdpReasonXDP_R_PASS_UDP
	before := sumCounters(t, objs.XdpStats)
	var s uint16
	var tb bpf.DorivoTenantCounter
	if !drop {
		s = slot.OfTag(r.Tag)
		tb = tenantCounter(t, objs, s)
	}
	ret, rerr := objs.XdpIngress.Run(&ebpf.RunOptions{Data: data})
	if rerr != nil {
		t.Fatal(rerr)
	}
	after := sumCounters(t, objs.XdpStats)
	for i := range after {
		moved := after[i].Packets - before[i].Packets
		exp := uint64(0)
		if bpf.DorivoXdpReason(i) == want {
			exp = 1
		}
		if moved != exp {
			t.Fatalf("payload %x: xdp_stats[%s] moved %d, want %d (wire: %v)", payload, reasonNames[bpf.DorivoXdpReason(i)], moved, exp, err)
		}
	}
	if wantRet := map[bool]uint32{true: xdpDrop, false: xdpPass}[drop]; ret != wantRet {
		t.Fatalf("payload %x: verdict %d, want %d", payload, ret, wantRet)
	}
	if !drop {
		if got := tenantCounter(t, objs, s).Packets - tb.Packets; got != 1 {
			t.Fatalf("payload %x: tenant_stats[%d] moved %d, want 1", payload, s, got)
		}
	}
}

// Random corruptions of valid requests: header bytes, lengths, truncation
// and extension, so that every check is hit from both sides.
// Half the datagrams are signed: by the keyed tenant "sig", with its key
// or another, fresh or stale; the other half unsigned, for tags without an
// entry (allowed) or for "sig" (refused).
func TestXDPAgreesWithWireCodec(t *testing.T) {
	objs := loadObjects(t)
	key := testKey(t, 42)
	putTenant(t, objs, "sig", auth.Tenant{Key: key})
	tbl := &auth.Table{AllowUnsigned: true, Tenants: map[string]auth.Tenant{"sig": {Key: key}}}
	rng := rand.New(rand.NewPCG(7, 8))
	seen := map[bpf.DorivoXdpReason]int{}
	for range 6000 {
		op := bpf.DorivoOpcode(1 + rng.IntN(3))
		tag := make([]byte, 1+rng.IntN(64))
		key := make([]byte, 1+rng.IntN(40))
		var value []byte
		if op == bpf.DorivoOpcodeOP_SET {
			value = make([]byte, rng.IntN(1500))
		}
		if rng.IntN(8) == 0 {
			tag = []byte("sig") // unsigned from the keyed tenant
		}
		p := req{op: op, tag: tag, key: key, value: value, tagLen: -1, keyLen: -1, valueLen: -1}.bytes()
		if rng.IntN(2) == 0 {
			p = signedVariant(t, rng, op, key, value)
		}
		switch rng.IntN(6) {
		case 0: // valid
		case 1: // one header byte
			p[rng.IntN(int(bpf.DorivoProtoPROTO_HDR_LEN))] = byte(rng.Uint32())
		case 2: // one length field
			off := []int{6, 12, 14}[rng.IntN(3)]
			if off == 6 {
				p[6] = byte(rng.IntN(70))
			} else {
				binary.BigEndian.PutUint16(p[off:], uint16(rng.IntN(600)))
			}
		case 3: // truncated
			p = p[:rng.IntN(len(p))]
		case 4: // extended
			p = append(p, make([]byte, 1+rng.IntN(8))...)
		case 5: // a few random bytes anywhere
			for range 1 + rng.IntN(3) {
				p[rng.IntN(len(p))] = byte(rng.Uint32())
			}
		}
		checkAgainstWire(t, objs, tbl, p)
		seen[predict(p, tbl, time.Now())]++
	}
	// The corpus must reach every datagram verdict, or it proves little.
	for r := bpf.DorivoXdpReasonXDP_R_PASS_UDP; r < bpf.DorivoXdpReasonXDP_R_MAX; r++ {
		switch r {
		case bpf.DorivoXdpReasonXDP_R_DROP_UDP_LEN, bpf.DorivoXdpReasonXDP_R_DROP_FRAGMENT, // frame-level, not the codec's
			bpf.DorivoXdpReasonXDP_R_DROP_ACL, bpf.DorivoXdpReasonXDP_R_DROP_QUOTA, bpf.DorivoXdpReasonXDP_R_TX_OVER_QUOTA, // not configured here
			bpf.DorivoXdpReasonXDP_R_TX_SHED_BREAKER, bpf.DorivoXdpReasonXDP_R_TX_SHED_OVERLOAD, // no slot shed here
			bpf.DorivoXdpReasonXDP_R_TX_SHED_DISK, bpf.DorivoXdpReasonXDP_R_DROP_SHED:
			continue
		}
		if seen[r] == 0 {
			t.Errorf("no case reached %s", reasonNames[r])
		}
	}
}

// signedVariant is a signed datagram of tenant "sig": right key or wrong,
// fresh or a minute old.
func signedVariant(t *testing.T, rng *rand.Rand, op bpf.DorivoOpcode, key, value []byte) []byte {
	k := testKey(t, 42)
	if rng.IntN(4) == 0 {
		k = testKey(t, 43)
	}
	ts := time.Now()
	if rng.IntN(4) == 0 {
		ts = ts.Add(-time.Minute)
	}
	p := wire.AppendRequestUnchecked(nil, &wire.Request{Op: wire.Opcode(op), Tag: []byte("sig"), Key: key, Value: value,
		Signed: true, Timestamp: ts.UnixNano()})
	// Signed over whatever the lengths are (a value over 1024 included).
	binary.LittleEndian.PutUint64(p[len(p)-8:], wire.MAC(k, p[:len(p)-8]))
	return p
}

// go test -run '^$' -fuzz FuzzXDPAgreesWithWireCodec -fuzzminimizetime 2s -parallel 1 ./bpf/
func FuzzXDPAgreesWithWireCodec(f *testing.F) {
	objs := loadObjects(f)
	key := testKey(f, 42)
	putTenant(f, objs, "sig", auth.Tenant{Key: key})
	tbl := &auth.Table{AllowUnsigned: true, Tenants: map[string]auth.Tenant{"sig": {Key: key}}}
	f.Add(signed(f, wire.Request{Op: wire.OpSet, Key: []byte("{sig}:k"), Value: []byte("v")}, key, time.Now()))
	f.Add(newReq(bpf.DorivoOpcodeOP_GET, "acme", "{acme}:k", "").bytes())
	f.Add(newReq(bpf.DorivoOpcodeOP_SET, "acme", "{acme}:k", "v").bytes())
	f.Add(newReq(bpf.DorivoOpcodeOP_DEL, "a", "a", "").bytes())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, payload []byte) {
		if len(payload) > 3000 { // BPF_PROG_TEST_RUN takes at most a page
			return
		}
		checkAgainstWire(t, objs, tbl, payload)
	})
}
