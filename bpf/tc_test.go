package bpf_test

import (
	"testing"

	"github.com/cilium/ebpf"

	"github.com/dorivo/dorivo/bpf"
)

// TCX_NEXT (-1) as BPF_PROG_TEST_RUN reports it.
const tcxNext = ^uint32(0)

func TestTCCounters(t *testing.T) {
	objs := loadObjects(t)
	payload := newReq(bpf.DorivoOpcodeOP_GET, "acme", "k", "").bytes()
	toUDP := udpFrame(cli4, srv4, payload)
	fromUDP := toUDP
	fromUDP.sport, fromUDP.dport = udpPort, 40000
	toTCP := frame{src: cli4, dst: srv4, proto: ipProtoTCP, sport: 40000, dport: tcpPort}
	fromTCP := toTCP
	fromTCP.sport, fromTCP.dport = tcpPort, 40000
	v6 := func(f frame) frame { f.src, f.dst = cli6, srv6; return f }
	vlan := func(f frame) frame { f.vlanTPID = tpid8021Q; return f }
	port := func(f frame, sport, dport uint16) frame { f.sport, f.dport = sport, dport; return f }
	laterFragment := toUDP
	laterFragment.fragOff = 0x0010

	none := bpf.DorivoTcDirTC_MAX // no counter
	for _, tc := range []struct {
		name   string
		egress bool
		f      frame
		dir    bpf.DorivoTcDir
	}{
		{"in tcp", false, toTCP, bpf.DorivoTcDirTC_INGRESS_TCP},
		{"in tcp v6", false, v6(toTCP), bpf.DorivoTcDirTC_INGRESS_TCP},
		{"in tcp vlan", false, vlan(toTCP), bpf.DorivoTcDirTC_INGRESS_TCP},
		{"in udp", false, toUDP, bpf.DorivoTcDirTC_INGRESS_UDP},
		{"in udp v6 vlan", false, vlan(v6(toUDP)), bpf.DorivoTcDirTC_INGRESS_UDP},
		{"in udp from the service port", false, fromUDP, none},
		{"in tcp from the service port", false, fromTCP, none},
		{"in udp other port", false, port(toUDP, 40000, 53), none},
		{"in tcp to the udp port", false, port(toTCP, 40000, udpPort), none},
		{"in later fragment", false, laterFragment, none},
		{"out tcp", true, fromTCP, bpf.DorivoTcDirTC_EGRESS_TCP},
		{"out tcp v6", true, v6(fromTCP), bpf.DorivoTcDirTC_EGRESS_TCP},
		{"out udp", true, fromUDP, bpf.DorivoTcDirTC_EGRESS_UDP},
		{"out udp v6 vlan", true, vlan(v6(fromUDP)), bpf.DorivoTcDirTC_EGRESS_UDP},
		{"out udp to the service port", true, toUDP, none},
		{"out tcp to the service port", true, toTCP, none},
		{"out tcp other port", true, port(fromTCP, 22, 40000), none},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prog := objs.TcIngress
			if tc.egress {
				prog = objs.TcEgress
			}
			data := tc.f.bytes()
			before := sumCounters(t, objs.TcStats)
			ret, err := prog.Run(&ebpf.RunOptions{Data: data})
			if err != nil {
				t.Fatal(err)
			}
			if ret != tcxNext {
				t.Errorf("verdict %#x, want TCX_NEXT", ret)
			}
			after := sumCounters(t, objs.TcStats)
			for d := range after {
				want := bpf.DorivoCounter{}
				if bpf.DorivoTcDir(d) == tc.dir {
					want = bpf.DorivoCounter{Packets: 1, Bytes: uint64(len(data))}
				}
				got := bpf.DorivoCounter{Packets: after[d].Packets - before[d].Packets, Bytes: after[d].Bytes - before[d].Bytes}
				if got != want {
					t.Errorf("tc_stats[%d] moved %+v, want %+v", d, got, want)
				}
			}
		})
	}
}

// With no service ports configured, TC counts nothing and still passes on.
func TestTCNoServicePort(t *testing.T) {
	objs := loadObjects(t)
	setConfig(t, objs, bpf.DorivoAgentConfig{})
	data := udpFrame(cli4, srv4, []byte("x")).bytes()
	for _, prog := range []*ebpf.Program{objs.TcIngress, objs.TcEgress} {
		ret, err := prog.Run(&ebpf.RunOptions{Data: data})
		if err != nil || ret != tcxNext {
			t.Fatalf("ret %#x err %v", ret, err)
		}
	}
	for d, c := range sumCounters(t, objs.TcStats) {
		if c.Packets != 0 {
			t.Errorf("tc_stats[%d] = %+v, want 0", d, c)
		}
	}
}
