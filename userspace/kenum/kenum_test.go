package kenum

import (
	"testing"

	"github.com/dorivo/dorivo/bpf"
)

func TestNamesFollowTheGeneratedConstants(t *testing.T) {
	x := XDPReason()
	if x.Max != uint64(bpf.DorivoXdpReasonXDP_R_MAX) {
		t.Fatalf("xdp_reason Max = %d, want %d", x.Max, bpf.DorivoXdpReasonXDP_R_MAX)
	}
	for v, want := range map[uint64]string{
		uint64(bpf.DorivoXdpReasonXDP_R_PASS_OTHER): "pass_other",
		uint64(bpf.DorivoXdpReasonXDP_R_DROP_QUOTA): "drop_quota",
		uint64(bpf.DorivoXdpReasonXDP_R_DROP_ACL):   "drop_acl",
		99: "unknown_99",
	} {
		if got := x.Name(v); got != want {
			t.Errorf("xdp_reason %d = %q, want %q", v, got, want)
		}
	}
	if got := TCDir().Name(uint64(bpf.DorivoTcDirTC_EGRESS_UDP)); got != "egress_udp" {
		t.Errorf("tc_dir egress udp = %q", got)
	}
	if got := ReuseportReason().Max; got != uint64(bpf.DorivoReuseportReasonRP_MAX) {
		t.Errorf("reuseport_reason Max = %d", got)
	}
	m := XDPMode()
	if got := m.Name(uint64(bpf.DorivoXdpModeXDP_MODE_NATIVE)); got != "native" {
		t.Errorf("xdp_mode native = %q", got)
	}
	if m.Max != 3 {
		t.Errorf("xdp_mode without _MAX: Max = %d, want largest+1 = 3", m.Max)
	}
}

func TestUnknownEnum(t *testing.T) {
	if _, err := Lookup("no_such_enum", ""); err == nil {
		t.Fatal("Lookup of a missing enum succeeded")
	}
}
