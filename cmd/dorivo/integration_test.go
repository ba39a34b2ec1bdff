package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/dorivo/dorivo/bpf"
	"github.com/dorivo/dorivo/internal/testenv"
	"github.com/dorivo/dorivo/shardstore/slot"
	"github.com/dorivo/dorivo/userspace/stats"
)

const (
	srvAddr   = "10.252.0.1"
	cliAddr   = "10.252.0.2"
	deniedSrc = "10.253.0.2" // a second client address outside --allow
	udpPort   = 16379
	tcpPort   = 16380
	adminAddr = "127.0.0.1:19379"
)

var pinSeq atomic.Uint32

// buildDorivo builds this command into a directory any user can read, so
// the non-root check can run it too.
func buildDorivo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "dorivo")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// agentProc is a running `dorivo agent`.
type agentProc struct {
	cmd  *exec.Cmd
	done chan error // receives Wait's result once; put back after reading

	mu  sync.Mutex
	log bytes.Buffer
}

func (a *agentProc) logString() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.log.String()
}

// startAgent runs the agent inside ns and waits for its ready line.
//
// It enters the namespace with nsenter --net, not `ip netns exec`: the
// latter also unshares the mount namespace and remounts /sys, which hides
// /sys/fs/bpf, so the agent's pins would land in a private bpffs that
// `dorivo status` (and bpftool) outside could never see. A real agent
// (host network, like a privileged DaemonSet) shares the host's bpffs.
func startAgent(t *testing.T, bin string, ns *testenv.Netns, args ...string) *agentProc {
	t.Helper()
	return startInNetns(t, ns, append([]string{bin, "agent"}, args...)...)
}

// startInNetns runs argv (an agent, possibly behind a wrapper such as
// prlimit) in ns and waits for the agent's ready line.
func startInNetns(t *testing.T, ns *testenv.Netns, argv ...string) *agentProc {
	t.Helper()
	if !slices.Contains(argv, "--data-dir") {
		// Never the host's /var/lib/dorivo: each agent gets its own store.
		argv = append(argv, "--data-dir", t.TempDir())
	}
	cmd := exec.Command("nsenter", append([]string{"--net=/var/run/netns/" + ns.Name}, argv...)...)
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	cmd.Stdout = pw
	// If the test binary dies (timeout panic), the agent dies with it
	// rather than staying attached.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	a := &agentProc{cmd: cmd, done: make(chan error, 1)}
	// Pdeathsig fires when the forking *thread* exits, not the process. A
	// thread Go reuses for a later Netns.Do goroutine dies with it (locked
	// threads are never handed back), which would SIGKILL the agent in the
	// middle of the test. So fork from a locked thread that lives exactly
	// as long as the agent: this goroutine forks, then waits.
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		err := cmd.Wait()
		pw.Close()
		a.done <- err
	}()
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	lines := make(chan string, 256)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	// Collect the log until ready; keep collecting afterwards.
	go func() {
		once := false
		for l := range lines {
			a.mu.Lock()
			a.log.WriteString(l + "\n")
			a.mu.Unlock()
			if !once && strings.Contains(l, readyMsg) {
				once = true
				close(ready)
			}
		}
	}()
	t.Cleanup(func() { a.stop(t, syscall.SIGKILL) })
	select {
	case <-ready:
	case err := <-a.done:
		a.done <- err
		time.Sleep(100 * time.Millisecond)
		t.Fatalf("agent exited before ready: %v\n%s", err, a.logString())
	case <-time.After(30 * time.Second):
		t.Fatalf("agent not ready after 30s:\n%s", a.logString())
	}
	return a
}

// stop signals the agent and waits for it; returns its exit error.
func (a *agentProc) stop(t *testing.T, sig syscall.Signal) error {
	select {
	case err := <-a.done:
		a.done <- err
		return err
	default:
	}
	_ = a.cmd.Process.Signal(sig)
	select {
	case err := <-a.done:
		a.done <- err
		return err
	case <-time.After(20 * time.Second):
		_ = a.cmd.Process.Kill()
		t.Errorf("agent ignored %v for 20s", sig)
		return <-a.done
	}
}

