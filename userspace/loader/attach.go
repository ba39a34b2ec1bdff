package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/dorivo/dorivo/bpf"
	"github.com/dorivo/dorivo/userspace/kenum"
)

// XDPMode is how the XDP program runs on the interface (enum xdp_mode).
type XDPMode = bpf.DorivoXdpMode

const (
	ModeNone    = bpf.DorivoXdpModeXDP_MODE_NONE
	ModeNative  = bpf.DorivoXdpModeXDP_MODE_NATIVE
	ModeGeneric = bpf.DorivoXdpModeXDP_MODE_GENERIC
)

// Attachment describes the programs attached to one interface.
type Attachment struct {
	Iface   string
	Ifindex int
	// XDPMode is native when the driver runs XDP itself, generic when the
	// kernel fell back to running it on the skb.
	XDPMode XDPMode
	// Reused lists the hooks ("xdp", "tcx_ingress", "tcx_egress") whose
	// pinned link from an earlier agent was updated in place.
	Reused []string
}

// pinnedLink is one attached, pinned link.
type pinnedLink struct {
	hook string
	path string
	l    link.Link
}

func (p *pinnedLink) detach() error {
	// Detach, not just Close: another handle to the same kernel link (an
	// earlier agent in this process, bpftool) would otherwise keep it
	// attached.
	var errs []error
	if err := p.l.Detach(); err != nil && !errors.Is(err, unix.ENOLINK) {
		errs = append(errs, fmt.Errorf("detach %s: %w", p.hook, err))
	}
	if err := p.l.Unpin(); err != nil {
		errs = append(errs, fmt.Errorf("unpin %s: %w", p.path, err))
	}
	if err := p.l.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close %s link: %w", p.hook, err))
	}
	return errors.Join(errs...)
}

// Attach attaches xdp_ingress (native mode, generic as a fallback) and the
// TCX ingress and egress programs to iface, and pins the links. A pinned
// link left by an earlier agent for the same interface is updated in place.
//
// Interface names and indexes belong to a network namespace, and so do
// attachments: call Attach on a thread inside the namespace of iface (the
// agent runs inside it; tests use testenv.Netns.Do).
//
// The mode and ifindex are also written into config[0], so that `dorivo
// status` can show them from the pinned maps alone.
func (l *Loader) Attach(iface string) (*Attachment, error) {
	ifindex, err := ifaceIndex(iface)
	if err != nil {
		return nil, fmt.Errorf("attach: %w", err)
	}
	a := &Attachment{Iface: iface, Ifindex: ifindex}
	progs := &l.Objects.DorivoPrograms

	_, reused, err := l.attachOne("xdp", iface, ifindex, progs.XdpIngress, func() (link.Link, error) {
		return l.attachXDP(progs.XdpIngress, ifindex, iface)
	})
	if err != nil {
		return nil, err
	}
	if reused {
		a.Reused = append(a.Reused, "xdp")
	}
	for _, t := range []struct {
		hook   string
		prog   *ebpf.Program
		attach ebpf.AttachType
	}{
		{"tcx_ingress", progs.TcIngress, ebpf.AttachTCXIngress},
		{"tcx_egress", progs.TcEgress, ebpf.AttachTCXEgress},
	} {
		_, reused, err := l.attachOne(t.hook, iface, ifindex, t.prog, func() (link.Link, error) {
			return link.AttachTCX(link.TCXOptions{Interface: ifindex, Program: t.prog, Attach: t.attach, Anchor: link.Tail()})
		})
		if err != nil {
			return nil, err
		}
		if reused {
			a.Reused = append(a.Reused, t.hook)
		}
	}

	a.XDPMode, err = xdpModeOf(ifindex)
	if err != nil {
		return nil, err
	}
	if err := l.writeAttachInfo(a); err != nil {
		return nil, err
	}
	return a, nil
}

// attachOne updates the pinned link of hook on iface when one exists and is
// still attached to ifindex, else attaches fresh and pins the new link.
func (l *Loader) attachOne(hook, iface string, ifindex int, prog *ebpf.Program, attach func() (link.Link, error)) (*pinnedLink, bool, error) {
	path := filepath.Join(l.pinDir, "links", hook+"_"+iface)
	if pl, err := l.reuse(hook, path, ifindex, prog); err != nil {
		return nil, false, err
	} else if pl != nil {
		l.links = append(l.links, pl)
		return pl, true, nil
	}
	lk, err := attach()
	if err != nil {
		return nil, false, fmt.Errorf("attach %s to %s: %w", hook, iface, err)
	}
	if err := lk.Pin(path); err != nil {
		_ = lk.Close()
		return nil, false, fmt.Errorf("pin %s link: %w", hook, err)
	}
	pl := &pinnedLink{hook: hook, path: path, l: lk}
	l.links = append(l.links, pl)
	return pl, false, nil
}

