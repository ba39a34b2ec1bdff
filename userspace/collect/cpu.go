package collect

import (
	"errors"
	"fmt"
	"strconv"
)

func (n *Node) readStat(b *batch) error {
	st, err := n.fs.Stat()
	if err != nil {
		return fmt.Errorf("read %s/stat: %w", n.opts.ProcRoot, err)
	}
	for cpu, c := range st.CPU {
		id := strconv.FormatInt(cpu, 10)
		// Guest time is already inside user and nice, so it is not repeated.
		for _, m := range [...]struct {
			mode string
			v    float64
		}{
			{"user", c.User}, {"nice", c.Nice}, {"system", c.System}, {"idle", c.Idle},
			{"iowait", c.Iowait}, {"irq", c.IRQ}, {"softirq", c.SoftIRQ}, {"steal", c.Steal},
		} {
			b.counter(cpuSeconds, m.v, id, m.mode)
		}
	}
	b.gauge(procsRunning, float64(st.ProcessesRunning))
	b.gauge(procsBlocked, float64(st.ProcessesBlocked))
	b.counter(contextSwitch, float64(st.ContextSwitches))
	return nil
}

func (n *Node) readLoad(b *batch) error {
	l, err := n.fs.LoadAvg()
	if err != nil {
		return fmt.Errorf("read %s/loadavg: %w", n.opts.ProcRoot, err)
	}
	b.gauge(load1, l.Load1)
	b.gauge(load5, l.Load5)
	b.gauge(load15, l.Load15)
	return nil
}

// readPressure exports PSI totals (µs → s); the avg10/60/300 figures are
// rates of these and are left to PromQL. A kernel without CONFIG_PSI has no
// /proc/pressure, which fails the source as a whole.
func (n *Node) readPressure(b *batch) error {
	var errs []error
	for _, res := range [...]string{"cpu", "memory", "io"} {
		p, err := n.fs.PSIStatsForResource(res)
		if err != nil {
			errs = append(errs, fmt.Errorf("read pressure/%s (needs CONFIG_PSI, or psi=1 on the kernel command line): %w", res, err))
			continue
		}
		if p.Some != nil {
			b.counter(pressureStall, float64(p.Some.Total)/1e6, res, "some")
		}
		// The cpu file has a full line since 5.13; it is all zeros at the system level.
		if p.Full != nil {
			b.counter(pressureStall, float64(p.Full.Total)/1e6, res, "full")
		}
	}
	return errors.Join(errs...)
}

func (n *Node) readSoftirqs(b *batch) error {
	s, err := n.fs.Softirqs()
	if err != nil {
		return fmt.Errorf("read %s/softirqs: %w", n.opts.ProcRoot, err)
	}
	for _, t := range [...]struct {
		name string
		per  []uint64
	}{
		{"net_rx", s.NetRx}, {"net_tx", s.NetTx}, {"block", s.Block},
		{"timer", s.Timer}, {"sched", s.Sched}, {"rcu", s.RCU},
	} {
		for cpu, v := range t.per {
			b.counter(softirqs, float64(v), strconv.Itoa(cpu), t.name)
		}
	}
	return nil
}
