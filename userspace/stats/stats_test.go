package stats

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/dorivo/dorivo/bpf"
	"github.com/dorivo/dorivo/internal/testenv"
)

// loadMaps loads the real collection's maps, unpinned, and fills them with
// known per-CPU values so that sums are checked, not just copies.
func loadMaps(t testing.TB) (*bpf.DorivoMaps, int) {
	t.Helper()
	testenv.RequireRoot(t)
	var m bpf.DorivoMaps
	if err := bpf.LoadDorivoObjects(&m, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		t.Fatal(err)
	}
	perCPU := func(p, b uint64) []bpf.DorivoCounter {
		v := make([]bpf.DorivoCounter, ncpu)
		for i := range v {
			v[i] = bpf.DorivoCounter{Packets: p * uint64(i+1), Bytes: b * uint64(i+1)}
		}
		return v
	}
	put := func(mm *ebpf.Map, k uint32, v any) {
		t.Helper()
		if err := mm.Put(k, v); err != nil {
			t.Fatal(err)
		}
	}
	put(m.Config, 0, bpf.DorivoAgentConfig{UdpPort: 7001, TcpPort: 7002, NumLoops: 2, AclEnabled: 1, XdpMode: uint32(bpf.DorivoXdpModeXDP_MODE_GENERIC), Ifindex: 5})
	put(m.XdpStats, uint32(bpf.DorivoXdpReasonXDP_R_PASS_UDP), perCPU(10, 1000))
	put(m.XdpStats, uint32(bpf.DorivoXdpReasonXDP_R_DROP_QUOTA), perCPU(3, 90))
	put(m.TcStats, uint32(bpf.DorivoTcDirTC_EGRESS_UDP), perCPU(4, 400))
	rp := make([]uint64, ncpu)
	for i := range rp {
		rp[i] = 7
	}
	put(m.ReuseportStats, uint32(bpf.DorivoReuseportReasonRP_UDP_MISS), rp)
	tc := make([]bpf.DorivoTenantCounter, ncpu)
	for i := range tc {
		tc[i] = bpf.DorivoTenantCounter{Packets: 2, Bytes: 100, QuotaDrops: 1}
	}
	put(m.TenantStats, 42, tc)
	put(m.TenantStats, 16383, tc)
	return &m, ncpu
}

func TestReadSumsPerCPUAndNamesEverything(t *testing.T) {
	m, ncpu := loadMaps(t)
	tri := uint64(ncpu * (ncpu + 1) / 2) // 1+2+..+ncpu
	s, err := Read(FromObjects(m), map[uint16]string{42: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if s.XDPMode != "generic" || s.Ifindex != 5 || s.UDPPort != 7001 || s.TCPPort != 7002 || s.NumLoops != 2 || !s.ACLEnabled {
		t.Errorf("config part = %+v", s)
	}
	if len(s.XDP) != int(bpf.DorivoXdpReasonXDP_R_MAX) {
		t.Fatalf("%d xdp reasons, want %d", len(s.XDP), bpf.DorivoXdpReasonXDP_R_MAX)
	}
	if got := s.XDPByReason("pass_udp"); got != (Counter{10 * tri, 1000 * tri}) {
		t.Errorf("pass_udp = %+v", got)
	}
	if got := s.XDPByReason("drop_quota"); got != (Counter{3 * tri, 90 * tri}) {
		t.Errorf("drop_quota = %+v", got)
	}
	if got := s.XDPByReason("drop_acl"); got != (Counter{}) {
		t.Errorf("drop_acl = %+v", got)
	}
	if tc := s.TC[bpf.DorivoTcDirTC_EGRESS_UDP]; tc.Direction != "egress" || tc.Proto != "udp" || tc.Packets != 4*tri {
		t.Errorf("tc egress udp = %+v", tc)
	}
	if rp := s.Reuseport[bpf.DorivoReuseportReasonRP_UDP_MISS]; rp.Proto != "udp" || rp.Result != "miss" || rp.Count != 7*uint64(ncpu) {
		t.Errorf("reuseport udp miss = %+v", rp)
	}
	n := uint64(ncpu)
	want := []TenantCount{
		{Slot: 42, Tenant: "acme", Packets: 2 * n, Bytes: 100 * n, QuotaDrops: n},
		{Slot: 16383, Packets: 2 * n, Bytes: 100 * n, QuotaDrops: n},
	}
	if len(s.Tenants) != 2 || s.Tenants[0] != want[0] || s.Tenants[1] != want[1] {
		t.Errorf("tenants = %+v, want %+v", s.Tenants, want)
	}

	var tbl bytes.Buffer
	if err := s.WriteTable(&tbl); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"xdp mode  generic", "drop_quota", "acme", "16383"} {
		if !strings.Contains(tbl.String(), line) {
			t.Errorf("table lacks %q:\n%s", line, tbl.String())
		}
	}
	var js bytes.Buffer
	if err := s.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Snapshot
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Tenants[0] != want[0] || back.XDPByReason("pass_udp") != s.XDPByReason("pass_udp") {
		t.Errorf("JSON round trip lost data:\n%s", js.String())
	}
	if testing.Verbose() {
		os.Stdout.Write(tbl.Bytes())
	}
}

func TestOpenPinnedWithoutAgent(t *testing.T) {
	testenv.RequireRoot(t)
	dir := t.TempDir()
	_, err := OpenPinned(dir)
	if err == nil || err.Error() != "no pinned maps under "+dir+": is the agent running?" {
		t.Fatalf("OpenPinned(empty dir) = %v", err)
	}
}

// BenchmarkRead measures one full read (what a status call or a scrape
// costs): 14+4+5 small per-CPU lookups and one batch over 16384 slots.
func BenchmarkRead(b *testing.B) {
	m, _ := loadMaps(b)
	maps := FromObjects(m)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Read(maps, nil); err != nil {
			b.Fatal(err)
		}
	}
}
