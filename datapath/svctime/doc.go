// Package svctime keeps an event loop's service-time histograms, one per
// command class, in fixed buckets of atomics. The loop is the only writer
// (Observe is a load and a store per field: no lock, no allocation, no
// contended cache line); a scraper on any goroutine reads a Snapshot and
// merges the loops' snapshots (Merge) at scrape time.
//
// Buckets are powers of four from 250 ns to about 1 s (Bounds), which
// keeps one histogram at 13 buckets while p99 stays within a factor of
// four.
package svctime
