package stats

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cilium/ebpf"

	"github.com/dorivo/dorivo/bpf"
	"github.com/dorivo/dorivo/userspace/kenum"
)

// Maps are the maps a Snapshot is read from.
type Maps struct {
	Config, XDPStats, TCStats, ReuseportStats, TenantStats *ebpf.Map
}

// FromObjects picks the maps out of a loaded collection.
func FromObjects(m *bpf.DorivoMaps) Maps {
	return Maps{Config: m.Config, XDPStats: m.XdpStats, TCStats: m.TcStats,
		ReuseportStats: m.ReuseportStats, TenantStats: m.TenantStats}
}

// OpenPinned opens the maps an agent pinned under dir. It needs no running
// agent, only the pins. Close the result with Close.
func OpenPinned(dir string) (Maps, error) {
	var m Maps
	open := func(name string, dst **ebpf.Map) error {
		mm, err := ebpf.LoadPinnedMap(filepath.Join(dir, name), &ebpf.LoadPinOptions{ReadOnly: true})
		if err != nil {
			return err
		}
		*dst = mm
		return nil
	}
	err := open(bpf.DorivoMapConfig, &m.Config)
	if errors.Is(err, os.ErrNotExist) {
		return m, fmt.Errorf("no pinned maps under %s: is the agent running?", dir)
	}
	if errors.Is(err, os.ErrPermission) {
		return m, fmt.Errorf("reading the pinned maps under %s needs root: %w", dir, err)
	}
	if err != nil {
		return m, fmt.Errorf("open pinned config map under %s: %w", dir, err)
	}
	for name, dst := range map[string]**ebpf.Map{
		bpf.DorivoMapXdpStats:       &m.XDPStats,
		bpf.DorivoMapTcStats:        &m.TCStats,
		bpf.DorivoMapReuseportStats: &m.ReuseportStats,
		bpf.DorivoMapTenantStats:    &m.TenantStats,
	} {
		if err := open(name, dst); err != nil {
			m.Close()
			return Maps{}, fmt.Errorf("open pinned map %s under %s: %w", name, dir, err)
		}
	}
	return m, nil
}

// Close closes the maps (for Maps from OpenPinned).
func (m Maps) Close() {
	for _, mm := range []*ebpf.Map{m.Config, m.XDPStats, m.TCStats, m.ReuseportStats, m.TenantStats} {
		if mm != nil {
			mm.Close()
		}
	}
}

