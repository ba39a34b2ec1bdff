package bpf_test

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/dorivo/dorivo/bpf"
	"github.com/dorivo/dorivo/datapath/wire"
	"github.com/dorivo/dorivo/datapath/wire/auth"
	"github.com/dorivo/dorivo/internal/testenv"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// Per-packet cost of the programs. ns/pkt is the kernel's own average
// over the BPF_PROG_TEST_RUN repetitions (or bpf_stats for sk_reuseport),
// without the syscall; ns/op includes it.
//
//	go test -run '^$' -bench . -benchtime 1000000x ./bpf/

func benchProg(b *testing.B, prog *ebpf.Program, data []byte, want uint32) {
	b.Helper()
	ret, d, err := prog.Benchmark(data, b.N, b.ResetTimer)
	if err != nil {
		b.Fatal(err)
	}
	if ret != want {
		b.Fatalf("verdict %d, want %d", ret, want)
	}
	b.ReportMetric(float64(d.Nanoseconds()), "ns/pkt")
}

// benchProgOnce runs prog b.N times, one BPF_PROG_TEST_RUN each on a fresh
// copy of data, with before() ahead of every run: for a program that
// rewrites its frame (XDP_TX), which a repeat would feed back to it.
// ns/pkt is the kernel's time of the single runs, which includes one
// clock read and the bh toggling around the run that a repeat spreads.
func benchProgOnce(b *testing.B, prog *ebpf.Program, data []byte, want uint32, before func()) {
	b.Helper()
	benchProgOnceNs(b, prog, data, want, before)
}

