package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/dorivo/dorivo/bpf"
	"github.com/dorivo/dorivo/datapath/dgram"
	"github.com/dorivo/dorivo/internal/testenv"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// tagOnLoop is the first tag "<prefix><n>" whose slot loop owns, of loops.
func tagOnLoop(t *testing.T, prefix string, loop, loops int) string {
	tb, err := slot.NewTable(loops)
	if err != nil {
		t.Fatal(err)
	}
	for n := range 1000 {
		tag := fmt.Sprintf("%s%d", prefix, n)
		if tb.Owner(slot.OfTag([]byte(tag))) == loop {
			return tag
		}
	}
	t.Fatalf("no %s tag on loop %d", prefix, loop)
	return ""
}

// probe runs n sequential GETs through c and returns the latencies of
// those served, how many got no reply (after the client's attempts), and
// how many were answered UNAVAILABLE: the load monitor sheds any loop it
// finds past its latency bound, and on a busy 2-CPU machine that can be
// the probe's for a moment.
func probe(c *dgram.Client, key string, n int) (lat []time.Duration, lost, unavailable int, firstErr error) {
	for range n {
		start := time.Now()
		_, _, err := c.Get(context.Background(), []byte(key))
		switch {
		case errors.Is(err, dgram.ErrUnavailable):
			unavailable++
		case err != nil:
			if lost == 0 {
				firstErr = err
			}
			lost++
		default:
			lat = append(lat, time.Since(start))
		}
	}
	return lat, lost, unavailable, firstErr
}

func p99(lat []time.Duration) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	s := slices.Clone(lat)
	slices.Sort(s)
	return s[len(s)*99/100]
}

