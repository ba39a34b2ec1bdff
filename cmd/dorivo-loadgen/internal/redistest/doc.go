// Package redistest starts private redis-server instances for the load
// generator's tests: a real peer, never a mock, on a free loopback port,
// without persistence, killed when the test ends.
package redistest
