package collect

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"
)

// perfEvent is one counting event, opened system-wide on every CPU.
type perfEvent struct {
	name   string // event label of dorivo_perf_available
	typ    uint32 // PERF_TYPE_*
	config uint64 // PERF_COUNT_*
	desc   *prometheus.Desc
}

// HardwareEvents are the PMU events Perf opens: instructions retired,
// cycles (their ratio is IPC) and last-level cache misses.
var hardwareEvents = []perfEvent{
	{"instructions", unix.PERF_TYPE_HARDWARE, unix.PERF_COUNT_HW_INSTRUCTIONS,
		prometheus.NewDesc("dorivo_perf_instructions_total", "Instructions retired on the CPU (all tasks, user and kernel).", []string{"cpu"}, nil)},
	{"cycles", unix.PERF_TYPE_HARDWARE, unix.PERF_COUNT_HW_CPU_CYCLES,
		prometheus.NewDesc("dorivo_perf_cycles_total", "CPU cycles on the CPU; instructions/cycles is IPC.", []string{"cpu"}, nil)},
	{"cache_misses", unix.PERF_TYPE_HARDWARE, unix.PERF_COUNT_HW_CACHE_MISSES,
		prometheus.NewDesc("dorivo_perf_cache_misses_total", "Last-level cache misses on the CPU (x64 bytes: a bound on memory traffic).", []string{"cpu"}, nil)},
}

var perfAvailable = prometheus.NewDesc("dorivo_perf_available",
	"1 if the hardware counter is open on every CPU; 0 with the reason (errno) when the kernel or VM offers no PMU for it or forbids it.",
	[]string{"event", "reason"}, nil)

// Perf is a prometheus.Collector for hardware counters through
// perf_event_open(2): one counting fd per event per CPU, read at scrape
// time (one read(2) each). Events that cannot be opened on every CPU are
// not exported at all, only their dorivo_perf_available 0 and reason.
type Perf struct {
	mu     sync.Mutex
	events []openEvent
}

type openEvent struct {
	perfEvent
	reason string // "" when open
	cpus   []int
	fds    []int
}

// NewPerf opens the hardware events on every online CPU. It does not fail:
// an event the machine cannot count is reported as unavailable. Close
// releases the fds.
func NewPerf() *Perf {
	cpus, err := onlineCPUs("/sys/devices/system/cpu/online")
	return newPerf(hardwareEvents, cpus, err)
}

func newPerf(events []perfEvent, cpus []int, cpuErr error) *Perf {
	p := &Perf{}
	for _, ev := range events {
		o := openEvent{perfEvent: ev, cpus: cpus}
		if cpuErr != nil {
			o.reason = "cannot list CPUs: " + cpuErr.Error()
		} else if err := o.open(); err != nil {
			o.reason = err.Error()
		}
		p.events = append(p.events, o)
	}
	return p
}

// open opens ev on every CPU or on none.
func (o *openEvent) open() error {
	attr := unix.PerfEventAttr{
		Type:        o.typ,
		Config:      o.config,
		Size:        uint32(unsafe.Sizeof(unix.PerfEventAttr{})),
		Bits:        unix.PerfBitExcludeHv,
		Read_format: unix.PERF_FORMAT_TOTAL_TIME_ENABLED | unix.PERF_FORMAT_TOTAL_TIME_RUNNING,
	}
	for _, cpu := range o.cpus {
		fd, err := unix.PerfEventOpen(&attr, -1, cpu, -1, unix.PERF_FLAG_FD_CLOEXEC)
		if err != nil {
			o.close()
			return perfReason(err)
		}
		o.fds = append(o.fds, fd)
	}
	return nil
}

func (o *openEvent) close() {
	for _, fd := range o.fds {
		unix.Close(fd)
	}
	o.fds = nil
}

// perfReason names the errno and what it means for perf_event_open(2).
func perfReason(err error) error {
	var errno unix.Errno
	if !errors.As(err, &errno) {
		return err
	}
	hint := ""
	switch errno {
	case unix.ENOENT, unix.EOPNOTSUPP, unix.ENODEV:
		hint = " (no PMU offers this event; usual in VMs without a virtual PMU)"
	case unix.EACCES, unix.EPERM:
		hint = " (not permitted: needs CAP_PERFMON or kernel.perf_event_paranoid <= 0)"
	case unix.EMFILE:
		hint = " (out of file descriptors: one per event per CPU)"
	}
	return fmt.Errorf("%s: %s%s", unix.ErrnoName(errno), errno.Error(), hint)
}

// Close releases every perf fd.
func (p *Perf) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range p.events {
		p.events[i].close()
	}
	return nil
}

// Describe implements prometheus.Collector.
func (p *Perf) Describe(ch chan<- *prometheus.Desc) {
	ch <- perfAvailable
	for _, e := range p.events {
		ch <- e.desc
	}
}

// Collect implements prometheus.Collector.
func (p *Perf) Collect(ch chan<- prometheus.Metric) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var buf [24]byte // value, time_enabled, time_running
	for _, e := range p.events {
		avail := 0.0
		if e.reason == "" && len(e.fds) > 0 {
			avail = 1
		}
		ch <- prometheus.MustNewConstMetric(perfAvailable, prometheus.GaugeValue, avail, e.name, e.reason)
		for i, fd := range e.fds {
			if n, err := unix.Read(fd, buf[:]); err != nil || n != len(buf) {
				continue
			}
			val := binary.NativeEndian.Uint64(buf[0:])
			enabled := binary.NativeEndian.Uint64(buf[8:])
			running := binary.NativeEndian.Uint64(buf[16:])
			if running == 0 {
				continue // never scheduled on the PMU: no data, not a zero
			}
			// Scale for multiplexing: the count extrapolated to the time enabled.
			v := float64(val) * float64(enabled) / float64(running)
			ch <- prometheus.MustNewConstMetric(e.desc, prometheus.CounterValue, v, strconv.Itoa(e.cpus[i]))
		}
	}
}

// onlineCPUs parses a sysfs CPU list such as "0-3,8,10-11".
func onlineCPUs(path string) ([]int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return parseCPUList(strings.TrimSpace(string(data)))
}

func parseCPUList(s string) ([]int, error) {
	var cpus []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("cpu list %q: bad cpu %q", s, lo)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("cpu list %q: bad range %q", s, part)
			}
		}
		for c := a; c <= b; c++ {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}
