package collect

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/sys/unix"
)

// scrape gathers reg and indexes every sample as name{k="v",...} (labels
// sorted, as the registry returns them).
func scrape(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			out[key(mf.GetName(), m)] = value(m)
		}
	}
	return out
}

func key(name string, m *dto.Metric) string {
	var l []string
	for _, p := range m.GetLabel() {
		l = append(l, fmt.Sprintf("%s=%q", p.GetName(), p.GetValue()))
	}
	if len(l) == 0 {
		return name
	}
	return name + "{" + strings.Join(l, ",") + "}"
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return 0
}

func mustGet(t *testing.T, s map[string]float64, k string) float64 {
	t.Helper()
	v, ok := s[k]
	if !ok {
		var have []string
		for h := range s {
			if strings.HasPrefix(h, strings.SplitN(k, "{", 2)[0]) {
				have = append(have, h)
			}
		}
		t.Fatalf("no series %s; have %v", k, have)
	}
	return v
}

func newTestNode(t *testing.T, dir string) (*Node, *prometheus.Registry) {
	t.Helper()
	n, err := NewNode(Options{DataDir: dir, MaxAge: -1}) // every gather reads /proc afresh
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(n)
	return n, reg
}

// The data dir resolves to the device the kernel names for its st_dev,
// found here independently by scanning /proc/diskstats.
func TestResolveDeviceMatchesDiskstats(t *testing.T) {
	dir := t.TempDir()
	d, err := ResolveDevice("/proc", "/sys", dir)
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	if unix.Major(st.Dev) != 0 && (d.Major != unix.Major(st.Dev) || d.Minor != unix.Minor(st.Dev)) {
		t.Errorf("device %d:%d, stat says %d:%d", d.Major, d.Minor, unix.Major(st.Dev), unix.Minor(st.Dev))
	}
	name := diskstatsName(t, d.Major, d.Minor)
	if d.Name != name || name == "" {
		t.Errorf("device name %q, diskstats has %q for %d:%d", d.Name, name, d.Major, d.Minor)
	}
	if !within(d.Dir, d.MountPoint) || d.FSType == "" {
		t.Errorf("mount %q (%s) does not hold %s", d.MountPoint, d.FSType, d.Dir)
	}
	t.Logf("%s -> %s (%d:%d) on %s %s", dir, d.Name, d.Major, d.Minor, d.MountPoint, d.FSType)
}

func diskstatsName(t *testing.T, major, minor uint32) string {
	t.Helper()
	f, err := os.Open("/proc/diskstats")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) > 3 && fs[0] == strconv.Itoa(int(major)) && fs[1] == strconv.Itoa(int(minor)) {
			return fs[2]
		}
	}
	return ""
}

// A directory on tmpfs has no block device, and the error says so.
func TestResolveDeviceTmpfs(t *testing.T) {
	dir, err := os.MkdirTemp("/dev/shm", "collect")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	_, err = ResolveDevice("/proc", "/sys", dir)
	if err == nil || !strings.Contains(err.Error(), "tmpfs") || !strings.Contains(err.Error(), "not on a block device") {
		t.Fatalf("err = %v, want a tmpfs / not on a block device error", err)
	}
	if _, err := NewNode(Options{DataDir: filepath.Join(dir, "missing")}); err == nil {
		t.Fatal("NewNode accepted a missing data dir")
	}
}

