package collect

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

func (n *Node) readMeminfo(b *batch) error {
	m, err := n.fs.Meminfo()
	if err != nil {
		return fmt.Errorf("read %s/meminfo: %w", n.opts.ProcRoot, err)
	}
	// The fields an operator sizes the cache and spots leaks or writeback
	// trouble with; a field the kernel does not have is left out.
	for _, f := range [...]struct {
		name string
		v    *uint64
	}{
		{"total", m.MemTotalBytes}, {"free", m.MemFreeBytes}, {"available", m.MemAvailableBytes},
		{"buffers", m.BuffersBytes}, {"cached", m.CachedBytes}, {"dirty", m.DirtyBytes},
		{"writeback", m.WritebackBytes}, {"anon", m.AnonPagesBytes}, {"shmem", m.ShmemBytes},
		{"mapped", m.MappedBytes}, {"slab_reclaimable", m.SReclaimableBytes},
		{"slab_unreclaimable", m.SUnreclaimBytes}, {"page_tables", m.PageTablesBytes},
		{"swap_total", m.SwapTotalBytes}, {"swap_free", m.SwapFreeBytes},
		{"committed_as", m.CommittedASBytes}, {"commit_limit", m.CommitLimitBytes},
	} {
		if f.v != nil {
			b.gauge(memoryBytes, float64(*f.v), f.name)
		}
	}
	return nil
}

// readVmstat reads the fault and reclaim counters of /proc/vmstat, which
// procfs does not parse (its FS.VM reads the /proc/sys/vm tunables).
func (n *Node) readVmstat(b *batch) error {
	path := filepath.Join(n.opts.ProcRoot, "vmstat")
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	v, err := parseVmstat(data)
	if err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	b.counter(pageFaults, v["pgfault"])
	b.counter(majorFaults, v["pgmajfault"])
	b.counter(pagesScanned, v["pgscan_kswapd"], "kswapd")
	b.counter(pagesScanned, v["pgscan_direct"], "direct")
	b.counter(pagesReclaimed, v["pgsteal_kswapd"], "kswapd")
	b.counter(pagesReclaimed, v["pgsteal_direct"], "direct")
	b.counter(allocStalls, v["allocstall"])
	b.counter(oomKills, v["oom_kill"])
	b.counter(swappedPages, v["pswpin"], "in")
	b.counter(swappedPages, v["pswpout"], "out")
	return nil
}

// parseVmstat returns the wanted counters of a /proc/vmstat text; the
// per-zone allocstall_* lines are summed into "allocstall". A wanted line
// that is missing is an error, so a format change is not read as zeros.
func parseVmstat(data []byte) (map[string]float64, error) {
	want := map[string]bool{"pgfault": true, "pgmajfault": true, "pgscan_kswapd": true, "pgscan_direct": true,
		"pgsteal_kswapd": true, "pgsteal_direct": true, "oom_kill": true, "pswpin": true, "pswpout": true}
	out := make(map[string]float64, len(want)+1)
	stalls := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		key, val, ok := bytes.Cut(sc.Bytes(), []byte{' '})
		if !ok {
			return nil, fmt.Errorf("line %q: want \"name value\"", sc.Text())
		}
		name := string(key)
		isStall := bytes.HasPrefix(key, []byte("allocstall_"))
		if !want[name] && !isStall {
			continue
		}
		x, err := strconv.ParseUint(string(val), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("line %q: %w", sc.Text(), err)
		}
		if isStall {
			out["allocstall"] += float64(x)
			stalls = true
			continue
		}
		out[name] = float64(x)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for k := range want {
		if _, ok := out[k]; !ok {
			return nil, fmt.Errorf("no %s line", k)
		}
	}
	if !stalls {
		return nil, fmt.Errorf("no allocstall_* lines")
	}
	return out, nil
}
