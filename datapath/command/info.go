package command

import (
	"fmt"
	"os"
	"runtime/metrics"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

// infoSection is one of Redis's INFO sections; inDefault says whether
// INFO without arguments (or "default") includes it, as in Redis 7.0.
type infoSection struct {
	name      string
	inDefault bool
	lines     func(c *call) []string
}

// infoSections are Redis 7.0's sections Dorivo has, in Redis's order.
var infoSections = []infoSection{
	{"Server", true, infoServer},
	{"Clients", true, infoClients},
	{"Memory", true, infoMemory},
	{"Persistence", true, infoPersistence},
	{"Stats", true, infoStats},
	{"Replication", true, infoReplication},
	{"CPU", true, infoCPU},
	{"Commandstats", false, infoCommandstats},
	{"Errorstats", true, infoErrorstats},
	{"Cluster", true, infoCluster},
	{"Keyspace", true, infoKeyspace},
}

// infoCluster is Redis's cluster_enabled:0 (Dorivo speaks no Redis Cluster
// protocol: clients must not switch to it), then the lines of the host's
// own Cluster section (a replicated node's shards), which INFO does not
// print again.
func infoCluster(c *call) []string {
	lines := []string{"cluster_enabled:0"}
	for _, sec := range c.s.Node.InfoSections() {
		if isClusterSection(sec) {
			lines = append(lines, sec.Lines()...)
		}
	}
	return lines
}

func isClusterSection(sec InfoSection) bool { return strings.EqualFold(sec.Name, "Cluster") }

// infoCmd is INFO [section ...]: "all" is every section, "everything" and
// "default" as in Redis; the host's sections (infohook.go) are in the
// default set. The reply is a verbatim string in RESP3.
func infoCmd(c *call) {
	want := map[string]bool{}
	for _, a := range c.args[1:] {
		want[strings.ToLower(string(a))] = true
	}
	all := want["all"] || want["everything"]
	def := len(want) == 0 || want["default"]
	var b strings.Builder
	add := func(name string, lines []string) {
		if b.Len() > 0 {
			b.WriteString("\r\n")
		}
		b.WriteString("# " + name + "\r\n")
		for _, l := range lines {
			b.WriteString(l + "\r\n")
		}
	}
	for _, sec := range infoSections {
		if all || def && sec.inDefault || want[strings.ToLower(sec.name)] {
			add(sec.name, sec.lines(c))
		}
	}
	for _, sec := range c.s.Node.InfoSections() { // read only when asked for
		if isClusterSection(sec) {
			continue // in Redis's Cluster section above
		}
		if all || def || want[strings.ToLower(sec.Name)] {
			add(sec.Name, sec.Lines())
		}
	}
	c.verbatim(b.String())
}

func itoa(n int64) string  { return strconv.FormatInt(n, 10) }
func utoa(n uint64) string { return strconv.FormatUint(n, 10) }

func infoServer(c *call) []string {
	n := c.s.Node
	up := max(c.now-n.StartMs, 0) / 1000
	return []string{
		"redis_version:" + RedisVersion,
		"dorivo:1",
		"redis_mode:standalone",
		"arch_bits:64",
		"process_id:" + strconv.Itoa(os.Getpid()),
		"tcp_port:" + strconv.Itoa(n.Config().Port),
		"uptime_in_seconds:" + itoa(up),
		"uptime_in_days:" + itoa(up/86400),
	}
}

func infoClients(c *call) []string {
	n := c.s.Node
	lines := []string{
		"connected_clients:" + itoa(n.Clients()),
		"maxclients:" + strconv.Itoa(n.Config().MaxClients),
	}
	if extra := n.clientsLines(); extra != nil { // the loops' counts (infohook.go)
		return append(lines, extra...)
	}
	return append(lines, "blocked_clients:0")
}

// memorySamples are the Go runtime's figures behind INFO memory: what the
// heap and the runtime hold (used_memory, as Redis's allocator count), and
// what is mapped and not returned to the OS (used_memory_rss). Reading them
// does not stop the world, unlike runtime.ReadMemStats.
var memorySamples = []metrics.Sample{
	{Name: "/memory/classes/total:bytes"},
	{Name: "/memory/classes/heap/released:bytes"},
	{Name: "/memory/classes/heap/free:bytes"},
}

// memPeak is the largest used_memory INFO has seen (used_memory_peak).
var memPeak atomic.Uint64

func memoryUse() (used, rss uint64) {
	s := make([]metrics.Sample, len(memorySamples))
	copy(s, memorySamples)
	metrics.Read(s)
	total, released, free := s[0].Value.Uint64(), s[1].Value.Uint64(), s[2].Value.Uint64()
	rss = total - released
	used = rss - free
	for {
		p := memPeak.Load()
		if used <= p || memPeak.CompareAndSwap(p, used) {
			break
		}
	}
	return used, rss
}

// bytesToHuman formats n as Redis's bytesToHuman does.
func bytesToHuman(n uint64) string {
	const k = 1024.0
	d := float64(n)
	switch {
	case n < 1024:
		return utoa(n) + "B"
	case d < k*k:
		return fmt.Sprintf("%.2fK", d/k)
	case d < k*k*k:
		return fmt.Sprintf("%.2fM", d/(k*k))
	case d < k*k*k*k:
		return fmt.Sprintf("%.2fG", d/(k*k*k))
	case d < k*k*k*k*k:
		return fmt.Sprintf("%.2fT", d/(k*k*k*k))
	}
	return fmt.Sprintf("%.2fP", d/(k*k*k*k*k))
}

func infoMemory(c *call) []string {
	used, rss := memoryUse()
	peak := memPeak.Load()
	cfg := c.s.Node.Config()
	mm := uint64(max(cfg.MaxMemory, 0))
	return []string{
		"used_memory:" + utoa(used),
		"used_memory_human:" + bytesToHuman(used),
		"used_memory_rss:" + utoa(rss),
		"used_memory_rss_human:" + bytesToHuman(rss),
		"used_memory_peak:" + utoa(peak),
		"used_memory_peak_human:" + bytesToHuman(peak),
		fmt.Sprintf("mem_fragmentation_ratio:%.2f", float64(rss)/float64(max(used, 1))),
		"maxmemory:" + utoa(mm),
		"maxmemory_human:" + bytesToHuman(mm),
		"maxmemory_policy:" + cfg.MaxmemoryPolicy,
		"mem_allocator:go",
	}
}

// infoPersistence: Dorivo has no RDB snapshots; with a durable store every
// write is in a synced log before it is acknowledged, which is what
// appendonly yes with appendfsync always promises, so aof_enabled says so.
func infoPersistence(c *call) []string {
	n := c.s.Node
	aof := "0"
	if n.Config().Durable {
		aof = "1"
	}
	return []string{
		"loading:0",
		"async_loading:0",
		"rdb_changes_since_last_save:0",
		"rdb_bgsave_in_progress:0",
		"rdb_last_save_time:" + itoa(n.StartMs/1000),
		"rdb_last_bgsave_status:ok",
		"rdb_last_bgsave_time_sec:-1",
		"aof_enabled:" + aof,
		"aof_rewrite_in_progress:0",
		"aof_last_write_status:ok",
	}
}

func infoStats(c *call) []string {
	n := c.s.Node
	var calls, errs uint64
	for _, cmd := range cmds {
		k, _, _, _ := n.cmdTotals(cmd)
		calls += k
	}
	for _, v := range *n.errStats.Load() {
		errs += v.Load()
	}
	errs += n.errOverflow.Load()
	t := n.keyspaceTotals(c.ks)
	return []string{
		"total_connections_received:" + utoa(n.connections.Load()),
		"total_commands_processed:" + utoa(calls),
		"expired_keys:" + utoa(t.Expired-min(n.expiredBase.Load(), t.Expired)),
		"evicted_keys:0", // values go cold to disk; keys are never evicted
		"total_error_replies:" + utoa(errs),
	}
}

func infoReplication(*call) []string {
	return []string{
		"role:master",
		"connected_slaves:0",
		"master_failover_state:no-failover",
		"master_replid:0000000000000000000000000000000000000000",
		"master_replid2:0000000000000000000000000000000000000000",
		"master_repl_offset:0",
		"second_repl_offset:-1",
		"repl_backlog_active:0",
		"repl_backlog_size:1048576",
		"repl_backlog_first_byte_offset:0",
		"repl_backlog_histlen:0",
	}
}

func infoCPU(*call) []string {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	tv := func(t syscall.Timeval) string { return fmt.Sprintf("%d.%06d", t.Sec, t.Usec) }
	return []string{
		"used_cpu_sys:" + tv(ru.Stime),
		"used_cpu_user:" + tv(ru.Utime),
		"used_cpu_sys_children:0.000000",
		"used_cpu_user_children:0.000000",
	}
}

func infoCommandstats(c *call) []string {
	var out []string
	for _, cmd := range cmds {
		calls, nanos, rej, failed := c.s.Node.cmdTotals(cmd)
		if calls == 0 && rej == 0 && failed == 0 {
			continue
		}
		usec := nanos / 1000
		per := 0.0
		if calls > 0 {
			per = float64(usec) / float64(calls)
		}
		out = append(out, fmt.Sprintf("cmdstat_%s:calls=%d,usec=%d,usec_per_call=%.2f,rejected_calls=%d,failed_calls=%d",
			cmd.Name, calls, usec, per, rej, failed))
	}
	return out
}

func infoErrorstats(c *call) []string {
	m := *c.s.Node.errStats.Load()
	kinds := make([]string, 0, len(m))
	for k := range m {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	out := make([]string, 0, len(kinds))
	for _, k := range kinds {
		out = append(out, "errorstat_"+k+":count="+utoa(m[k].Load()))
	}
	return out
}

// infoKeyspace counts every loop's keys (Node.SetKeyspaceTotals), or for
// a user confined to key patterns (a tenant) its own keys only. Those
// share one slot when its patterns confine it to one tag, and its
// connection then runs on that slot's loop (datapath/core, move.go): this
// keyspace.
func infoKeyspace(c *call) []string {
	t := c.s.Node.keyspaceTotals(c.ks)
	if !c.s.allKeys() {
		t.Keys, t.Volatile = 0, 0
		visible := c.s.keyFilter()
		c.ks.Each(func(key, _ []byte, exp int64) {
			if (exp == 0 || exp > c.now) && visible(key) {
				t.Keys++
				if exp != 0 {
					t.Volatile++
				}
			}
		})
	}
	if t.Keys == 0 {
		return nil
	}
	return []string{fmt.Sprintf("db0:keys=%d,expires=%d,avg_ttl=0", t.Keys, t.Volatile)}
}
