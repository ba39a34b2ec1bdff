// Package stats reads Dorivo's BPF counters into a Snapshot: per-CPU
// values summed, every index named after its C enum member (via kenum),
// and tenant slots named when the configuration knows their tag.
//
// The same Snapshot backs `dorivo status` (a table or JSON, read from the
// pinned maps with no agent needed) and the Prometheus collectors in
// userspace/metrics, so the two can never disagree on what a counter is.
package stats
