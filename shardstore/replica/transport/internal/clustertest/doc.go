// Package clustertest tests scripts/cluster.sh: three agents in their own
// network namespaces, reachable from the host, with the inter-node delay, and
// nothing left behind by `down`. It needs root and runs (never skips) in CI.
package clustertest
