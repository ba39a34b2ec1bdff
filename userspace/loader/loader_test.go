package loader

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"

	"github.com/dorivo/dorivo/bpf"
	"github.com/dorivo/dorivo/internal/testenv"
)

var pinSeq atomic.Uint32

// testPinDir returns a fresh pin dir under /sys/fs/bpf that is removed when
// the test ends, pass or fail.
func testPinDir(t *testing.T) string {
	t.Helper()
	dir := fmt.Sprintf("/sys/fs/bpf/dorivo-test-%d-%d", os.Getpid(), pinSeq.Add(1))
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// vethNetns makes two namespaces joined by a veth pair and returns the
// namespace of end "dl0" and its peer "dl1".
func vethNetns(t *testing.T) (*testenv.Netns, *testenv.Netns) {
	t.Helper()
	a := testenv.NewNetns(t, "lda")
	b := testenv.NewNetns(t, "ldb")
	testenv.VethPair(t, a, "dl0", "10.251.0.1/24", b, "dl1", "10.251.0.2/24")
	return a, b
}

func load(t *testing.T, pinDir string) *Loader {
	t.Helper()
	l, err := Load(Options{PinDir: pinDir, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func attachIn(t *testing.T, ns *testenv.Netns, l *Loader, iface string) *Attachment {
	t.Helper()
	var a *Attachment
	var err error
	ns.Do(t, func() { a, err = l.Attach(iface) })
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// attached returns the ids of the programs attached to iface in ns, by
// hook: XDP as bpftool reports it (with its mode), TCX from the kernel's
// BPF_PROG_QUERY (bpftool 7.1 of Debian 12 predates TCX).
func attached(t *testing.T, ns *testenv.Netns, iface string) map[string]string {
	t.Helper()
	got := map[string]string{}
	var shown []struct {
		XDP []struct {
			Mode string `json:"mode"`
			ID   int    `json:"id"`
		} `json:"xdp"`
	}
	if err := json.Unmarshal([]byte(ns.Run(t, "bpftool", "-j", "net", "show", "dev", iface)), &shown); err != nil {
		t.Fatal(err)
	}
	for _, n := range shown {
		for _, x := range n.XDP {
			got["xdp"] = fmt.Sprintf("%s:%d", x.Mode, x.ID)
		}
	}
	var qerr error
	ns.Do(t, func() {
		ifi, err := net.InterfaceByName(iface)
		if err != nil {
			qerr = err
			return
		}
		for hook, at := range map[string]ebpf.AttachType{"tcx_ingress": ebpf.AttachTCXIngress, "tcx_egress": ebpf.AttachTCXEgress} {
			r, err := link.QueryPrograms(link.QueryOptions{Target: ifi.Index, Attach: at})
			if err != nil {
				qerr = err
				return
			}
			for _, p := range r.Programs {
				got[hook] = fmt.Sprint(p.ID)
			}
		}
	})
	if qerr != nil {
		t.Fatal(qerr)
	}
	return got
}

func progID(t *testing.T, p *ebpf.Program) string {
	t.Helper()
	info, err := p.Info()
	if err != nil {
		t.Fatal(err)
	}
	id, _ := info.ID()
	return fmt.Sprint(id)
}

// ours is what attached() must report for l's programs.
func ours(t *testing.T, l *Loader) map[string]string {
	return map[string]string{
		"xdp":         "driver:" + progID(t, l.Objects.XdpIngress),
		"tcx_ingress": progID(t, l.Objects.TcIngress),
		"tcx_egress":  progID(t, l.Objects.TcEgress),
	}
}

func TestLoadPinAttachDetachOnVeth(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "bpftool")
	ns, _ := vethNetns(t)
	pinDir := testPinDir(t)

	l := load(t, pinDir)
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = l.Close()
		}
	})
	a := attachIn(t, ns, l, "dl0")
	if a.XDPMode != ModeNative {
		t.Errorf("XDP mode on veth = %s, want native", ModeName(a.XDPMode))
	}
	if len(a.Reused) != 0 {
		t.Errorf("fresh pin dir reused links %v", a.Reused)
	}

	// Everything is pinned where the docs say.
	for _, name := range []string{"tenant_stats", "xdp_stats", "config", "acl", "udp_sockets",
		"links/xdp_dl0", "links/tcx_ingress_dl0", "links/tcx_egress_dl0"} {
		if _, err := os.Stat(filepath.Join(pinDir, name)); err != nil {
			t.Errorf("pin %s: %v", name, err)
		}
	}
	// The kernel agrees: bpftool sees the programs on the device, and the
	// pinned link is an XDP link.
	if got, want := attached(t, ns, "dl0"), ours(t, l); !maps.Equal(got, want) {
		t.Errorf("attached to dl0: %v, want %v", got, want)
	}
	if out := testenv.Run(t, "bpftool", "link", "show", "pinned", filepath.Join(pinDir, "links/xdp_dl0")); !strings.Contains(out, "xdp") {
		t.Errorf("bpftool link show pinned xdp_dl0:\n%s", out)
	}
	// config[0] tells status how we attached.
	var c bpf.DorivoAgentConfig
	if err := l.Objects.Config.Lookup(uint32(0), &c); err != nil {
		t.Fatal(err)
	}
	if c.XdpMode != uint32(ModeNative) || int(c.Ifindex) != a.Ifindex {
		t.Errorf("config xdp_mode=%d ifindex=%d, want %d %d", c.XdpMode, c.Ifindex, ModeNative, a.Ifindex)
	}

	closed = true
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := os.Stat(pinDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pin dir still there after Close: %v", err)
	}
	if got := attached(t, ns, "dl0"); len(got) != 0 {
		t.Errorf("still attached after Close: %v", got)
	}
}

func TestRestartAfterCrashUpdatesPinnedLinks(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "bpftool")
	ns, _ := vethNetns(t)
	pinDir := testPinDir(t)

	// The first agent attaches and "crashes": its handles are dropped
	// without Close, so the pins keep the links attached.
	old := load(t, pinDir)
	t.Cleanup(func() { _ = old.Objects.Close() })
	attachIn(t, ns, old, "dl0")
	oldLinks := map[string]ebpf.ProgramID{}
	linkIDs := map[string]uint32{}
	for _, pl := range old.links {
		info, err := pl.l.Info()
		if err != nil {
			t.Fatal(err)
		}
		oldLinks[pl.hook] = info.Program
		linkIDs[pl.hook] = uint32(info.ID)
		_ = pl.l.Close()
	}
	old.links = nil
	old.lock.Close() // the kernel drops a dead process's flock
	if err := old.Objects.Config.Put(uint32(0), bpf.DorivoAgentConfig{UdpPort: 4242}); err != nil {
		t.Fatal(err)
	}

	l := load(t, pinDir)
	t.Cleanup(func() { _ = l.Close() })
	a := attachIn(t, ns, l, "dl0")
	if got, want := attached(t, ns, "dl0"), ours(t, l); !maps.Equal(got, want) {
		t.Errorf("attached to dl0 after restart: %v, want %v", got, want)
	}
	if strings.Join(a.Reused, ",") != "xdp,tcx_ingress,tcx_egress" {
		t.Fatalf("restart reused %v, want all three links", a.Reused)
	}
	if a.XDPMode != ModeNative {
		t.Errorf("XDP mode after reuse = %s", ModeName(a.XDPMode))
	}
	newProgs := map[string]*ebpf.Program{"xdp": l.Objects.XdpIngress, "tcx_ingress": l.Objects.TcIngress, "tcx_egress": l.Objects.TcEgress}
	for _, pl := range l.links {
		info, err := pl.l.Info()
		if err != nil {
			t.Fatal(err)
		}
		if uint32(info.ID) != linkIDs[pl.hook] {
			t.Errorf("%s: link id %d, want the pinned link %d", pl.hook, info.ID, linkIDs[pl.hook])
		}
		pi, err := newProgs[pl.hook].Info()
		if err != nil {
			t.Fatal(err)
		}
		id, _ := pi.ID()
		if info.Program != id || id == oldLinks[pl.hook] {
			t.Errorf("%s: link runs program %d, want the new program %d (old %d)", pl.hook, info.Program, id, oldLinks[pl.hook])
		}
	}
	// The maps are the pinned ones: what the old agent wrote is still there
	// (Attach rewrote only mode and ifindex).
	var c bpf.DorivoAgentConfig
	if err := l.Objects.Config.Lookup(uint32(0), &c); err != nil {
		t.Fatal(err)
	}
	if c.UdpPort != 4242 {
		t.Errorf("config after restart has udp_port %d, want the pinned 4242", c.UdpPort)
	}

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := attached(t, ns, "dl0"); len(got) != 0 {
		t.Errorf("still attached after Close, though the crashed agent's handles are open: %v", got)
	}
}