// reuse returns the pinned link at path with prog swapped in, or nil when
// there is no usable pinned link. A stale pin (its interface is gone, or
// it belongs to another interface of that name) is removed.
func (l *Loader) reuse(hook, path string, ifindex int, prog *ebpf.Program) (*pinnedLink, error) {
	lk, err := link.LoadPinnedLink(path, nil)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open pinned link %s: %w", path, err)
	}
	stale := func(why string) (*pinnedLink, error) {
		l.logf("pinned %s link %s is stale (%s): attaching afresh", hook, path, why)
		_ = lk.Detach()
		_ = lk.Unpin()
		_ = lk.Close()
		return nil, nil
	}
	info, err := lk.Info()
	if err != nil {
		return stale(err.Error())
	}
	if got := linkIfindex(info); got != ifindex {
		return stale(fmt.Sprintf("attached to ifindex %d, want %d", got, ifindex))
	}
	// Interface indexes repeat across network namespaces (lo is 1 in
	// every one): make sure the link really is this namespace's.
	if here, err := attachedHere(hook, ifindex, info); err != nil {
		_ = lk.Close()
		return nil, err
	} else if !here {
		_ = lk.Close()
		return nil, fmt.Errorf("pinned %s link %s is attached to ifindex %d of another network namespace: give each namespace its own --pin-dir", hook, path, ifindex)
	}
	if err := lk.Update(prog); err != nil {
		if errors.Is(err, unix.ENOLINK) {
			return stale("link is defunct")
		}
		_ = lk.Close()
		return nil, fmt.Errorf("update pinned %s link %s: %w", hook, path, err)
	}
	l.logf("reused pinned %s link %s: program replaced atomically", hook, path)
	return &pinnedLink{hook: hook, path: path, l: lk}, nil
}

// attachedHere reports whether the link described by info is the one
// attached to ifindex in the calling thread's network namespace.
func attachedHere(hook string, ifindex int, info *link.Info) (bool, error) {
	if hook == "xdp" {
		nl, err := netlink.LinkByIndex(ifindex)
		if err != nil {
			return false, fmt.Errorf("query XDP program of ifindex %d: %w", ifindex, err)
		}
		x := nl.Attrs().Xdp
		return x != nil && x.Attached && ebpf.ProgramID(x.ProgId) == info.Program, nil
	}
	at := ebpf.AttachTCXIngress
	if hook == "tcx_egress" {
		at = ebpf.AttachTCXEgress
	}
	r, err := link.QueryPrograms(link.QueryOptions{Target: ifindex, Attach: at})
	if err != nil {
		return false, fmt.Errorf("query %s programs of ifindex %d: %w", hook, ifindex, err)
	}
	for _, p := range r.Programs {
		if id, ok := p.LinkID(); ok && id == info.ID {
			return true, nil
		}
	}
	return false, nil
}

func linkIfindex(info *link.Info) int {
	if x := info.XDP(); x != nil {
		return int(x.Ifindex)
	}
	if t := info.TCX(); t != nil {
		return int(t.Ifindex)
	}
	return 0
}

// attachXDP tries native (driver) mode, then generic mode.
func (l *Loader) attachXDP(prog *ebpf.Program, ifindex int, iface string) (link.Link, error) {
	lk, nerr := link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifindex, Flags: link.XDPDriverMode})
	if nerr == nil {
		return lk, nil
	}
	lk, gerr := link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifindex, Flags: link.XDPGenericMode})
	if gerr != nil {
		return nil, fmt.Errorf("native: %v; generic: %w", nerr, gerr)
	}
	l.logf("%s: native XDP unavailable (%v), running in generic mode", iface, nerr)
	return lk, nil
}

// xdpModeOf asks the kernel how XDP is attached to ifindex, which is the
// truth for fresh and reused links alike.
func xdpModeOf(ifindex int) (XDPMode, error) {
	nl, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return ModeNone, fmt.Errorf("query XDP mode of ifindex %d: %w", ifindex, err)
	}
	x := nl.Attrs().Xdp
	if x == nil || !x.Attached {
		return ModeNone, nil
	}
	switch x.AttachMode {
	case 1: // XDP_ATTACHED_DRV
		return ModeNative, nil
	case 2: // XDP_ATTACHED_SKB
		return ModeGeneric, nil
	}
	return ModeNone, fmt.Errorf("ifindex %d: unexpected XDP attach mode %d", ifindex, x.AttachMode)
}

// writeAttachInfo records mode and ifindex in config[0], keeping the fields
// the configuration sync owns.
func (l *Loader) writeAttachInfo(a *Attachment) error {
	var c bpf.DorivoAgentConfig
	if err := l.Objects.Config.Lookup(uint32(0), &c); err != nil {
		return fmt.Errorf("read config map: %w", err)
	}
	c.XdpMode = uint32(a.XDPMode)
	c.Ifindex = uint32(a.Ifindex)
	if err := l.Objects.Config.Put(uint32(0), &c); err != nil {
		return fmt.Errorf("write attach mode to config map: %w", err)
	}
	return nil
}

// ModeName is the name of m from enum xdp_mode ("native", "generic", "none").
func ModeName(m XDPMode) string { return kenum.XDPMode().Name(uint64(m)) }
