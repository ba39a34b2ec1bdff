package bpf_test

import (
	"math/rand/v2"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/dorivo/dorivo/bpf"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// The kernel's slot (bpf/slot.h) and Go's (shardstore/slot) must agree on
// every tag: a datagram lands in the tenant counter Go predicts.
func TestXDPSlotMatchesGo(t *testing.T) {
	objs := loadObjects(t)
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 10_000
	maxTag := int(bpf.DorivoProtoPROTO_MAX_TAG_LEN)
	for i := range n {
		tag := make([]byte, 1+rng.IntN(maxTag))
		for j := range tag {
			tag[j] = byte(rng.Uint32())
		}
		data := udpFrame(cli4, srv4, req{op: bpf.DorivoOpcodeOP_GET, tag: tag, key: []byte("k"),
			tagLen: -1, keyLen: -1, valueLen: -1}.bytes()).bytes()
		s := slot.OfTag(tag)
		before := tenantCounter(t, objs, s)
		ret, err := objs.XdpIngress.Run(&ebpf.RunOptions{Data: data})
		if err != nil {
			t.Fatal(err)
		}
		if ret != xdpPass {
			t.Fatalf("tag %x: verdict %d", tag, ret)
		}
		if got := tenantCounter(t, objs, s).Packets - before.Packets; got != 1 {
			t.Fatalf("tag #%d %x (len %d): tenant_stats[%d] moved by %d, want 1", i, tag, len(tag), s, got)
		}
	}
	// And nothing else moved: the per-slot counters add up to n.
	var total uint64
	var per []bpf.DorivoTenantCounter
	it := objs.TenantStats.Iterate()
	var k uint32
	for it.Next(&k, &per) {
		for _, c := range per {
			total += c.Packets
		}
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	if total != n {
		t.Fatalf("tenant_stats hold %d packets, want %d", total, n)
	}
}