func TestIncompatiblePinnedMapIsReplaced(t *testing.T) {
	testenv.RequireRoot(t)
	pinDir := testPinDir(t)
	if err := os.MkdirAll(pinDir, 0o700); err != nil {
		t.Fatal(err)
	}
	// A tenant_stats from an "older agent" with another value size.
	stale, err := ebpf.NewMap(&ebpf.MapSpec{Name: "tenant_stats", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer stale.Close()
	if err := stale.Pin(filepath.Join(pinDir, "tenant_stats")); err != nil {
		t.Fatal(err)
	}
	l := load(t, pinDir)
	defer l.Close()
	if got := l.Objects.TenantStats.ValueSize(); got != 24 {
		t.Errorf("tenant_stats value size %d, want the new layout's 24", got)
	}
}

func TestPinDirMustBeOnBPFFS(t *testing.T) {
	testenv.RequireRoot(t)
	_, err := Load(Options{PinDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "not on a bpf filesystem") {
		t.Fatalf("Load on tmpfs pin dir: %v", err)
	}
}

// TestStalePinsAreReplacedAndLeftoversDetached covers the pins a crashed
// agent can leave that a new one must not trust: a link whose interface
// was deleted and recreated under the same name (the link is defunct),
// and a link on an interface the new agent was not asked to use.
func TestStalePinsAreReplacedAndLeftoversDetached(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "bpftool")
	ns, peer := vethNetns(t)
	testenv.VethPair(t, ns, "dx0", "10.251.1.1/24", peer, "dx1", "10.251.1.2/24")
	pinDir := testPinDir(t)

	old := load(t, pinDir)
	t.Cleanup(func() { _ = old.Objects.Close() })
	attachIn(t, ns, old, "dl0")
	attachIn(t, ns, old, "dx0")
	for _, pl := range old.links {
		_ = pl.l.Close()
	}
	old.links = nil // crash
	old.lock.Close()

	// dl0 disappears and comes back: same name, new ifindex, links gone.
	ns.Run(t, "ip", "link", "del", "dl0")
	testenv.VethPair(t, ns, "dl0", "10.251.0.1/24", peer, "dl2", "10.251.0.3/24")

	l := load(t, pinDir)
	t.Cleanup(func() { _ = l.Close() })
	a := attachIn(t, ns, l, "dl0")
	if len(a.Reused) != 0 {
		t.Errorf("reused %v from links whose interface was deleted", a.Reused)
	}
	if got, want := attached(t, ns, "dl0"), ours(t, l); !maps.Equal(got, want) {
		t.Errorf("attached to new dl0: %v, want %v", got, want)
	}
	if got := attached(t, ns, "dx0"); len(got) != 3 {
		t.Fatalf("the crashed agent's dx0 links should still run until a clean stop: %v", got)
	}
	var err error
	ns.Do(t, func() { err = l.Close() })
	if err != nil {
		t.Fatal(err)
	}
	for _, dev := range []string{"dl0", "dx0"} {
		if got := attached(t, ns, dev); len(got) != 0 {
			t.Errorf("%s still attached after Close: %v", dev, got)
		}
	}
	if _, err := os.Stat(pinDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pin dir left: %v", err)
	}
}

// TestGenericFallbackOnLoopback: lo has no driver XDP, so the loader falls
// back to generic mode and says so.
func TestGenericFallbackOnLoopback(t *testing.T) {
	testenv.RequireRoot(t)
	ns := testenv.NewNetns(t, "ldlo")
	l := load(t, testPinDir(t))
	defer l.Close()
	a := attachIn(t, ns, l, "lo")
	if a.XDPMode != ModeGeneric {
		t.Errorf("XDP mode on lo = %s, want generic", ModeName(a.XDPMode))
	}
	var c bpf.DorivoAgentConfig
	if err := l.Objects.Config.Lookup(uint32(0), &c); err != nil || c.XdpMode != uint32(ModeGeneric) {
		t.Errorf("config xdp_mode = %d (%v)", c.XdpMode, err)
	}
}

func TestAttachUnknownInterface(t *testing.T) {
	testenv.RequireRoot(t)
	ns := testenv.NewNetns(t, "ldno")
	l := load(t, testPinDir(t))
	defer l.Close()
	var err error
	ns.Do(t, func() { _, err = l.Attach("nosuch0") })
	if err == nil || !strings.Contains(err.Error(), `interface "nosuch0"`) {
		t.Errorf("Attach(nosuch0) = %v", err)
	}
}

func TestOneAgentPerPinDir(t *testing.T) {
	testenv.RequireRoot(t)
	dir := testPinDir(t)
	first := load(t, dir)
	_, err := Load(Options{PinDir: dir})
	if err == nil || !strings.Contains(err.Error(), "in use by another dorivo agent") {
		t.Fatalf("second Load on %s: %v", dir, err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	// The lock goes with the first agent.
	second := load(t, dir)
	if err := second.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestVerifierErrorIsPrintedInFull feeds a program the verifier rejects
// through the same formatting the loader uses.
func TestVerifierErrorIsPrintedInFull(t *testing.T) {
	testenv.RequireRoot(t)
	_, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "bad_prog", Type: ebpf.XDP, License: "GPL",
		// Returns R0 without ever setting it.
		Instructions: asm.Instructions{asm.Return()},
	})
	if err == nil {
		t.Fatal("the verifier accepted a program that returns an unset R0")
	}
	msg := explainLoadError(fmt.Errorf("program bad_prog: %w", err)).Error()
	for _, want := range []string{"program bad_prog", "full verifier log:", "R0 !read_ok", "0: (95) exit"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
}

// TestPinnedLinkOfAnotherNamespaceIsRefused: lo is ifindex 1 everywhere,
// so a pin left by an agent in another namespace looks like ours by name
// and index. Updating it would swap the other namespace's program; the
// loader must refuse instead.
func TestPinnedLinkOfAnotherNamespaceIsRefused(t *testing.T) {
	testenv.RequireRoot(t)
	ns1 := testenv.NewNetns(t, "ldn1")
	ns2 := testenv.NewNetns(t, "ldn2")
	pinDir := testPinDir(t)
	old := load(t, pinDir)
	t.Cleanup(func() { _ = old.Objects.Close() })
	attachIn(t, ns1, old, "lo")
	for _, pl := range old.links {
		_ = pl.l.Close()
	}
	old.links = nil
	old.lock.Close() // crash

	l := load(t, pinDir)
	var err error
	ns2.Do(t, func() { _, err = l.Attach("lo") })
	if err == nil || !strings.Contains(err.Error(), "another network namespace") {
		t.Errorf("Attach(lo) in a second namespace over the first one's pins: %v", err)
	}
	if got := attached(t, ns1, "lo"); got["xdp"] == "" {
		t.Errorf("the first namespace lost its program: %v", got)
	}
	// Stopping the second agent must not cut the first namespace either;
	// it reports the pins it had to leave.
	ns2.Do(t, func() { err = l.Close() })
	if err == nil || !strings.Contains(err.Error(), "belongs to another network namespace") {
		t.Errorf("Close with another namespace's links pinned: %v", err)
	}
	if got := attached(t, ns1, "lo"); len(got) != 3 {
		t.Errorf("the first namespace lost programs on the second agent's stop: %v", got)
	}
}

// Close unpins the maps maps() lists: every map of the collection must be
// there, or a new map would stay pinned after a clean stop.
func TestMapsListsEveryMap(t *testing.T) {
	spec, err := bpf.LoadDorivo()
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for name := range spec.Maps {
		if !strings.HasPrefix(name, ".") {
			want++
		}
	}
	var l Loader
	if got := len(l.maps()); got != want {
		t.Fatalf("maps() lists %d maps, the collection has %d", got, want)
	}
}