// A flood of datagrams for one shard (one loop's slot) far past what its
// loop reads: the load monitor marks that loop overloaded, XDP sheds its
// slots' datagrams itself (tx_shed_overload), and a probe client of a
// shard on the other loop gets every reply. The p99s (unloaded, during the
// flood) are logged: go test -run Flood -v ./cmd/dorivo/
func TestAgentShedsFloodInXDP(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "nsenter")
	bin := buildDorivo(t)
	srv := testenv.NewNetns(t, "fsrv")
	cli := testenv.NewNetns(t, "fcli")
	// Two queues each way, as a multiqueue NIC has, with the client's
	// CPU 0 sending on queue 0 and CPU 1 on queue 1 (XPS): the flood and
	// the probe then wait in separate rings, XDP's NAPI included.
	testenv.Run(t, "ip", "link", "add", "fv0", "netns", srv.Name, "numtxqueues", "2", "numrxqueues", "2",
		"type", "veth", "peer", "name", "fv1", "netns", cli.Name, "numtxqueues", "2", "numrxqueues", "2")
	srv.Run(t, "ip", "addr", "add", srvAddr+"/24", "dev", "fv0")
	cli.Run(t, "ip", "addr", "add", cliAddr+"/24", "dev", "fv1")
	srv.Run(t, "ip", "link", "set", "fv0", "up")
	cli.Run(t, "ip", "link", "set", "fv1", "up")
	// A veth delivers XDP_TX frames to its peer only when the peer runs an
	// XDP program of its own (xdp_tx_errors otherwise): the client's end
	// gets one that passes everything, so it receives the UNAVAILABLE
	// replies. A NIC needs nothing of the kind.
	attachPassXDP(t, cli, "fv1")
	for q, mask := range []string{"1", "2"} {
		cli.Run(t, "sh", "-c", fmt.Sprintf("echo %s > /sys/class/net/fv1/queues/tx-%d/xps_cpus", mask, q))
		srv.Run(t, "sh", "-c", fmt.Sprintf("echo %s > /sys/class/net/fv0/queues/tx-%d/xps_cpus", mask, q))
	}
	cli.Run(t, "ip", "neigh", "replace", srvAddr, "lladdr", macOf(t, srv, "fv0"), "dev", "fv1", "nud", "permanent")
	srv.Run(t, "ip", "neigh", "replace", cliAddr, "lladdr", macOf(t, cli, "fv1"), "dev", "fv0", "nud", "permanent")
	pinDir := fmt.Sprintf("/sys/fs/bpf/dorivo-test-%d-%d", os.Getpid(), pinSeq.Add(1))
	t.Cleanup(func() { _ = os.RemoveAll(pinDir) })
	// The loops read datagrams in batches and out-run this flood on the
	// VM: a backlog of some 50 datagrams (4 KB of its 4 MB buffer) counts
	// as an overload here; the probe, one datagram at a time, never has one.
	t.Setenv(testOverloadQueueEnv, "0.001")
	agent := startAgent(t, bin, srv, "--iface", "fv0", "--listen", srvAddr, "--udp-port", fmt.Sprint(udpPort), "--tcp-port", fmt.Sprint(tcpPort),
		"--loops", "2", "--pin-dir", pinDir, "--admin-addr", adminAddr, "--allow-unsigned")
	defer agent.stop(t, syscall.SIGTERM)

	floodTag, probeTag := tagOnLoop(t, "flood", 0, 2), tagOnLoop(t, "probe", 1, 2)
	dst := fmt.Sprintf("%s:%d", srvAddr, udpPort)
	var c *dgram.Client
	var floodConn *net.UDPConn
	cli.Do(t, func() {
		var err error
		if c, err = dgram.Dial(dst, dgram.Options{Tenant: probeTag, Timeout: 500 * time.Millisecond, Attempts: 3}); err != nil {
			t.Error(err)
			return
		}
		if floodConn, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.ParseIP(srvAddr), Port: udpPort}); err != nil {
			t.Error(err)
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	defer c.Close()
	defer floodConn.Close()
	probeKey := "{" + probeTag + "}:k"
	var unloaded []time.Duration
	var lost int
	onCPU(t, 1, func() {
		probe(c, probeKey, 200) // warm up: neighbours, caches
		var err error
		if unloaded, lost, _, err = probe(c, probeKey, 3000); lost > 0 {
			t.Errorf("unloaded probe lost %d of 3000, the first with %v", lost, err)
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	before := statusJSON(t, bin, pinDir).XDPByReason("tx_shed_overload").Packets

	// The flood: unsigned SETs for floodTag, 64 per sendmmsg, for a
	// bounded 3 s, from a thread pinned to CPU 0, where loop 0 runs (and
	// XDP, in the sender's softirq); the probe from CPU 1, loop 1's. Both
	// loops' CPUs are the machine's two.
	req := datagram(t, floodTag, "{"+floodTag+"}:k", "", func(h *bpf.DorivoWireHdr) { h.Opcode = uint8(bpf.DorivoOpcodeOP_GET) })
	const floodFor = 3 * time.Second
	read0 := loopDatagrams(t, srv, 0)
	rcvbufErrs := udpRcvbufErrors(t, srv)
	stop := time.Now().Add(floodFor)
	var wg sync.WaitGroup
	sent := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		runtime.LockOSThread() // dies with the goroutine: its affinity never leaks
		pinCPU(t, 0)
		pc := ipv4.NewPacketConn(floodConn)
		msgs := make([]ipv4.Message, 64)
		for j := range msgs {
			msgs[j].Buffers = [][]byte{req}
		}
		for time.Now().Before(stop) {
			if n, err := pc.WriteBatch(msgs, 0); err == nil {
				sent += n
			} // ENOBUFS and the like: the flood is lossy by design
		}
	}()
	var loaded []time.Duration
	var lostLoaded, unavailable int
	var lostErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		runtime.LockOSThread()
		pinCPU(t, 1)
		time.Sleep(300 * time.Millisecond) // let the flood build up
		loaded, lostLoaded, unavailable, lostErr = probe(c, probeKey, 3000)
	}()
	wg.Wait()
	after := statusJSON(t, bin, pinDir).XDPByReason("tx_shed_overload").Packets
	read0 = loopDatagrams(t, srv, 0) - read0
	rcvbufErrs = udpRcvbufErrors(t, srv) - rcvbufErrs

	shed := after - before
	total := sent
	t.Logf("flood: %d datagrams in %v (%.0f/s); XDP shed %d (tx_shed_overload, %.0f%%); loop 0 read %d (%.0f/s); the kernel dropped %d at loop 0's full socket (RcvbufErrors)",
		total, floodFor, float64(total)/floodFor.Seconds(), shed, 100*float64(shed)/float64(max(total, 1)),
		read0, float64(read0)/floodFor.Seconds(), rcvbufErrs)
	t.Logf("probe p99: unloaded %v, during the flood %v (%.1fx); %d requests during the flood, %d served, %d UNAVAILABLE, %d without a reply",
		p99(unloaded), p99(loaded), float64(p99(loaded))/float64(max(p99(unloaded), 1)), 3000, len(loaded), unavailable, lostLoaded)
	if shed == 0 {
		t.Errorf("XDP shed nothing of the flood; agent log:\n%s", agent.logString())
	}
	if !strings.Contains(agent.logString(), "loop overloaded") {
		t.Error("the agent never logged an overloaded loop")
	}
	if lostLoaded > 0 {
		t.Errorf("the probe on the other shard got no reply to %d requests, the first with %v", lostLoaded, lostErr)
	}
	if len(loaded) < 3000/2 {
		t.Errorf("the probe on the other shard was served %d times of 3000", len(loaded))
	}
	checkShedStatus(t, bin, pinDir, srv)
	// Once the flood is over the loop recovers and its slots are served.
	testenv.WaitFor(t, "the flooded loop to recover", func() bool { return strings.Contains(agent.logString(), "loop recovered") })
	cli.Do(t, func() {
		fc, err := dgram.Dial(dst, dgram.Options{Tenant: floodTag, Timeout: 200 * time.Millisecond, Attempts: 5})
		if err != nil {
			t.Error(err)
			return
		}
		defer fc.Close()
		// The monitor may shed again for a moment on a busy machine:
		// served within the deadline is what counts.
		testenv.WaitFor(t, "the flooded shard to serve again", func() bool {
			_, _, err := fc.Get(context.Background(), []byte("{"+floodTag+"}:k"))
			return err == nil
		})
	})
}

// checkShedStatus runs `dorivo status --json` in ns (where the agent's
// admin server listens) and checks what it says of the flood: the disk
// breaker closed, loop 0 shed at least once.
func checkShedStatus(t *testing.T, bin, pinDir string, ns *testenv.Netns) {
	out, err := exec.Command("nsenter", "--net=/var/run/netns/"+ns.Name, bin, "status", "--json", "--pin-dir", pinDir, "--admin-addr", adminAddr).Output()
	if err != nil {
		t.Fatalf("dorivo status: %v", err)
	}
	var st struct {
		Shed statusShed `json:"shed"`
	}
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	a := st.Shed.Agent
	if a == nil {
		t.Fatalf("status has no agent part: %s", st.Shed.AgentError)
	}
	if len(a.Breakers) != 1 || a.Breakers[0].Name != "disk" || a.Breakers[0].State != "closed" || a.Breakers[0].Transitions == nil {
		t.Errorf("breakers %+v, want the disk's, closed", a.Breakers)
	}
	if len(a.Loops) != 2 || a.Loops[0].Sheds == 0 {
		t.Errorf("loops %+v, want loop 0 shed at least once", a.Loops)
	}
	t.Logf("status: %+v", a.Loops)
}

// pinCPU binds the calling (locked) thread to cpu.
func pinCPU(t *testing.T, cpu int) {
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		t.Errorf("pin to CPU %d: %v", cpu, err)
	}
}