// Counter is a packet and byte count.
type Counter struct {
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

// XDPCount is the count for one enum xdp_reason value.
type XDPCount struct {
	Reason string `json:"reason"`
	Counter
}

// TCCount is the count for one enum tc_dir value.
type TCCount struct {
	Direction string `json:"direction"`
	Proto     string `json:"proto"`
	Counter
}

// ReuseportCount is the count for one enum reuseport_reason value.
type ReuseportCount struct {
	Proto  string `json:"proto"`
	Result string `json:"result"`
	Count  uint64 `json:"count"`
}

// TenantCount is one slot's counters. Tenant is empty when the
// configuration does not know a tag for the slot.
type TenantCount struct {
	Slot       uint16 `json:"slot"`
	Tenant     string `json:"tenant,omitempty"`
	Packets    uint64 `json:"packets"`
	Bytes      uint64 `json:"bytes"`
	QuotaDrops uint64 `json:"quota_drops"`
}

// Snapshot is every counter at one moment, per-CPU values summed.
type Snapshot struct {
	Ifindex    uint32           `json:"ifindex"`
	XDPMode    string           `json:"xdp_mode"`
	UDPPort    uint16           `json:"udp_port"`
	TCPPort    uint16           `json:"tcp_port"`
	NumLoops   uint32           `json:"num_loops"`
	ACLEnabled bool             `json:"acl_enabled"`
	XDP        []XDPCount       `json:"xdp"`
	TC         []TCCount        `json:"tc"`
	Reuseport  []ReuseportCount `json:"reuseport"`
	// Tenants lists the slots with any non-zero counter, by slot.
	Tenants []TenantCount `json:"tenants"`
}

// XDPByReason returns the XDP counter of reason (e.g. "drop_quota").
func (s *Snapshot) XDPByReason(reason string) Counter {
	for _, c := range s.XDP {
		if c.Reason == reason {
			return c.Counter
		}
	}
	return Counter{}
}

// Read reads a Snapshot. names maps slots to tenant tags (may be nil).
func Read(m Maps, names map[uint16]string) (*Snapshot, error) {
	s := &Snapshot{}
	var cfg bpf.DorivoAgentConfig
	if err := m.Config.Lookup(uint32(0), &cfg); err != nil {
		return nil, fmt.Errorf("read config map: %w", err)
	}
	s.Ifindex, s.UDPPort, s.TCPPort, s.NumLoops = cfg.Ifindex, cfg.UdpPort, cfg.TcpPort, cfg.NumLoops
	s.ACLEnabled = cfg.AclEnabled != 0
	s.XDPMode = kenum.XDPMode().Name(uint64(cfg.XdpMode))

	xr := kenum.XDPReason()
	for i := range uint32(xr.Max) {
		c, err := sumCounter(m.XDPStats, i)
		if err != nil {
			return nil, fmt.Errorf("read xdp_stats[%s]: %w", xr.Name(uint64(i)), err)
		}
		s.XDP = append(s.XDP, XDPCount{Reason: xr.Name(uint64(i)), Counter: c})
	}
	td := kenum.TCDir()
	for i := range uint32(td.Max) {
		c, err := sumCounter(m.TCStats, i)
		if err != nil {
			return nil, fmt.Errorf("read tc_stats[%s]: %w", td.Name(uint64(i)), err)
		}
		dir, proto := split(td.Name(uint64(i)))
		s.TC = append(s.TC, TCCount{Direction: dir, Proto: proto, Counter: c})
	}
	rr := kenum.ReuseportReason()
	for i := range uint32(rr.Max) {
		var per []uint64
		if err := m.ReuseportStats.Lookup(i, &per); err != nil {
			return nil, fmt.Errorf("read reuseport_stats[%s]: %w", rr.Name(uint64(i)), err)
		}
		var n uint64
		for _, v := range per {
			n += v
		}
		proto, result := split(rr.Name(uint64(i)))
		s.Reuseport = append(s.Reuseport, ReuseportCount{Proto: proto, Result: result, Count: n})
	}
	tenants, err := readTenants(m.TenantStats)
	if err != nil {
		return nil, err
	}
	for _, t := range tenants {
		t.Tenant = names[t.Slot]
		s.Tenants = append(s.Tenants, t)
	}
	return s, nil
}

// split cuts an enum name at its first '_': "ingress_tcp" -> ("ingress",
// "tcp"), "udp_selected" -> ("udp", "selected").
func split(name string) (string, string) {
	a, b, _ := strings.Cut(name, "_")
	return a, b
}

func sumCounter(m *ebpf.Map, key uint32) (Counter, error) {
	var per []bpf.DorivoCounter
	if err := m.Lookup(key, &per); err != nil {
		return Counter{}, err
	}
	var c Counter
	for _, v := range per {
		c.Packets += v.Packets
		c.Bytes += v.Bytes
	}
	return c, nil
}

// readTenants reads every slot in one batch syscall (16384 slots x CPUs)
// and returns the non-zero ones in slot order.
func readTenants(m *ebpf.Map) ([]TenantCount, error) {
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, err
	}
	n := int(m.MaxEntries())
	keys := make([]uint32, n)
	vals := make([]bpf.DorivoTenantCounter, n*ncpu)
	var cursor ebpf.MapBatchCursor
	got, err := m.BatchLookup(&cursor, keys, vals, nil)
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return nil, fmt.Errorf("read tenant_stats: %w", err)
	}
	var out []TenantCount
	for i := range got {
		var t TenantCount
		for _, v := range vals[i*ncpu : (i+1)*ncpu] {
			t.Packets += v.Packets
			t.Bytes += v.Bytes
			t.QuotaDrops += v.QuotaDrops
		}
		if t.Packets|t.Bytes|t.QuotaDrops != 0 {
			t.Slot = uint16(keys[i])
			out = append(out, t)
		}
	}
	return out, nil
}
