// Package core is the state machine of one Dorivo event loop, apart from
// its I/O, as etcd raft keeps RawNode apart from its transport. A Loop owns
// the keyspace of its hash slots and everything that waits on it; the
// shell (datapath/server) hands it parsed bytes, datagrams, doorbell drains
// and the clock, and moves out what it produces. It makes no syscalls and
// starts no goroutines, so several loops run in one test process by
// draining each other's rings (harness_test.go, testdata/loops).
//
// Where to read on:
//   - conn.go: a connection's requests, parsed once and routed by their
//     command's table entry (command.Route); the ordered reply queue;
//   - xloop.go, pack.go: requests crossing loops as packed arguments over
//     bounded rings, with credits so a reply always has room;
//   - locks.go, xtx.go: cross-loop transactions, two-phase with key locks
//     taken in loop order (no deadlock), and what waits on a locked key;
//   - watch.go: WATCH registrations on the loops owning the keys;
//   - unsynced.go: a write's reply waits for the store to sync it; every
//     reply path takes the write it waits for (type result);
//   - cold.go: values dropped under a memory budget and fetched back;
//   - datagram.go: datagrams run as GET, SET and DEL commands under their
//     tenant's user;
//   - clients.go: bounded client memory (output limits, pausing a client
//     that does not read), idle timeout, tenants' RESP quotas;
//   - client.go: CLIENT LIST, KILL, INFO and REPLY, LIST and KILL on every
//     loop.
//   - shed.go: slots a breaker sheds, answered -TRYAGAIN or UNAVAILABLE
//     from the loop's own copy of the agent's shed set.
package core