func BenchmarkXDP(b *testing.B) {
	objs := loadObjects(b)
	valid := udpFrame(cli4, srv4, newReq(bpf.DorivoOpcodeOP_SET, "acme", "{acme}:user:1", "some value").bytes()).bytes()
	longTag := udpFrame(cli4, srv4, newReq(bpf.DorivoOpcodeOP_GET, string(make([]byte, 64)), "k", "").bytes()).bytes()
	bad := newReq(bpf.DorivoOpcodeOP_GET, "acme", "k", "")
	bad.magic = 0xBEEF
	badMagic := udpFrame(cli4, srv4, bad.bytes()).bytes()
	other := frame{src: cli4, dst: srv4, proto: ipProtoTCP, sport: 40000, dport: 22}.bytes()

	b.Run("pass valid datagram", func(b *testing.B) { benchProg(b, objs.XdpIngress, valid, xdpPass) })
	b.Run("pass 64-byte tag", func(b *testing.B) { benchProg(b, objs.XdpIngress, longTag, xdpPass) })
	b.Run("drop bad magic", func(b *testing.B) { benchProg(b, objs.XdpIngress, badMagic, xdpDrop) })
	b.Run("pass other traffic", func(b *testing.B) { benchProg(b, objs.XdpIngress, other, xdpPass) })

	b.Run("pass with ACL and quota", func(b *testing.B) {
		setConfig(b, objs, bpf.DorivoAgentConfig{UdpPort: udpPort, TcpPort: tcpPort, AclEnabled: 1, AllowUnsigned: 1})
		defer setConfig(b, objs, bpf.DorivoAgentConfig{UdpPort: udpPort, TcpPort: tcpPort, AllowUnsigned: 1})
		if err := objs.Acl.Put(aclKey(netip.MustParsePrefix("192.0.2.0/24")), uint8(1)); err != nil {
			b.Fatal(err)
		}
		s := uint32(slot.OfTag([]byte("acme")))
		if err := objs.QuotaRules.Put(s, bpf.DorivoQuotaRule{Rate: 4_000_000_000, Burst: 4_000_000_000}); err != nil {
			b.Fatal(err)
		}
		defer objs.QuotaRules.Put(s, bpf.DorivoQuotaRule{})
		benchProg(b, objs.XdpIngress, valid, xdpPass)
	})
	// The MAC's cost: the same SET signed, then the longest datagram.
	b.Run("signed", func(b *testing.B) {
		cfg := authConfig(b, true)
		cfg.ReplayWindowMs = 3_600_000 // a long -benchtime stays inside it
		setConfig(b, objs, cfg)
		defer setConfig(b, objs, bpf.DorivoAgentConfig{UdpPort: udpPort, TcpPort: tcpPort, AllowUnsigned: 1})
		key, other := testKey(b, 1), testKey(b, 2)
		putTenant(b, objs, "acme", auth.Tenant{Key: key})
		long := bytes.Repeat([]byte("t"), 64)
		putTenant(b, objs, string(long), auth.Tenant{Key: key})
		set := wire.Request{Op: wire.OpSet, Key: []byte("{acme}:user:1"), Value: []byte("some value")}
		biggest := wire.Request{Op: wire.OpSet, Tag: long, Key: bytes.Repeat([]byte("k"), 512), Value: make([]byte, 1024)}
		frameOf := func(p []byte) []byte { return udpFrame(cli4, srv4, p).bytes() }
		b.Run("pass signed datagram", func(b *testing.B) { benchProg(b, objs.XdpIngress, frameOf(signed(b, set, key, time.Now())), xdpPass) })
		b.Run("pass signed 1624-byte MAC input", func(b *testing.B) {
			benchProg(b, objs.XdpIngress, frameOf(signed(b, biggest, key, time.Now())), xdpPass)
		})
		b.Run("drop forged", func(b *testing.B) { benchProg(b, objs.XdpIngress, frameOf(signed(b, set, other, time.Now())), xdpDrop) })
		b.Run("drop unsigned for a keyed tenant", func(b *testing.B) {
			benchProg(b, objs.XdpIngress, frameOf(unsignedReq(b, set)), xdpDrop)
		})
		plain := frameOf(unsignedReq(b, wire.Request{Op: wire.OpSet, Key: []byte("{plain}:user:1"), Value: []byte("some value")}))
		b.Run("pass unsigned, no entry", func(b *testing.B) { benchProg(b, objs.XdpIngress, plain, xdpPass) })
	})
	b.Run("drop over quota", func(b *testing.B) {
		s := uint32(slot.OfTag([]byte("acme")))
		if err := objs.QuotaRules.Put(s, bpf.DorivoQuotaRule{Rate: 1, Burst: 1}); err != nil {
			b.Fatal(err)
		}
		// An empty bucket whose last refill lies in the future never refills.
		if err := objs.QuotaBuckets.Put(s, bpf.DorivoQuotaBucket{TokensMilli: 0, LastNs: ^uint64(0) >> 1}); err != nil {
			b.Fatal(err)
		}
		benchProg(b, objs.XdpIngress, valid, xdpDrop)
	})
	// A signed request over quota: answered by XDP (its reply bucket
	// refilled before every run), or dropped once the replies' bucket is
	// empty (a flood). "once" runs the drop the way the reply is measured,
	// to show what single runs add.
	b.Run("signed over quota", func(b *testing.B) {
		cfg := authConfig(b, true)
		cfg.ReplayWindowMs = 3_600_000
		setConfig(b, objs, cfg)
		defer setConfig(b, objs, bpf.DorivoAgentConfig{UdpPort: udpPort, TcpPort: tcpPort, AllowUnsigned: 1})
		key := testKey(b, 1)
		putTenant(b, objs, "acme", auth.Tenant{Key: key})
		s := overQuota(b, objs, "acme")
		set := udpFrame(cli4, srv4, signed(b, wire.Request{Op: wire.OpSet, Key: []byte("{acme}:user:1"), Value: []byte("some value")}, key, time.Now())).bytes()
		full := bpf.DorivoQuotaBucket{TokensMilli: uint64(replyBurst) * 1000, LastNs: farFuture}
		empty := bpf.DorivoQuotaBucket{LastNs: farFuture}
		b.Run("tx reply", func(b *testing.B) {
			benchProgOnce(b, objs.XdpIngress, set, xdpTx, func() { setReplyBucket(b, objs, s, full) })
		})
		b.Run("drop, replies exhausted, once", func(b *testing.B) {
			setReplyBucket(b, objs, s, empty)
			benchProgOnce(b, objs.XdpIngress, set, xdpDrop, func() {})
		})
		b.Run("drop, replies exhausted", func(b *testing.B) {
			setReplyBucket(b, objs, s, empty)
			benchProg(b, objs.XdpIngress, set, xdpDrop)
		})
	})
}

func BenchmarkTC(b *testing.B) {
	objs := loadObjects(b)
	in := frame{src: cli4, dst: srv4, proto: ipProtoTCP, sport: 40000, dport: tcpPort}.bytes()
	out := frame{src: srv4, dst: cli4, proto: ipProtoTCP, sport: tcpPort, dport: 40000}.bytes()
	b.Run("ingress", func(b *testing.B) { benchProg(b, objs.TcIngress, in, tcxNext) })
	b.Run("egress", func(b *testing.B) { benchProg(b, objs.TcEgress, out, tcxNext) })
}

