package collect

import (
	"fmt"
	"strconv"

	"golang.org/x/sys/unix"
)

func (n *Node) readNetDev(b *batch) error {
	// The agent's own network namespace: the interfaces it serves on.
	dev, err := n.self.NetDev()
	if err != nil {
		return fmt.Errorf("read %s/self/net/dev: %w", n.opts.ProcRoot, err)
	}
	for name, l := range dev {
		if !n.opts.Iface(name) {
			continue
		}
		b.counter(netBytes, float64(l.RxBytes), name, "receive")
		b.counter(netBytes, float64(l.TxBytes), name, "transmit")
		b.counter(netPackets, float64(l.RxPackets), name, "receive")
		b.counter(netPackets, float64(l.TxPackets), name, "transmit")
		b.counter(netErrors, float64(l.RxErrors), name, "receive")
		b.counter(netErrors, float64(l.TxErrors), name, "transmit")
		b.counter(netDrops, float64(l.RxDropped), name, "receive")
		b.counter(netDrops, float64(l.TxDropped), name, "transmit")
	}
	return nil
}

func (n *Node) readSoftnet(b *batch) error {
	rows, err := n.fs.NetSoftnetStat()
	if err != nil {
		return fmt.Errorf("read %s/net/softnet_stat: %w", n.opts.ProcRoot, err)
	}
	for i, r := range rows {
		cpu := strconv.Itoa(i)
		if r.Width >= 13 { // the CPU column exists since 5.10; before, rows are in CPU order
			cpu = strconv.Itoa(int(r.Index))
		}
		b.counter(softnetDropped, float64(r.Dropped), cpu)
		b.counter(softnetSqueeze, float64(r.TimeSqueezed), cpu)
	}
	return nil
}

// readSnmp exports the TCP and UDP counters that show a server losing
// work: retransmits, full accept queues, full socket buffers.
func (n *Node) readSnmp(b *batch) error {
	s, err := n.self.Snmp()
	if err != nil {
		return fmt.Errorf("read %s/self/net/snmp: %w", n.opts.ProcRoot, err)
	}
	x, err := n.self.Netstat()
	if err != nil {
		return fmt.Errorf("read %s/self/net/netstat: %w", n.opts.ProcRoot, err)
	}
	for _, c := range [...]struct {
		v    *float64
		what string
	}{
		{s.Tcp.RetransSegs, "Tcp RetransSegs"}, {x.TcpExt.ListenOverflows, "TcpExt ListenOverflows"},
		{x.TcpExt.ListenDrops, "TcpExt ListenDrops"}, {s.Udp.InErrors, "Udp InErrors"},
		{s.Udp.RcvbufErrors, "Udp RcvbufErrors"}, {s.Udp.SndbufErrors, "Udp SndbufErrors"},
	} {
		if c.v == nil {
			return fmt.Errorf("read snmp: no %s field", c.what)
		}
	}
	b.counter(tcpRetrans, *s.Tcp.RetransSegs)
	b.counter(tcpOverflows, *x.TcpExt.ListenOverflows)
	b.counter(tcpListenDrops, *x.TcpExt.ListenDrops)
	b.counter(udpInErrors, *s.Udp.InErrors)
	b.counter(udpRcvbuf, *s.Udp.RcvbufErrors)
	b.counter(udpSndbuf, *s.Udp.SndbufErrors)
	return nil
}

func (n *Node) readProcess(b *batch) error {
	st, err := n.self.Stat()
	if err != nil {
		return fmt.Errorf("read %s/self/stat: %w", n.opts.ProcRoot, err)
	}
	// /proc/self/status counts the main thread's switches only; getrusage
	// sums every thread, exited ones included, so the counter never drops.
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return fmt.Errorf("getrusage: %w", err)
	}
	b.gauge(procThreads, float64(st.NumThreads))
	b.counter(procCtxSw, float64(ru.Nvcsw), "voluntary")
	b.counter(procCtxSw, float64(ru.Nivcsw), "involuntary")
	b.counter(procFaults, float64(st.MinFlt), "minor")
	b.counter(procFaults, float64(st.MajFlt), "major")
	// schedstat and io are per-process files some kernels lack
	// (CONFIG_SCHED_INFO, CONFIG_TASK_IO_ACCOUNTING): leave them out then.
	if wait, ok := n.runqueueWait(); ok {
		b.counter(procRunqWait, wait)
	}
	if io, err := n.self.IO(); err == nil {
		b.counter(procDisk, float64(io.ReadBytes), "read")
		b.counter(procDisk, float64(io.WriteBytes), "write")
	}
	return nil
}

// runqueueWait sums the run-queue delay of every live thread:
// /proc/self/schedstat alone is the main thread's. A thread that exits
// takes its share with it, which the counter's readers see as a reset
// (Go keeps its threads, so this is rare).
func (n *Node) runqueueWait() (float64, bool) {
	threads, err := n.fs.AllThreads(n.self.PID)
	if err != nil {
		return 0, false
	}
	var ns uint64
	for _, t := range threads {
		ss, err := t.Schedstat()
		if err != nil {
			continue // the thread exited since the listing
		}
		ns += ss.WaitingNanoseconds
	}
	return float64(ns) / 1e9, len(threads) > 0
}
