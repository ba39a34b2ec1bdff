// Package metrics exports Dorivo's BPF counters to Prometheus.
//
// The collector reads the per-CPU maps at scrape time and sums them
// (research/obs.md §3, Cilium's pattern): the kernel counts lock-free per
// CPU and nobody pays for aggregation between scrapes. Every index is
// labelled with its C enum name (via userspace/stats and kenum), so a
// reason added in bpf/dorivo.h becomes a new label value with no Go change.
// Only tenant slots with traffic are exported, which keeps the series count
// proportional to active tenants, not to the 16384 slots.
package metrics