// Writing and fsyncing 4 MiB in the data dir shows on its device: write
// ops, at least 4 MiB more bytes written, time spent writing.
func TestDiskFollowsWrites(t *testing.T) {
	dir := t.TempDir()
	n, reg := newTestNode(t, dir)
	dev := n.sources[len(n.sources)-2] // diskstats
	if dev.name != "diskstats" {
		t.Fatalf("source %q", dev.name)
	}
	d, _ := ResolveDevice("/proc", "/sys", dir)
	lbl := func(op string) string { return fmt.Sprintf(`{device=%q,op=%q}`, d.Name, op) }
	before := scrape(t, reg)
	f, err := os.Create(filepath.Join(dir, "blob"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	for range 4 {
		if _, err := f.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	after := scrape(t, reg)
	if got := mustGet(t, after, "dorivo_disk_bytes_total"+lbl("write")) - mustGet(t, before, "dorivo_disk_bytes_total"+lbl("write")); got < 4<<20 {
		t.Errorf("device wrote %v bytes during a 4 MiB fsync'd write", got)
	}
	if mustGet(t, after, "dorivo_disk_ops_total"+lbl("write")) <= mustGet(t, before, "dorivo_disk_ops_total"+lbl("write")) {
		t.Error("write ops did not move")
	}
	if mustGet(t, after, "dorivo_disk_io_seconds_total"+fmt.Sprintf(`{device=%q}`, d.Name)) < mustGet(t, before, "dorivo_disk_io_seconds_total"+fmt.Sprintf(`{device=%q}`, d.Name)) {
		t.Error("io time went backwards")
	}
	info := fmt.Sprintf(`dorivo_disk_data_dir_info{device=%q,dir=%q,fstype=%q,mountpoint=%q}`, d.Name, d.Dir, d.FSType, d.MountPoint)
	if mustGet(t, after, info) != 1 {
		t.Error("info is not 1")
	}
	var fs unix.Statfs_t
	unix.Statfs(dir, &fs)
	size := mustGet(t, after, fmt.Sprintf(`dorivo_disk_data_dir_size_bytes{dir=%q}`, d.Dir))
	if size != float64(fs.Blocks)*float64(fs.Bsize) || mustGet(t, after, fmt.Sprintf(`dorivo_disk_data_dir_avail_bytes{dir=%q}`, d.Dir)) > size {
		t.Errorf("size %v, statfs %v", size, float64(fs.Blocks)*float64(fs.Bsize))
	}
}

// CPU, memory and PSI figures agree with the files read independently
// just before and after the gather.
func TestNodeMatchesProc(t *testing.T) {
	_, reg := newTestNode(t, "")
	memTotal := meminfoKB(t, "MemTotal") * 1024
	psiBefore := psiTotal(t, "cpu")
	s := scrape(t, reg)
	psiAfter := psiTotal(t, "cpu")
	if got := mustGet(t, s, `dorivo_node_memory_bytes{field="total"}`); got != memTotal {
		t.Errorf("memory total %v, meminfo %v", got, memTotal)
	}
	if a := mustGet(t, s, `dorivo_node_memory_bytes{field="available"}`); a <= 0 || a > memTotal {
		t.Errorf("available %v of %v", a, memTotal)
	}
	if got := mustGet(t, s, `dorivo_node_pressure_stalled_seconds_total{kind="some",resource="cpu"}`); got < psiBefore || got > psiAfter {
		t.Errorf("psi cpu some %v outside [%v, %v]", got, psiBefore, psiAfter)
	}
	for _, res := range []string{"memory", "io"} {
		mustGet(t, s, fmt.Sprintf(`dorivo_node_pressure_stalled_seconds_total{kind="full",resource=%q}`, res))
	}
	ncpu := 0
	for k := range s {
		if strings.HasPrefix(k, "dorivo_node_cpu_seconds_total{") && strings.Contains(k, `mode="idle"`) {
			ncpu++
		}
		if strings.HasPrefix(k, "dorivo_node_cpu_seconds_total{") && strings.Contains(k, `mode="guest`) {
			t.Errorf("guest time repeated: %s", k)
		}
	}
	if online, _ := onlineCPUs("/sys/devices/system/cpu/online"); ncpu != len(online) {
		t.Errorf("%d CPUs with idle time, %d online", ncpu, len(online))
	}
	if mustGet(t, s, `dorivo_node_cpu_seconds_total{cpu="0",mode="idle"}`) <= 0 {
		t.Error("cpu0 never idle")
	}
	if mustGet(t, s, `dorivo_node_softirqs_total{cpu="0",type="timer"}`) <= 0 {
		t.Error("no timer softirqs on cpu0")
	}
	for k, v := range s {
		if strings.HasPrefix(k, "dorivo_collect_source_up") && v != 1 {
			t.Errorf("%s = %v on this machine", k, v)
		}
	}
}

func meminfoKB(t *testing.T, field string) float64 {
	t.Helper()
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == field+":" {
			v, _ := strconv.ParseFloat(f[1], 64)
			return v
		}
	}
	t.Fatalf("no %s in meminfo", field)
	return 0
}

func psiTotal(t *testing.T, res string) float64 {
	t.Helper()
	data, err := os.ReadFile("/proc/pressure/" + res)
	if err != nil {
		t.Fatal(err)
	}
	_, tot, _ := strings.Cut(strings.SplitN(string(data), "\n", 2)[0], "total=")
	v, err := strconv.ParseFloat(strings.TrimSpace(tot), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v / 1e6
}

// 2000 UDP datagrams over loopback show on lo; the agent's own faults,
// threads and context switches follow what the test makes it do.
func TestNetAndProcessFollowActivity(t *testing.T) {
	_, reg := newTestNode(t, "")
	before := scrape(t, reg)

	ln, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.DialUDP("udp", nil, ln.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 2000 {
		c.Write(make([]byte, 100))
	}

	// 16 MiB of fresh anonymous memory without huge pages: one minor fault per 4 KiB page.
	const size = 16 << 20
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mem)
	unix.Madvise(mem, unix.MADV_NOHUGEPAGE)
	page := os.Getpagesize()
	for i := 0; i < size; i += page {
		mem[i] = 1
	}

	// 8 goroutines locked to their OS threads, each sleeping 20 times (voluntary switches).
	var started, done sync.WaitGroup
	release := make(chan struct{})
	for range 8 {
		started.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread() // a thread that exits locked is killed, taking its schedstat along
			for range 20 {
				time.Sleep(time.Millisecond)
			}
			started.Done()
			<-release
		}()
	}
	started.Wait()
	during := scrape(t, reg)
	close(release)
	done.Wait()

	if got := mustGet(t, during, `dorivo_node_net_packets_total{direction="receive",iface="lo"}`) - mustGet(t, before, `dorivo_node_net_packets_total{direction="receive",iface="lo"}`); got < 2000 {
		t.Errorf("lo received %v packets, sent 2000", got)
	}
	if got := mustGet(t, during, `dorivo_process_page_faults_total{kind="minor"}`) - mustGet(t, before, `dorivo_process_page_faults_total{kind="minor"}`); got < size/float64(page) {
		t.Errorf("%v minor faults for %d fresh pages", got, size/page)
	}
	if got := mustGet(t, during, `dorivo_process_threads`); got < 8+1 {
		t.Errorf("%v threads with 8 locked goroutines", got)
	}
	if got := mustGet(t, during, `dorivo_process_context_switches_total{kind="voluntary"}`) - mustGet(t, before, `dorivo_process_context_switches_total{kind="voluntary"}`); got < 8*20 {
		t.Errorf("%v voluntary switches after 160 sleeps", got)
	}
}

// Two busy shells and two spinning threads on this machine's CPUs make the
// agent's threads wait in the run queue.
func TestRunqueueWaitGrows(t *testing.T) {
	_, reg := newTestNode(t, "")
	before := mustGet(t, scrape(t, reg), "dorivo_process_runqueue_wait_seconds_total")
	var cmds []*exec.Cmd
	for range runtime.NumCPU() {
		cmd := exec.Command("sh", "-c", "while :; do :; done")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	defer func() {
		for _, c := range cmds {
			c.Process.Kill()
			c.Wait()
		}
	}()
	var wg sync.WaitGroup
	for range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread() // a thread that exits locked is killed, taking its schedstat along
			for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
			}
		}()
	}
	wg.Wait()
	after := mustGet(t, scrape(t, reg), "dorivo_process_runqueue_wait_seconds_total")
	if after <= before {
		t.Errorf("run-queue wait %v -> %v under contention", before, after)
	}
}

