package stats

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/dorivo/dorivo/cmd/dorivo-loadgen/internal/workload"
)

func TestBuildMergesAndReports(t *testing.T) {
	var live Live
	a, b := NewRecorder(&live), NewRecorder(&live)
	for i := range 99 {
		a.OK(workload.Get, time.Millisecond, time.Duration(i)*time.Microsecond)
	}
	b.OK(workload.Get, 2*time.Second, time.Millisecond)
	b.Miss(workload.Get)
	b.OK(workload.Set, 90*time.Second, time.Millisecond) // clamped to 60 s
	b.Error(workload.Set, "ERR")
	a.Error(workload.Set, "ERR")
	a.Error(workload.Set, "timeout")
	if live.Done.Load() != 101 || live.Errors.Load() != 3 {
		t.Fatalf("live = %d done, %d errors", live.Done.Load(), live.Errors.Load())
	}
	rep := Build(Report{Target: "x", Proto: "resp", Mode: "open", RateRPS: 10}, []*Recorder{a, b}, 2*time.Second)
	if len(rep.Ops) != 2 || rep.Ops[0].Op != "GET" || rep.Ops[1].Op != "SET" {
		t.Fatalf("ops = %+v, want GET and SET only (MSET was not sent)", rep.Ops)
	}
	get, set := rep.Ops[0], rep.Ops[1]
	if get.Requests != 100 || get.Throughput != 50 || get.Misses != 1 {
		t.Errorf("GET = %+v", get)
	}
	if get.Latency.P50 < 0.999 || get.Latency.P50 > 1.001 || get.Latency.Max < 1999 || get.Latency.Max > 2001 {
		t.Errorf("GET latency = %+v, want p50 1 ms, max 2000 ms", get.Latency)
	}
	if set.Errors != 3 || set.ErrorKinds["ERR"] != 2 || set.ErrorKinds["timeout"] != 1 || set.Latency.Max < 59_000 {
		t.Errorf("SET = %+v", set)
	}
	if rep.Total.Requests != 101 || rep.Total.Errors != 3 {
		t.Errorf("total = %+v", rep.Total)
	}
	var tab bytes.Buffer
	if err := rep.WriteTable(&tab); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"open loop at 10 req/s", "ALL", "service time", "error SET ERR: 2", "error SET timeout: 1"} {
		if !strings.Contains(tab.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, tab.String())
		}
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Ops[1].ErrorKinds["ERR"] != 2 || back.Total.Latency.P50 != rep.Total.Latency.P50 {
		t.Errorf("JSON round trip lost data: %s", js.String())
	}
}