// datagram builds a request per docs/protocol.md with the generated
// header struct; mut corrupts it for the malformed cases.
func datagram(t *testing.T, tag, key, value string, mut func(*bpf.DorivoWireHdr)) []byte {
	t.Helper()
	h := bpf.DorivoWireHdr{
		Magic:     uint16(bpf.DorivoProtoPROTO_MAGIC),
		Version:   uint8(bpf.DorivoProtoPROTO_VERSION),
		Opcode:    uint8(bpf.DorivoOpcodeOP_SET),
		TagLen:    uint8(len(tag)),
		RequestId: 7,
		KeyLen:    uint16(len(key)),
		ValueLen:  uint16(len(value)),
	}
	if mut != nil {
		mut(&h)
	}
	var b bytes.Buffer
	if err := binary.Write(&b, binary.BigEndian, h); err != nil {
		t.Fatal(err)
	}
	if b.Len() != int(bpf.DorivoProtoPROTO_HDR_LEN) {
		t.Fatalf("header is %d bytes, want %d", b.Len(), bpf.DorivoProtoPROTO_HDR_LEN)
	}
	b.WriteString(tag + key + value)
	return b.Bytes()
}

// frameLen is the Ethernet frame XDP sees for a UDP/IPv4 payload.
func frameLen(payload []byte) uint64 { return uint64(14 + 20 + 8 + len(payload)) }

