package metrics

import (
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dorivo/dorivo/shardstore/durable"
)

// Every store counter is exported under its name with the store's value,
// and the disk-full gauge follows DiskError.
func TestStoreCollector(t *testing.T) {
	st := durable.Stats{Proposals: 7, Rejected: 4, Acked: 6, Failed: 1, Entries: 12, Batches: 5, Fsyncs: 3, Stalls: 2, Reads: 9, CacheHits: 8}
	var diskErr error = errors.New("no space left on device")
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewStoreCollector(func() durable.Stats { return st }, func() error { return diskErr }))
	want := map[string]float64{
		"dorivo_store_proposals_total": 7, "dorivo_store_rejected_total": 4, "dorivo_store_acked_total": 6,
		"dorivo_store_failed_total": 1, "dorivo_store_entries_total": 12, "dorivo_store_batches_total": 5,
		"dorivo_store_fsyncs_total": 3, "dorivo_store_disk_stalls_total": 2, "dorivo_store_disk_full": 1,
		"dorivo_store_reads_total": 9, "dorivo_store_cache_hits_total": 8,
	}
	check := func() {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		for _, mf := range mfs {
			m := mf.GetMetric()[0]
			if c := m.GetCounter(); c != nil {
				got[mf.GetName()] = c.GetValue()
			} else {
				got[mf.GetName()] = m.GetGauge().GetValue()
			}
		}
		if len(got) != len(want) {
			t.Fatalf("gathered %v, want %v", got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %v, want %v", k, got[k], v)
			}
		}
	}
	check()
	diskErr, want["dorivo_store_disk_full"] = nil, 0
	check()
}
