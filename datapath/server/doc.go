// Package server is the I/O shell of Dorivo's datapath: one gnet engine per
// event loop, serving RESP over TCP and the datagram protocol
// (docs/protocol.md) over UDP, each loop feeding a state machine of
// package core (datapath/core) and moving its outputs to the sockets.
//
// What lives here:
//   - engines and steering (server.go, loop.go): loop i is a gnet engine
//     with one event loop (WithNumEventLoop(1), WithReusePort(true),
//     WithLockOSThread(true)) on the TCP and the UDP address; its OnBoot
//     puts both listeners at index i of the bpf sockarrays, and loop 0
//     attaches reuseport_select to both groups. Engines start in order, so
//     the groups' own order is the loop order too;
//   - pinning (loop.go boot): gnet has no per-loop start hook, so each
//     loop's first callback is a bootstrap connection, whose OnOpen pins
//     the thread and records the loop's handle for the doorbell;
//   - the doorbell: a ring of the core's doorbell runs Drain on the loop
//     through EventLoop.Execute, and every input is followed by flush;
//   - the store's goroutines: cold-value readers (cold.go) and the reload
//     of a loop whose keyspace diverged from the store (durable.go).
//
// Routing, reply order, cross-loop transactions, WATCH, durability and
// cold values are the core's; its files say how each works.
package server
