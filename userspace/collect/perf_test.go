package collect

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"
)

// On a machine without a PMU (this VM: /sys/bus/event_source/devices has no
// "cpu") every hardware event is reported unavailable with its errno and
// no counter series exist; with a PMU they are available and count.
func TestPerfHardware(t *testing.T) {
	// A PMU shows in sysfs with a cycles event (x86 "cpu", hybrid "cpu_core", Arm "armv8_pmuv3_0").
	pmus, _ := filepath.Glob("/sys/bus/event_source/devices/*/events/cpu[-_]cycles")
	hasPMU := len(pmus) > 0
	p := NewPerf()
	defer p.Close()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(p)
	s := scrape(t, reg)
	for _, ev := range hardwareEvents {
		var avail []string
		for k, v := range s {
			if strings.HasPrefix(k, `dorivo_perf_available{event="`+ev.name+`"`) {
				avail = append(avail, k)
				if hasPMU && v != 1 || !hasPMU && v != 0 {
					t.Errorf("%s = %v, PMU present: %v", k, v, hasPMU)
				}
			}
		}
		if len(avail) != 1 {
			t.Fatalf("%s: availability series %v", ev.name, avail)
		}
		counters := 0
		for k := range s {
			if strings.HasPrefix(k, "dorivo_perf_"+ev.name+"_total") {
				counters++
			}
		}
		if !hasPMU {
			if !strings.Contains(avail[0], `reason="ENOENT`) && !strings.Contains(avail[0], `reason="EOPNOTSUPP`) && !strings.Contains(avail[0], `reason="ENODEV`) {
				t.Errorf("no PMU but reason is %s", avail[0])
			}
			if counters != 0 {
				t.Errorf("%s: %d counter series without a PMU (fake zeros)", ev.name, counters)
			}
		} else if counters == 0 {
			t.Errorf("%s: PMU present but no counters", ev.name)
		}
	}
}

// The read path (open per CPU, read value/enabled/running, scale) on a
// software event every kernel has: cpu-clock counts nanoseconds on each CPU.
func TestPerfReadsSoftwareEvent(t *testing.T) {
	cpus, err := onlineCPUs("/sys/devices/system/cpu/online")
	if err != nil {
		t.Fatal(err)
	}
	ev := perfEvent{"cpu_clock", unix.PERF_TYPE_SOFTWARE, unix.PERF_COUNT_SW_CPU_CLOCK,
		prometheus.NewDesc("dorivo_perf_cpu_clock_ns_total", "test", []string{"cpu"}, nil)}
	p := newPerf([]perfEvent{ev}, cpus, nil)
	defer p.Close()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(p)
	a := scrape(t, reg)
	if v := mustGet(t, a, `dorivo_perf_available{event="cpu_clock",reason=""}`); v != 1 {
		t.Fatalf("cpu-clock unavailable: %v", a)
	}
	time.Sleep(50 * time.Millisecond)
	b := scrape(t, reg)
	for _, c := range cpus {
		k := `dorivo_perf_cpu_clock_ns_total{cpu="` + strconv.Itoa(c) + `"}`
		if d := mustGet(t, b, k) - mustGet(t, a, k); d < 40e6 {
			t.Errorf("%s grew %v ns over 50 ms", k, d)
		}
	}
	p.Close()
	if n := len(scrape(t, reg)); n != 1 {
		t.Errorf("%d series after Close, want only availability", n)
	}
}
