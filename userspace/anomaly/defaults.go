package anomaly

// DefaultSeries are the key series the agent watches, over the metric
// names userspace/metrics, userspace/collect and the Go collector export.
// Floors are in each series' unit and are the smallest change worth a
// page at 3 sigma. Series whose family is not registered simply produce
// no samples (Report shows Samples 0).
func DefaultSeries() []Series {
	ms := func(x float64) float64 { return x / 1e3 }
	s := []Series{
		Rate("loop_drops", "dorivo_loop_drops_total", nil).With(Above, 1, 0),
		Rate("loop_stalls", "dorivo_loop_stalls_total", nil).With(Above, 1, 0),
		Rate("xdp_drops", "dorivo_xdp_packets_total", map[string]string{"reason": "drop_*"}).With(Above, 5, 0),
		Rate("quota_drops", "dorivo_tenant_quota_drops_total", nil).With(Above, 5, 0),
		Rate("store_failed", "dorivo_store_failed_total", nil).With(Above, 0.1, 0),
		Rate("store_rejected", "dorivo_store_rejected_total", nil).With(Above, 1, 0),
		Ratio("disk_flush_latency",
			Selector{"dorivo_disk_op_seconds_total", map[string]string{"op": "flush"}},
			Selector{"dorivo_disk_ops_total", map[string]string{"op": "flush"}}).With(Above, ms(0.5), 0),
		Ratio("disk_write_latency",
			Selector{"dorivo_disk_op_seconds_total", map[string]string{"op": "write"}},
			Selector{"dorivo_disk_ops_total", map[string]string{"op": "write"}}).With(Above, ms(0.5), 0),
		Quantile("store_fsync_p99", "dorivo_store_fsync_seconds", nil, 0.99).With(Above, ms(2), 0.25),
		Quantile("loop_service_p99", "dorivo_loop_service_seconds", nil, 0.99).With(Above, ms(1), 0.5),
		Quantile("gc_pause_p99", "go_sched_pauses_total_gc_seconds", nil, 0.99).With(Above, ms(0.1), 0),
		Quantile("sched_latency_p99", "go_sched_latencies_seconds", nil, 0.99).With(Above, ms(0.1), 0),
		Rate("cpu_steal", "dorivo_node_cpu_seconds_total", map[string]string{"mode": "steal"}).With(Above, 0.01, 0),
		Rate("cpu_pressure", "dorivo_node_pressure_stalled_seconds_total", map[string]string{"resource": "cpu", "kind": "some"}).With(Above, 0.02, 0),
		Rate("memory_pressure", "dorivo_node_pressure_stalled_seconds_total", map[string]string{"resource": "memory", "kind": "some"}).With(Above, 0.01, 0),
		Rate("io_pressure", "dorivo_node_pressure_stalled_seconds_total", map[string]string{"resource": "io", "kind": "some"}).With(Above, 0.02, 0),
		Deriv("memory_growth", "process_resident_memory_bytes", nil).With(Above, 1<<20, 0),
		Rate("tcp_listen_overflows", "dorivo_node_tcp_listen_overflows_total", nil).With(Above, 0.2, 0),
		Rate("udp_receive_buffer_errors", "dorivo_node_udp_receive_buffer_errors_total", nil).With(Above, 5, 0),
	}
	help := map[string]string{
		"loop_drops":                "Malformed datagrams or cross-loop forwards refused for ring room: check clients and loop balance (dorivo_loop_drops_total by loop).",
		"loop_stalls":               "Connections paused by backpressure: a loop is saturated (dorivo_loop_* by loop, CPU).",
		"xdp_drops":                 "XDP dropped more packets (dorivo_xdp_packets_total by reason: ACL, quota, malformed, forged).",
		"quota_drops":               "Tenants hit their token buckets (dorivo_tenant_quota_drops_total by slot).",
		"store_failed":              "Durable writes failing after acceptance: check disk and the store log.",
		"store_rejected":            "Writes refused up front: disk full or store overloaded.",
		"disk_flush_latency":        "Mean cache-flush (fsync) time on the data dir's device rose.",
		"disk_write_latency":        "Mean write time on the data dir's device rose.",
		"store_fsync_p99":           "The store's raft log fsyncs got slower: every durable write waits for one (check the data dir's disk, dorivo_store_fsync_seconds).",
		"loop_service_p99":          "Event loops take longer per request: hot keys, large values or a saturated CPU (dorivo_loop_service_seconds by class, dorivo_loop_busy_seconds_total by loop).",
		"gc_pause_p99":              "Go GC stop-the-world pauses grew: heap growth or GOGC/GOMEMLIMIT pressure.",
		"sched_latency_p99":         "Goroutines wait longer to run: the agent is short of CPU.",
		"cpu_steal":                 "The hypervisor is taking CPU time from this VM.",
		"cpu_pressure":              "Tasks are stalled waiting for CPU (PSI).",
		"memory_pressure":           "Tasks are stalled on memory reclaim (PSI).",
		"io_pressure":               "Tasks are stalled on I/O (PSI).",
		"memory_growth":             "The agent's RSS grows faster than usual.",
		"tcp_listen_overflows":      "Accept queues overflow: connections are dropped before the loops see them.",
		"udp_receive_buffer_errors": "UDP datagrams dropped for full socket buffers: loops fall behind.",
	}
	for i := range s {
		s[i].Help = help[s[i].Name]
	}
	return s
}
