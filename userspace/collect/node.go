package collect

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs"
	"github.com/prometheus/procfs/blockdevice"
)

// DefaultMaxAge is how long one pass over /proc serves later gathers.
const DefaultMaxAge = 2 * time.Second

// Options configures a Node collector. The zero value reads /proc and /sys
// and skips the data-dir disk.
type Options struct {
	ProcRoot string        // default /proc
	SysRoot  string        // default /sys
	DataDir  string        // directory whose block device and filesystem are exported; "" skips them
	MaxAge   time.Duration // a snapshot younger than this is reused; default DefaultMaxAge, <0 always reads
	// Iface says which network interfaces to export (nil: all).
	Iface  func(name string) bool
	Logger *slog.Logger // source failures are logged once per source; nil discards
}

// source is one group of series read from one place.
type source struct {
	name string
	read func(*batch) error
}

// Node is a prometheus.Collector for the node and the agent process.
type Node struct {
	opts    Options
	fs      procfs.FS
	self    procfs.Proc
	sources []source

	mu      sync.Mutex
	taken   time.Time
	metrics []prometheus.Metric
	failed  map[string]bool // sources whose failure was already logged
}

// NewNode opens /proc and, if opts.DataDir is set, resolves the data
// directory to its block device. An unresolvable DataDir is an error: the
// caller asked for its disk and should hear why it cannot have it.
func NewNode(opts Options) (*Node, error) {
	if opts.ProcRoot == "" {
		opts.ProcRoot = "/proc"
	}
	if opts.SysRoot == "" {
		opts.SysRoot = "/sys"
	}
	if opts.MaxAge == 0 {
		opts.MaxAge = DefaultMaxAge
	}
	if opts.Iface == nil {
		opts.Iface = func(string) bool { return true }
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	fs, err := procfs.NewFS(opts.ProcRoot)
	if err != nil {
		return nil, fmt.Errorf("collect: open %s: %w", opts.ProcRoot, err)
	}
	self, err := fs.Self()
	if err != nil {
		return nil, fmt.Errorf("collect: open %s/self: %w", opts.ProcRoot, err)
	}
	n := &Node{opts: opts, fs: fs, self: self, failed: map[string]bool{}}
	n.sources = []source{
		{"stat", n.readStat},
		{"loadavg", n.readLoad},
		{"pressure", n.readPressure},
		{"meminfo", n.readMeminfo},
		{"vmstat", n.readVmstat},
		{"softirqs", n.readSoftirqs},
		{"netdev", n.readNetDev},
		{"softnet", n.readSoftnet},
		{"snmp", n.readSnmp},
		{"process", n.readProcess},
	}
	if opts.DataDir != "" {
		dev, err := ResolveDevice(opts.ProcRoot, opts.SysRoot, opts.DataDir)
		if err != nil {
			return nil, err
		}
		bfs, err := blockdevice.NewFS(opts.ProcRoot, opts.SysRoot)
		if err != nil {
			return nil, fmt.Errorf("collect: open block devices: %w", err)
		}
		d := &diskSource{dev: dev, fs: bfs}
		n.sources = append(n.sources, source{"diskstats", d.readStats}, source{"statfs", d.readStatfs})
	}
	return n, nil
}

// Describe implements prometheus.Collector.
func (n *Node) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range nodeDescs {
		ch <- d
	}
}

// Collect implements prometheus.Collector: it sends the cached snapshot,
// refreshing it first when it is older than MaxAge.
func (n *Node) Collect(ch chan<- prometheus.Metric) {
	for _, m := range n.snapshot(time.Now()) {
		ch <- m
	}
}

// snapshot returns metrics no older than MaxAge at now. The slice is never
// modified after it is stored, so it may be read outside the lock.
func (n *Node) snapshot(now time.Time) []prometheus.Metric {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.metrics != nil && n.opts.MaxAge > 0 && now.Sub(n.taken) < n.opts.MaxAge {
		return n.metrics
	}
	b := &batch{ms: make([]prometheus.Metric, 0, len(n.metrics))}
	for _, s := range n.sources {
		err := s.read(b)
		up := 1.0
		if err != nil {
			up = 0
			if !n.failed[s.name] {
				n.failed[s.name] = true
				n.opts.Logger.Warn("collect: source unavailable, its series are left out", "source", s.name, "err", err)
			}
		}
		b.gauge(sourceUp, up, s.name)
	}
	n.metrics, n.taken = b.ms, now
	return n.metrics
}

// batch accumulates one snapshot's const metrics.
type batch struct{ ms []prometheus.Metric }

func (b *batch) gauge(d *prometheus.Desc, v float64, labels ...string) {
	b.ms = append(b.ms, prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...))
}

func (b *batch) counter(d *prometheus.Desc, v float64, labels ...string) {
	b.ms = append(b.ms, prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...))
}
