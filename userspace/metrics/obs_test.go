package metrics

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/dorivo/dorivo/breaker"
	"github.com/dorivo/dorivo/datapath/server"
	"github.com/dorivo/dorivo/datapath/svctime"
	"github.com/dorivo/dorivo/shardstore/durable"
)

// gatherText renders reg in the text format.
func gatherText(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			labels := ""
			for _, l := range m.GetLabel() {
				labels += fmt.Sprintf("%s=%q,", l.GetName(), l.GetValue())
			}
			switch {
			case m.Histogram != nil:
				h := m.GetHistogram()
				fmt.Fprintf(&b, "%s{%s} count=%d sum=%g", mf.GetName(), labels, h.GetSampleCount(), h.GetSampleSum())
				for _, bk := range h.GetBucket() {
					fmt.Fprintf(&b, " %g:%d", bk.GetUpperBound(), bk.GetCumulativeCount())
				}
				b.WriteString("\n")
			case m.Counter != nil:
				fmt.Fprintf(&b, "%s{%s} %g\n", mf.GetName(), labels, m.GetCounter().GetValue())
			default:
				fmt.Fprintf(&b, "%s{%s} %g\n", mf.GetName(), labels, m.GetGauge().GetValue())
			}
		}
	}
	return b.String()
}

func wantLines(t *testing.T, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w+"\n") && !strings.Contains(got, w+" ") {
			t.Errorf("missing %q in\n%s", w, got)
		}
	}
}

// The loops' histograms are merged per class; busy time and ring depth
// stay per loop; a loop without rings exports no depth.
func TestServiceCollector(t *testing.T) {
	var a, b svctime.Set
	a[svctime.Read].Observe(3_000)
	a[svctime.Read].Observe(900)
	b[svctime.Read].Observe(5_000_000)
	b[svctime.Write].Observe(20_000)
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewServiceCollector(
		func() []svctime.SetSnap { return []svctime.SetSnap{a.Snapshot(), b.Snapshot()} },
		func() []server.RingDepth { return []server.RingDepth{{Depth: 3, Capacity: 1024}, {}} }))
	got := gatherText(t, reg)
	wantLines(t, got,
		`dorivo_loop_service_seconds{class="read",} count=3 sum=0.0050039 2.5e-07:0 1e-06:1 4e-06:2 1.6e-05:2 6.4e-05:2 0.000256:2 0.001024:2 0.004096:2 0.016384:3`,
		`dorivo_loop_service_seconds{class="write",} count=1 sum=2e-05 2.5e-07:0 1e-06:0 4e-06:0 1.6e-05:0 6.4e-05:1`,
		`dorivo_loop_service_seconds{class="admin",} count=0 sum=0`,
		`dorivo_loop_busy_seconds_total{loop="0",} 3.9e-06`,
		`dorivo_loop_busy_seconds_total{loop="1",} 0.00502`,
		`dorivo_loop_ring_depth{loop="0",} 3`,
		`dorivo_loop_ring_capacity{loop="0",} 1024`)
	if strings.Contains(got, `ring_depth{loop="1"`) {
		t.Errorf("a loop without rings exports a depth:\n%s", got)
	}
	lintRegistry(t, reg)
}

// lintRegistry runs client_golang's linter (the rules promtool check
// metrics applies) over reg.
func lintRegistry(t *testing.T, reg *prometheus.Registry) {
	t.Helper()
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestStoreObsCollector(t *testing.T) {
	var ss durable.SyncStats
	ss.Latency.Counts[0], ss.Latency.Counts[3], ss.Latency.Counts[durable.NumSyncBuckets] = 2, 1, 1
	ss.Latency.Sum = 9.5
	ss.Entries.Counts[4] = 4
	ss.Entries.Sum = 60
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewStoreObsCollector(func() durable.SyncStats { return ss }, func() []durable.RaftStatus {
		return []durable.RaftStatus{
			{Shard: 0, ID: 1, Leader: 1, Term: 6, Commit: 40, Applied: 38, LeaderChanges: 2},
			{Shard: 1, ID: 1, Leader: 2, Term: 7, Commit: 11, Applied: 11},
			{Shard: 2, ID: 1, Leader: 0, Term: 9},
		}
	}))
	got := gatherText(t, reg)
	wantLines(t, got,
		`dorivo_store_fsync_seconds{} count=4 sum=9.5 6.4e-05:2 0.000128:2 0.000256:2 0.000512:3`,
		`dorivo_store_fsync_entries{} count=4 sum=60 1:0 2:0 4:0 8:0 16:4`,
		`dorivo_raft_is_leader{shard="0",} 1`, `dorivo_raft_is_leader{shard="1",} 0`,
		`dorivo_raft_has_leader{shard="1",} 1`, `dorivo_raft_has_leader{shard="2",} 0`,
		`dorivo_raft_term{shard="1",} 7`, `dorivo_raft_commit_index{shard="0",} 40`,
		`dorivo_raft_applied_index{shard="0",} 38`, `dorivo_raft_leader_changes_total{shard="0",} 2`)
	lintRegistry(t, reg)
}

// A real breaker, opened by failures: the one-hot state, the transition
// counts, the rates and the rejected calls follow it.
func TestBreakerCollector(t *testing.T) {
	b, err := breaker.New("peer-2", breaker.Config{WindowSize: 4, MinimumCalls: 4, OpenWait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	idle, _ := breaker.New("disk", breaker.Config{})
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewBreakerCollector(func() []*breaker.Breaker { return []*breaker.Breaker{b, idle} }))
	fail := errors.New("timeout")
	for _, e := range []error{nil, fail, fail, fail} {
		b.Record(time.Millisecond, e)
	}
	b.Allow()
	b.Allow()
	got := gatherText(t, reg)
	wantLines(t, got,
		`dorivo_breaker_state{breaker="peer-2",state="open",} 1`,
		`dorivo_breaker_state{breaker="peer-2",state="closed",} 0`,
		`dorivo_breaker_state{breaker="disk",state="closed",} 1`,
		`dorivo_breaker_transitions_total{breaker="peer-2",state="open",} 1`,
		`dorivo_breaker_failure_rate_percent{breaker="peer-2",} 75`,
		`dorivo_breaker_failure_rate_percent{breaker="disk",} -1`,
		`dorivo_breaker_window_calls{breaker="peer-2",kind="failed",} 3`,
		`dorivo_breaker_not_permitted_calls_total{breaker="peer-2",} 2`)
	if !strings.Contains(got, `dorivo_breaker_retry_after_seconds{breaker="peer-2",} 59`) && !strings.Contains(got, `dorivo_breaker_retry_after_seconds{breaker="peer-2",} 60`) {
		t.Errorf("retry after not about a minute:\n%s", got)
	}
	lintRegistry(t, reg)
}
