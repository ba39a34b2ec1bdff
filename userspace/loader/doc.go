// Package loader loads Dorivo's BPF collection, pins its maps, and attaches
// its XDP and TCX programs to an interface through bpf_link.
//
// Maps are pinned by name under a pin directory (default
// /sys/fs/bpf/dorivo), and a restarted agent reuses every pinned map whose
// layout still matches, so counters, quotas and the sockarrays survive a
// restart; a map whose layout changed is replaced and the replacement is
// logged.
//
// Links are pinned under <pindir>/links/ (xdp_<if>, tcx_ingress_<if>,
// tcx_egress_<if>). A pinned link stays attached when its agent dies, so
// traffic keeps flowing through the last programs; the next agent finds
// the pin and swaps its own programs in atomically with Link.Update, with
// no window where the interface has no program. This is Cilium's pattern
// (research/ebpf.md §3.2).
//
// A normal stop (Close) is different from a crash: it detaches the links,
// unpins links and maps and removes the pin directory, so a stopped agent
// leaves nothing behind in the kernel. An operator who wants the programs
// to outlive the agent (an upgrade handover) kills it without Close, e.g.
// with SIGKILL, and starts the new one.
//
// One agent owns a pin dir at a time (an flock on it, which the kernel
// releases when the holder dies).
package loader