func statusJSON(t *testing.T, bin, pinDir string, extra ...string) *stats.Snapshot {
	t.Helper()
	out, err := exec.Command(bin, append([]string{"status", "--json", "--pin-dir", pinDir}, extra...)...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("dorivo status: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var s stats.Snapshot
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	return &s
}

func macOf(t *testing.T, ns *testenv.Netns, iface string) string {
	t.Helper()
	var links []struct {
		Address string `json:"address"`
	}
	if err := json.Unmarshal([]byte(ns.Run(t, "ip", "-j", "link", "show", iface)), &links); err != nil || len(links) != 1 {
		t.Fatalf("ip -j link show %s: %v", iface, err)
	}
	return links[0].Address
}

// attachedTo lists what is attached to iface in ns (XDP via bpftool, TCX via
// the kernel's program query, which Debian 12's bpftool 7.1 predates).
func attachedTo(t *testing.T, ns *testenv.Netns, iface string) []string {
	t.Helper()
	var got []string
	if out := ns.Run(t, "bpftool", "net", "show", "dev", iface); strings.Contains(out, "driver id") || strings.Contains(out, "generic id") {
		got = append(got, "xdp")
	}
	var qerr error
	ns.Do(t, func() {
		ifi, err := net.InterfaceByName(iface)
		if err != nil {
			qerr = err
			return
		}
		for _, at := range []ebpf.AttachType{ebpf.AttachTCXIngress, ebpf.AttachTCXEgress} {
			r, err := link.QueryPrograms(link.QueryOptions{Target: ifi.Index, Attach: at})
			if err != nil {
				qerr = err
				return
			}
			if len(r.Programs) > 0 {
				got = append(got, at.String())
			}
		}
	})
	if qerr != nil {
		t.Fatal(qerr)
	}
	return got
}

// scrape GETs the agent's /metrics from inside ns. The dial happens on the
// Do goroutine's thread, which is in the namespace.
func scrape(t *testing.T, ns *testenv.Netns) (string, error) { return scrapeAt(t, ns, adminAddr) }

// scrapeAt is scrape of the admin server at addr.
func scrapeAt(t *testing.T, ns *testenv.Netns, addr string) (string, error) {
	var body []byte
	var serr error
	ns.Do(t, func() {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			serr = err
			return
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			serr = err
			return
		}
		body, serr = io.ReadAll(resp.Body)
	})
	return string(body), serr
}

type expect struct {
	reasons map[string]uint64            // xdp reason -> packets
	tenants map[string]stats.TenantCount // tag -> counts (slot filled in)
}

// TestAgentOnVeth is the end-to-end check: the real binary attached in
// native XDP to a veth end in a test namespace, real datagrams from the
// other namespace, and `dorivo status --json` must count exactly what was
// sent, per tenant slot and per drop reason. Then the agent is killed and
// restarted (counters survive, links are reused), and stopped cleanly
// (nothing left attached or pinned).
func TestAgentOnVeth(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "nsenter")
	testenv.RequireCommand(t, "bpftool")
	bin := buildDorivo(t)

	srv := testenv.NewNetns(t, "agt")
	cli := testenv.NewNetns(t, "cli")
	testenv.VethPair(t, srv, "dv0", srvAddr+"/24", cli, "dv1", cliAddr+"/24")
	cli.Run(t, "ip", "addr", "add", deniedSrc+"/24", "dev", "dv1")
	// Static neighbours: no ARP in flight while we count.
	cli.Run(t, "ip", "neigh", "replace", srvAddr, "lladdr", macOf(t, srv, "dv0"), "dev", "dv1", "nud", "permanent")
	srv.Run(t, "ip", "neigh", "replace", cliAddr, "lladdr", macOf(t, cli, "dv1"), "dev", "dv0", "nud", "permanent")
	srv.Run(t, "ip", "neigh", "replace", deniedSrc, "lladdr", macOf(t, cli, "dv1"), "dev", "dv0", "nud", "permanent")

	pinDir := fmt.Sprintf("/sys/fs/bpf/dorivo-test-%d-%d", os.Getpid(), pinSeq.Add(1))
	t.Cleanup(func() { _ = os.RemoveAll(pinDir) })
	agentArgs := []string{"--iface", "dv0", "--udp-port", fmt.Sprint(udpPort), "--tcp-port", fmt.Sprint(tcpPort), "--protected-mode", "no",
		"--loops", "2", "--pin-dir", pinDir, "--admin-addr", adminAddr,
		"--quota", "slow=1:2", "--allow", "10.252.0.0/24", "--tenant", "acme", "--tenant", "beta",
		"--allow-unsigned"} // the datagrams of this test are unsigned (v1)
	agent := startAgent(t, bin, srv, agentArgs...)
	names := []string{"--tenant", "acme", "--tenant", "beta", "--quota", "slow=1:2"}

	s := statusJSON(t, bin, pinDir, names...)
	var ifindex int
	srv.Do(t, func() {
		if ifi, err := net.InterfaceByName("dv0"); err == nil {
			ifindex = ifi.Index
		}
	})
	if s.XDPMode != "native" || int(s.Ifindex) != ifindex || s.UDPPort != udpPort || s.TCPPort != tcpPort || s.NumLoops != 2 || !s.ACLEnabled {
		t.Fatalf("status before traffic: mode %s ifindex %d (want native %d) ports %d/%d loops %d acl %v",
			s.XDPMode, s.Ifindex, ifindex, s.UDPPort, s.TCPPort, s.NumLoops, s.ACLEnabled)
	}
	base := s

	// The traffic: valid datagrams for three tenants (one over its quota of
	// burst 2 at 1/s), one of each malformed kind, one from outside the ACL,
	// and one TCP connection attempt (no listener: SYN in, RST out).
	want := expect{reasons: map[string]uint64{}, tenants: map[string]stats.TenantCount{}}
	type send struct {
		from    string
		payload []byte
	}
	var sends []send
	valid := func(tag string, n int, admitted int) {
		for i := range n {
			p := datagram(t, tag, "{"+tag+"}:k"+fmt.Sprint(i), "v", nil)
			sends = append(sends, send{cliAddr, p})
			tc := want.tenants[tag]
			tc.Slot, tc.Packets, tc.Bytes = slot.OfTag([]byte(tag)), tc.Packets+1, tc.Bytes+frameLen(p)
			if i >= admitted {
				tc.QuotaDrops++
				want.reasons["drop_quota"]++
			} else {
				want.reasons["pass_udp"]++
			}
			want.tenants[tag] = tc
		}
	}
	valid("acme", 7, 7)
	valid("beta", 4, 4)
	valid("slow", 5, 2)
	bad := func(reason string, p []byte) {
		sends = append(sends, send{cliAddr, p})
		want.reasons[reason]++
	}
	bad("drop_short_hdr", []byte{0xd0, 0x17, 1, 1, 0})
	bad("drop_bad_magic", datagram(t, "acme", "{acme}:k", "", func(h *bpf.DorivoWireHdr) { h.Magic = 0xbeef }))
	bad("drop_bad_version", datagram(t, "acme", "{acme}:k", "", func(h *bpf.DorivoWireHdr) { h.Version = 9 }))
	bad("drop_bad_opcode", datagram(t, "acme", "{acme}:k", "", func(h *bpf.DorivoWireHdr) { h.Opcode = 42 }))
	bad("drop_bad_opcode", datagram(t, "acme", "{acme}:k", "", func(h *bpf.DorivoWireHdr) { h.Flags = uint8(bpf.DorivoProtoPROTO_FLAG_REPLY) }))
	bad("drop_bad_tag_len", datagram(t, "", "{acme}:k", "", nil))
	bad("drop_bad_length", datagram(t, "acme", "{acme}:k", "", func(h *bpf.DorivoWireHdr) { h.KeyLen += 3 }))
	sends = append(sends, send{deniedSrc, datagram(t, "acme", "{acme}:k", "v", nil)})
	want.reasons["drop_acl"]++
	want.reasons["pass_tcp"]++

	var serr error
	cli.Do(t, func() {
		for _, sd := range sends {
			c, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.ParseIP(sd.from)}, &net.UDPAddr{IP: net.ParseIP(srvAddr), Port: udpPort})
			if err != nil {
				serr = err
				return
			}
			_, err = c.Write(sd.payload)
			c.Close()
			if err != nil {
				serr = err
				return
			}
		}
		c, err := net.DialTimeout("tcp4", fmt.Sprintf("%s:%d", srvAddr, tcpPort), 5*time.Second)
		if err == nil {
			c.Close()
			serr = errors.New("TCP connect succeeded with no listener")
		} else if !errors.Is(err, syscall.ECONNREFUSED) {
			serr = fmt.Errorf("TCP connect: %w, want connection refused", err)
		}
	})
	if serr != nil {
		t.Fatal(serr)
	}

	// Wait until every service packet is counted, then compare exactly.
	var total uint64
	for _, n := range want.reasons {
		total += n
	}
	counted := func(s *stats.Snapshot) (n uint64) {
		for r := range want.reasons {
			n += s.XDPByReason(r).Packets - base.XDPByReason(r).Packets
		}
		return n
	}
	deadline := time.Now().Add(10 * time.Second)
	for s = statusJSON(t, bin, pinDir, names...); counted(s) < total && time.Now().Before(deadline); s = statusJSON(t, bin, pinDir, names...) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	s = statusJSON(t, bin, pinDir, names...)
	checkCounts(t, "after traffic", s, base, want)
	// TCX saw what XDP passed: the valid datagrams and the SYN in, the RST out.
	for _, c := range []struct {
		dir, proto string
		n          uint64
	}{{"ingress", "udp", want.reasons["pass_udp"]}, {"ingress", "tcp", 1}, {"egress", "tcp", 1}, {"egress", "udp", 0}} {
		for _, tc := range s.TC {
			if tc.Direction == c.dir && tc.Proto == c.proto && tc.Packets != c.n {
				t.Errorf("tc %s %s = %d packets, want %d", c.dir, c.proto, tc.Packets, c.n)
			}
		}
	}

	// /metrics says the same as status.
	body, err := scrape(t, srv)
	if err != nil {
		t.Fatalf("scrape /metrics: %v\nagent log:\n%s", err, agent.logString())
	}
	for tag, tc := range want.tenants {
		line := fmt.Sprintf("dorivo_tenant_packets_total{slot=\"%d\"} %d\n", tc.Slot, tc.Packets)
		if !strings.Contains(body, line) {
			t.Errorf("metrics lack %q (tenant %s)", line, tag)
		}
	}
	if line := fmt.Sprintf("dorivo_xdp_packets_total{reason=\"drop_bad_opcode\"} %d\n", want.reasons["drop_bad_opcode"]); !strings.Contains(body, line) {
		t.Errorf("metrics lack %q", line)
	}
	if !strings.Contains(body, fmt.Sprintf("dorivo_xdp_attach_mode{ifindex=\"%d\",mode=\"native\"} 1\n", ifindex)) {
		t.Errorf("metrics lack the attach mode")
	}

	// Crash: SIGKILL leaves the pinned links attached and the counters
	// pinned; status still reads them with no agent at all.
	_ = agent.stop(t, syscall.SIGKILL)
	if got := attachedTo(t, srv, "dv0"); len(got) != 3 {
		t.Fatalf("after SIGKILL attached = %v, want the pinned xdp and both tcx links", got)
	}
	checkCounts(t, "after SIGKILL", statusJSON(t, bin, pinDir, names...), base, want)

	// Restart: the new agent updates the pinned links in place, keeps the
	// counters, and still counts.
	agent = startAgent(t, bin, srv, agentArgs...)
	if !strings.Contains(agent.logString(), "reused_links=\"[xdp tcx_ingress tcx_egress]\"") {
		t.Errorf("restarted agent did not reuse the pinned links:\n%s", agent.logString())
	}
	s = statusJSON(t, bin, pinDir, names...)
	checkCounts(t, "after restart", s, base, want)
	if s.XDPMode != "native" {
		t.Errorf("mode after restart %s", s.XDPMode)
	}

	// Clean stop: exit 0, nothing attached, nothing pinned.
	if err := agent.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("agent exit after SIGTERM: %v\n%s", err, agent.logString())
	}
	if got := attachedTo(t, srv, "dv0"); len(got) != 0 {
		t.Errorf("after SIGTERM still attached: %v", got)
	}
	if _, err := os.Stat(pinDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pin dir after SIGTERM: %v", err)
	}
	out, err := exec.Command(bin, "status", "--pin-dir", pinDir).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "is the agent running?") {
		t.Errorf("status after stop: %v %s", err, out)
	}
	if testing.Verbose() {
		t.Logf("agent log:\n%s", agent.logString())
	}
}