// A snapshot is reused within MaxAge, then refreshed.
func TestSnapshotCache(t *testing.T) {
	n, err := NewNode(Options{MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	a := n.snapshot(t0)
	if b := n.snapshot(t0.Add(time.Minute)); &a[0] != &b[0] {
		t.Error("snapshot re-read within MaxAge")
	}
	if c := n.snapshot(t0.Add(2 * time.Hour)); &a[0] == &c[0] {
		t.Error("snapshot not refreshed after MaxAge")
	}
}

// The exposition passes client_golang's lint (promtool's checks).
func TestLint(t *testing.T) {
	n, err := NewNode(Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	p := NewPerf()
	defer p.Close()
	for name, c := range map[string]prometheus.Collector{"node": n, "runtime": NewRuntime(), "perf": p} {
		problems, err := testutil.CollectAndLint(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, pr := range problems {
			t.Errorf("%s: %s: %s", name, pr.Metric, pr.Text)
		}
	}
}

func TestParseVmstat(t *testing.T) {
	text := "nr_free_pages 5\npgfault 100\npgmajfault 3\npgscan_kswapd 7\npgscan_direct 1\npgsteal_kswapd 6\npgsteal_direct 1\n" +
		"allocstall_dma 1\nallocstall_normal 2\noom_kill 0\npswpin 4\npswpout 9\n"
	v, err := parseVmstat([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if v["pgfault"] != 100 || v["allocstall"] != 3 || v["pswpout"] != 9 || v["pgscan_kswapd"] != 7 {
		t.Errorf("parsed %v", v)
	}
	for _, bad := range []string{"pgfault 1\n", "pgfault x\n", "pgfault\n"} {
		if _, err := parseVmstat([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if _, err := parseVmstat(mustRead(t, "/proc/vmstat")); err != nil {
		t.Errorf("this machine's vmstat: %v", err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseCPUList(t *testing.T) {
	got, err := parseCPUList("0-2,5,7-8")
	if err != nil || fmt.Sprint(got) != "[0 1 2 5 7 8]" {
		t.Errorf("got %v %v", got, err)
	}
	for _, bad := range []string{"", "a", "3-1", "1-", "-1"} {
		if _, err := parseCPUList(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