// sk_reuseport cannot be test-run: send real datagrams through a group
// and read the program's own run time from bpf_stats.
func BenchmarkReuseportUDP(b *testing.B) {
	objs := loadObjects(b)
	table, err := slot.NewTable(rpLoops)
	if err != nil {
		b.Fatal(err)
	}
	fillSlotLoop(b, objs, table)
	stats, err := ebpf.EnableStats(unix.BPF_STATS_RUN_TIME)
	if err != nil {
		b.Fatal(err)
	}
	defer stats.Close()
	rng := rand.New(rand.NewPCG(5, 6))
	var payloads [][]byte
	for i := range 256 {
		tag := make([]byte, 1+rng.IntN(32))
		for j := range tag {
			tag[j] = byte(rng.Uint32())
		}
		payloads = append(payloads, requestWithID(uint32(i), string(tag)))
	}
	ns := testenv.NewNetns(b, "rpbench")
	ns.Do(b, func() {
		fds := reuseportGroup(b, objs, families[0], unix.SOCK_DGRAM, rpUDPPort+1)
		cli, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			b.Fatal(err)
		}
		defer unix.Close(cli)
		dst := families[0].addr(rpUDPPort + 1)
		buf := make([]byte, 2048)
		s0, err := objs.ReuseportSelect.Stats()
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for i := range b.N {
			if err := unix.Sendto(cli, payloads[i%len(payloads)], 0, dst); err != nil {
				b.Fatal(err)
			}
			// Keep the receive queues empty: read whatever arrived.
			for _, fd := range fds {
				unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
			}
		}
		b.StopTimer()
		s1, err := objs.ReuseportSelect.Stats()
		if err != nil {
			b.Fatal(err)
		}
		runs := s1.RunCount - s0.RunCount
		if runs == 0 {
			b.Fatal("the program never ran")
		}
		b.ReportMetric(float64((s1.Runtime-s0.Runtime).Nanoseconds())/float64(runs), "ns/pkt")
		b.ReportMetric(float64(runs)/float64(b.N), "runs/op")
	})
}

// Shedding: a datagram to a slot whose breaker is open, answered
// UNAVAILABLE by XDP. A reply rewrites its frame, so each packet is one
// run ("once", see benchProgOnce). pkt/s is 1e9 / ns/pkt: one CPU's shed
// rate, without the NIC.
//
//	go test -run '^$' -bench 'XDPShed' -benchtime 200000x -count 10 ./bpf/
func BenchmarkXDPShed(b *testing.B) {
	objs := loadObjects(b)
	setConfig(b, objs, authConfig(b, true))
	key := testKey(b, 35)
	putTenant(b, objs, "sig", auth.Tenant{Key: key})
	shedSlot(b, objs, "acme", shedBreaker, 500)
	shedSlot(b, objs, "sig", shedBreaker, 500)
	unsigned := func() []byte {
		return udpFrame(cli4, srv4, unsignedReq(b, wire.Request{Op: wire.OpSet, Key: []byte("{acme}:user:1"), Value: []byte("some value")})).bytes()
	}
	// Signed afresh for each run of the benchmark, inside the replay window.
	signedSet := func() []byte {
		return udpFrame(cli4, srv4, signed(b, wire.Request{Op: wire.OpSet, Key: []byte("{sig}:user:1"), Value: []byte("some value")}, key, time.Now())).bytes()
	}
	for _, bc := range []struct {
		name string
		data func() []byte
	}{
		{"unsigned_once", unsigned},
		{"signed_once", signedSet},
	} {
		b.Run(bc.name, func(b *testing.B) {
			nsPerPkt := benchProgOnceNs(b, objs.XdpIngress, bc.data(), xdpTx, func() {})
			b.ReportMetric(float64(time.Second)/nsPerPkt, "pkt/s")
		})
	}
}

// benchProgOnceNs is benchProgOnce, returning the ns/pkt it reported.
func benchProgOnceNs(b *testing.B, prog *ebpf.Program, data []byte, want uint32, before func()) float64 {
	b.Helper()
	var total time.Duration
	b.ResetTimer()
	for range b.N {
		before()
		ret, d, err := prog.Benchmark(data, 1, nil)
		if err != nil {
			b.Fatal(err)
		}
		if ret != want {
			b.Fatalf("verdict %d, want %d", ret, want)
		}
		total += d
	}
	ns := float64(total.Nanoseconds()) / float64(b.N)
	b.ReportMetric(ns, "ns/pkt")
	return ns
}
