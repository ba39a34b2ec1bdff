// Command dorivo-loadgen drives load at a Dorivo agent, or any Redis-compatible
// server, over RESP/TCP or Dorivo's datagram protocol, and reports
// throughput and latency quantiles per operation.
//
// It runs closed loop (each connection keeps --pipeline requests in flight)
// or open loop (--rate: requests on a fixed schedule, latency measured from
// the scheduled time so that server stalls are not hidden by the client
// waiting: coordinated omission is corrected). --record logs every
// acknowledged write; --verify reads them all back later and reports writes
// the store lost or changed.
//
// Exit codes: 0 success, 1 target unreachable, a connection failed during
// the run (reset, closed, timed out; the report lists them under
// "connection error"), or another run failure, 2 bad flags, 3 verification
// found missing or wrong keys.
package main
