package loader

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/dorivo/dorivo/bpf"
)

// DefaultPinDir is where the agent pins its maps and links.
const DefaultPinDir = "/sys/fs/bpf/dorivo"

// bpffsRoot is the conventional bpffs mount point, mounted when absent.
const bpffsRoot = "/sys/fs/bpf"

// Options configure Load.
type Options struct {
	// PinDir holds the pinned maps and, in links/, the pinned links.
	// Empty means DefaultPinDir. It must be on a bpf filesystem.
	PinDir string
	// Logf reports decisions worth an operator's attention (a replaced
	// incompatible map, a reused link, the XDP fallback). Nil discards.
	Logf func(format string, args ...any)
}

// Loader owns a loaded collection and the links attaching it.
type Loader struct {
	// Objects are the loaded maps and programs. The datapath registers its
	// sockets in Objects.UdpSockets/TcpSockets and attaches
	// Objects.ReuseportSelect with SO_ATTACH_REUSEPORT_EBPF; the agent
	// keeps the maps in sync. They stay owned by the Loader: Close them
	// through Loader.Close only.
	Objects bpf.DorivoObjects

	pinDir string
	lock   *os.File // flock on the pin dir: one agent per pin dir
	logf   func(string, ...any)
	links  []*pinnedLink
	closed bool
}

// Load checks that this process can use BPF, mounts bpffs if needed, and
// loads the collection with its maps pinned under opts.PinDir, reusing
// compatible maps pinned by an earlier agent.
func Load(opts Options) (*Loader, error) {
	if err := CheckPrivileges(); err != nil {
		return nil, err
	}
	l := &Loader{pinDir: opts.PinDir, logf: opts.Logf}
	if l.pinDir == "" {
		l.pinDir = DefaultPinDir
	}
	if l.logf == nil {
		l.logf = func(string, ...any) {}
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("remove memlock rlimit: %w", err)
	}
	if err := ensurePinDir(l.pinDir); err != nil {
		return nil, err
	}
	if err := l.lockPinDir(); err != nil {
		return nil, err
	}
	spec, err := bpf.LoadDorivo()
	if err != nil {
		return nil, fmt.Errorf("parse embedded BPF collection: %w", err)
	}
	for name, ms := range spec.Maps {
		if strings.HasPrefix(name, ".") {
			// .bss/.rodata hold the enum anchors for BTF; nothing to keep.
			continue
		}
		ms.Pinning = ebpf.PinByName
		if err := l.dropIncompatiblePin(name, ms); err != nil {
			return nil, err
		}
	}
	opts2 := &ebpf.CollectionOptions{Maps: ebpf.MapOptions{PinPath: l.pinDir}}
	if err := spec.LoadAndAssign(&l.Objects, opts2); err != nil {
		l.lock.Close()
		return nil, explainLoadError(err)
	}
	return l, nil
}

// lockPinDir takes an exclusive flock on the pin directory. A second agent
// on the same pins would update the first one's links and, on its own
// stop, detach them from under it. The kernel drops the lock when the
// holder dies, so a crashed agent never blocks its successor.
func (l *Loader) lockPinDir() error {
	f, err := os.Open(l.pinDir)
	if err != nil {
		return fmt.Errorf("open pin dir: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return fmt.Errorf("pin dir %s is in use by another dorivo agent (use --pin-dir for a second one)", l.pinDir)
		}
		return fmt.Errorf("lock pin dir %s: %w", l.pinDir, err)
	}
	l.lock = f
	return nil
}

// PinDir returns the directory holding the pins.
func (l *Loader) PinDir() string { return l.pinDir }

// CheckPrivileges fails with a message naming what is missing when this
// process is not root or the kernel cannot load the program types Dorivo
// needs. It is cheap and is the first thing `dorivo agent` does.
func CheckPrivileges() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("dorivo needs root to load BPF programs and attach them (CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN); running as uid %d", os.Geteuid())
	}
	for _, pt := range []ebpf.ProgramType{ebpf.XDP, ebpf.SchedCLS, ebpf.SkReuseport} {
		if err := features.HaveProgramType(pt); err != nil {
			if errors.Is(err, ebpf.ErrNotSupported) {
				return fmt.Errorf("kernel lacks BPF program type %s (Dorivo needs Linux >= 6.6 with BPF, XDP and TCX): %w", pt, err)
			}
			return fmt.Errorf("probe BPF program type %s: %w", pt, err)
		}
	}
	return nil
}

// explainLoadError turns a load failure into a message an operator can act
// on: the full verifier log (with the program name, which the collection
// loader puts in front) or the missing permission.
func explainLoadError(err error) error {
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		return fmt.Errorf("load BPF collection: %w\nfull verifier log:\n%+v", err, ve)
	}
	if errors.Is(err, unix.EPERM) {
		return fmt.Errorf("load BPF collection: %w (not permitted: run as root, and check kernel.unprivileged_bpf_disabled / lockdown)", err)
	}
	return fmt.Errorf("load BPF collection: %w", err)
}

