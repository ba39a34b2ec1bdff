package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/dorivo/dorivo/bpf"
	"github.com/dorivo/dorivo/internal/testenv"
	"github.com/dorivo/dorivo/userspace/stats"
)

// TestScrapeMatchesMaps writes known per-CPU values into the real maps,
// scrapes over HTTP and checks the exposition against the sums.
func TestScrapeMatchesMaps(t *testing.T) {
	testenv.RequireRoot(t)
	var m bpf.DorivoMaps
	if err := bpf.LoadDorivoObjects(&m, nil); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		t.Fatal(err)
	}
	counters := make([]bpf.DorivoCounter, ncpu)
	tenants := make([]bpf.DorivoTenantCounter, ncpu)
	rp := make([]uint64, ncpu)
	for i := range ncpu {
		counters[i] = bpf.DorivoCounter{Packets: 5, Bytes: 500}
		tenants[i] = bpf.DorivoTenantCounter{Packets: 3, Bytes: 150, QuotaDrops: 2}
		rp[i] = 1
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(m.XdpStats.Put(uint32(bpf.DorivoXdpReasonXDP_R_DROP_BAD_MAGIC), counters))
	must(m.TcStats.Put(uint32(bpf.DorivoTcDirTC_INGRESS_TCP), counters))
	must(m.TenantStats.Put(uint32(1234), tenants))
	must(m.ReuseportStats.Put(uint32(bpf.DorivoReuseportReasonRP_TCP_SELECTED), rp))
	must(m.Config.Put(uint32(0), bpf.DorivoAgentConfig{XdpMode: uint32(bpf.DorivoXdpModeXDP_MODE_NATIVE), Ifindex: 7}))

	c := NewCollector(stats.FromObjects(&m), func() map[uint16]string { return map[uint16]string{1234: "acme"} })
	srv := httptest.NewServer(Handler(NewRegistry(c)))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	n := ncpu
	for _, line := range []string{
		`dorivo_xdp_packets_total{reason="drop_bad_magic"} ` + itoa(5*n),
		`dorivo_xdp_bytes_total{reason="drop_bad_magic"} ` + itoa(500*n),
		`dorivo_xdp_packets_total{reason="pass_udp"} 0`,
		`dorivo_tc_packets_total{direction="ingress",proto="tcp"} ` + itoa(5*n),
		`dorivo_tc_bytes_total{direction="egress",proto="udp"} 0`,
		`dorivo_reuseport_selections_total{proto="tcp",result="selected"} ` + itoa(n),
		`dorivo_tenant_packets_total{slot="1234"} ` + itoa(3*n),
		`dorivo_tenant_bytes_total{slot="1234"} ` + itoa(150*n),
		`dorivo_tenant_quota_drops_total{slot="1234"} ` + itoa(2*n),
		`dorivo_tenant_info{slot="1234",tenant="acme"} 1`,
		`dorivo_xdp_attach_mode{ifindex="7",mode="native"} 1`,
		`go_sched_pauses_total_gc_seconds_bucket{`,
		`process_cpu_seconds_total`,
	} {
		exact := "\n" + line + "\n" // the whole sample line: 10 must not match 100
		if strings.HasSuffix(line, "{") || strings.HasSuffix(line, "_total") {
			exact = "\n" + line
		}
		if !strings.Contains(string(body), exact) {
			t.Errorf("scrape lacks %q", line)
		}
	}
	// Only slots with traffic are exported.
	if got := strings.Count(string(body), "dorivo_tenant_packets_total{"); got != 1 {
		t.Errorf("%d tenant series, want 1", got)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