// onCPU runs fn on a thread pinned to cpu, and waits.
func onCPU(t *testing.T, cpu int, fn func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		pinCPU(t, cpu)
		fn()
	}()
	<-done
}

// loopDatagrams is dorivo_loop_datagrams_total of loop from the agent's
// /metrics.
func loopDatagrams(t *testing.T, ns *testenv.Netns, loop int) uint64 {
	body, err := scrape(t, ns)
	if err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("dorivo_loop_datagrams_total{loop=\"%d\"} ", loop)
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return uint64(n)
		}
	}
	t.Fatalf("no %s in /metrics", prefix)
	return 0
}

// udpRcvbufErrors is the namespace's UDP RcvbufErrors: datagrams dropped
// because their socket's receive buffer was full.
func udpRcvbufErrors(t *testing.T, ns *testenv.Netns) uint64 {
	lines := strings.Split(ns.Run(t, "cat", "/proc/net/snmp"), "\n")
	for i := 0; i+1 < len(lines); i++ {
		if !strings.HasPrefix(lines[i], "Udp: ") || !strings.HasPrefix(lines[i+1], "Udp: ") {
			continue
		}
		names, vals := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		for j, n := range names {
			if n == "RcvbufErrors" && j < len(vals) {
				v, _ := strconv.ParseUint(vals[j], 10, 64)
				return v
			}
		}
	}
	t.Fatal("no Udp RcvbufErrors in /proc/net/snmp")
	return 0
}

// attachPassXDP attaches an XDP program that passes every frame to ifname
// in ns, until the test ends.
func attachPassXDP(t *testing.T, ns *testenv.Netns, ifname string) {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.XDP, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2 /* XDP_PASS */), asm.Return()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prog.Close() })
	ns.Do(t, func() {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			t.Error(err)
			return
		}
		l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifi.Index})
		if err != nil {
			t.Error(err)
			return
		}
		t.Cleanup(func() { l.Close() })
	})
	if t.Failed() {
		t.FailNow()
	}
}