// ensurePinDir mounts bpffs on /sys/fs/bpf when nothing is mounted there,
// then creates dir and checks it is on a bpf filesystem.
func ensurePinDir(dir string) error {
	if strings.HasPrefix(filepath.Clean(dir)+"/", bpffsRoot+"/") && !isBPFFS(bpffsRoot) {
		if err := os.MkdirAll(bpffsRoot, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", bpffsRoot, err)
		}
		if err := unix.Mount("bpf", bpffsRoot, "bpf", 0, "mode=0700"); err != nil {
			return fmt.Errorf("mount bpffs on %s: %w", bpffsRoot, err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "links"), 0o700); err != nil {
		return fmt.Errorf("create pin dir: %w", err)
	}
	if !isBPFFS(dir) {
		return fmt.Errorf("pin dir %s is not on a bpf filesystem (mount -t bpf bpf DIR)", dir)
	}
	return nil
}

func isBPFFS(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && uint32(st.Type) == unix.BPF_FS_MAGIC
}

// dropIncompatiblePin removes the pin of a map whose layout no longer
// matches the spec (a new agent version), so that loading creates and pins
// a fresh one instead of failing. Its contents are lost, which is logged.
func (l *Loader) dropIncompatiblePin(name string, ms *ebpf.MapSpec) error {
	path := filepath.Join(l.pinDir, name)
	m, err := ebpf.LoadPinnedMap(path, nil)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open pinned map %s: %w", path, err)
	}
	defer m.Close()
	if cerr := ms.Compatible(m); cerr != nil {
		l.logf("pinned map %s is incompatible (%v): replacing it, its contents are lost", path, cerr)
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("remove incompatible pinned map: %w", err)
		}
	}
	return nil
}

// Close detaches every link, unpins links and maps, removes the pin
// directory and closes the objects. It is the clean shutdown; see the
// package doc for why a crash leaves everything attached instead. Like
// Attach, call it in the interface's network namespace: it tells leftover
// links of this namespace (detached) from another's (left alone).
func (l *Loader) Close() error {
	if l.closed {
		return nil
	}
	l.closed = true
	var errs []error
	for _, pl := range l.links {
		errs = append(errs, pl.detach())
	}
	l.links = nil
	errs = append(errs, l.detachLeftoverLinks())
	for _, m := range l.maps() {
		if m == nil {
			continue
		}
		if err := m.Unpin(); err != nil {
			errs = append(errs, fmt.Errorf("unpin map %s: %w", m, err))
		}
	}
	errs = append(errs, l.Objects.Close())
	if err := os.Remove(filepath.Join(l.pinDir, "links")); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("remove pin dir: %w", err))
	}
	if err := os.Remove(l.pinDir); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("remove pin dir: %w", err))
	}
	errs = append(errs, l.lock.Close())
	return errors.Join(errs...)
}

// detachLeftoverLinks detaches and unpins links still pinned in links/
// that this Loader did not attach: an earlier agent's, for an interface
// this one was not asked to use. The pin dir belongs to Dorivo, so a clean
// stop leaves none of them behind in this network namespace. A link that
// is live in another namespace (a misconfigured shared --pin-dir) is left
// alone: detaching it would cut that namespace's datapath.
func (l *Loader) detachLeftoverLinks() error {
	dir := filepath.Join(l.pinDir, "links")
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list pinned links: %w", err)
	}
	var errs []error
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		lk, err := link.LoadPinnedLink(path, nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("open leftover pinned link %s: %w", path, err))
			continue
		}
		if info, err := lk.Info(); err == nil {
			if ifindex := linkIfindex(info); ifindex != 0 {
				if here, err := attachedHere(hookOf(e.Name()), ifindex, info); err == nil && !here {
					l.logf("leaving pinned link %s attached: it belongs to another network namespace", path)
					_ = lk.Close()
					errs = append(errs, fmt.Errorf("pinned link %s belongs to another network namespace, left in place", path))
					continue
				}
			}
		}
		l.logf("detaching leftover pinned link %s", path)
		errs = append(errs, (&pinnedLink{hook: e.Name(), path: path, l: lk}).detach())
	}
	return errors.Join(errs...)
}

// hookOf returns the hook of a link pin name (xdp_<if>, tcx_ingress_<if>,
// tcx_egress_<if>).
func hookOf(pin string) string {
	for _, h := range []string{"tcx_ingress", "tcx_egress", "xdp"} {
		if strings.HasPrefix(pin, h+"_") {
			return h
		}
	}
	return ""
}

func (l *Loader) maps() []*ebpf.Map {
	m := &l.Objects.DorivoMaps
	return []*ebpf.Map{m.Acl, m.AuthSlots, m.Config, m.MacScratch, m.QuotaBuckets, m.QuotaRules, m.ReuseportStats,
		m.ReplyBuckets, m.SlotLoop, m.SlotShed, m.TcStats, m.TcpSockets, m.TenantAuth, m.TenantStats, m.UdpSockets, m.XdpStats}
}

// ifaceIndex resolves name in the calling thread's network namespace.
func ifaceIndex(name string) (int, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return 0, fmt.Errorf("interface %q: %w", name, err)
	}
	return ifi.Index, nil
}
