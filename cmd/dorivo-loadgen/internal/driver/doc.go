// Package driver runs the load: it dials the target, gives each connection
// a workload.Picker for its key scope, and drives requests in closed or open
// loop over RESP/TCP or the datagram protocol, recording into stats.
//
// Each connection has at most Pipeline requests in flight, and a writer
// and a reader goroutine; a closed-loop datagram socket has one goroutine
// for both, sending with sendmmsg(2) and reading with recvmmsg(2) (udp.go).
// A connection that fails (reset, closed, timed out, refused) is counted
// once in the report's connection errors, which fail the run. Closed loop keeps Pipeline requests in flight at all
// times. Open loop sends on a fixed schedule (Rate spread evenly over the
// connections) while fewer than Pipeline are in flight; when the server
// stalls, sends wait, and their latency still counts from the scheduled
// time (see package stats), so the stall is charged to every request it
// delayed.
//
// Shard-aware TCP binds each connection's source port p so that
// slot.PortOwner(p, Loops) = (p>>1) % Loops is the event loop owning all the
// keys the connection sends:
// the kernel's sk_reuseport program then delivers it to that loop and no
// request crosses loops.
package driver
