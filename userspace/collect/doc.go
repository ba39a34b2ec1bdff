// Package collect exports the node's and the agent's own health to
// Prometheus: CPU time by mode, load and PSI; memory, page faults and
// reclaim; the data directory's block device and free space; network
// interfaces, softirqs, softnet and the TCP/UDP error counters; the agent
// process's threads, context switches, faults and run-queue wait; Go
// runtime figures the standard Go collector leaves out; and hardware
// counters through perf_event_open (research/obs.md §3–4).
//
// Reads happen when someone gathers (a scrape or the anomaly detector) and
// are cached for MaxAge, so nothing wakes up while nobody looks and two
// readers within MaxAge share one pass over /proc. Every source is
// optional: one that cannot be read shows as dorivo_collect_source_up 0
// and its series are left out, never exported as zeros.
package collect