func checkCounts(t *testing.T, when string, s, base *stats.Snapshot, want expect) {
	t.Helper()
	for _, x := range s.XDP {
		if strings.HasPrefix(x.Reason, "pass_other") || x.Reason == "pass_short" {
			continue // ARP-free, but IPv6 ND and MLD chatter lands here
		}
		got := x.Packets - base.XDPByReason(x.Reason).Packets
		if got != want.reasons[x.Reason] {
			t.Errorf("%s: xdp %s = %d packets, want %d", when, x.Reason, got, want.reasons[x.Reason])
		}
	}
	bySlot := map[uint16]stats.TenantCount{}
	for _, tc := range s.Tenants {
		bySlot[tc.Slot] = tc
	}
	if len(bySlot) != len(want.tenants) {
		t.Errorf("%s: %d tenant slots counted, want %d: %+v", when, len(bySlot), len(want.tenants), s.Tenants)
	}
	for tag, w := range want.tenants {
		w.Tenant = tag
		if got := bySlot[w.Slot]; got != w {
			t.Errorf("%s: tenant %s = %+v, want %+v", when, tag, got, w)
		}
	}
}

// TestAgentRefusesNonRoot runs the binary as nobody: it must stop at once
// with a message saying root is needed, before touching the kernel.
func TestAgentRefusesNonRoot(t *testing.T) {
	testenv.RequireRoot(t)
	bin := buildDorivo(t)
	cmd := exec.Command(bin, "agent", "--pin-dir", "/sys/fs/bpf/dorivo-never")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("non-root agent: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "dorivo agent: dorivo needs root") || strings.Count(strings.TrimSpace(string(out)), "\n") != 0 {
		t.Errorf("non-root agent said:\n%s", out)
	}
	if _, err := os.Stat("/sys/fs/bpf/dorivo-never"); err == nil {
		t.Error("non-root agent created its pin dir")
	}
}
