// Package server runs Dorivo's datapath: one gnet engine per event loop, each
// loop owning the keyspace of its hash slots as an actor (no locks), serving
// RESP2 over TCP and the datagram protocol (docs/protocol.md) over UDP, with
// the kernel steering each request to the owner loop where it can.
//
// Engines. Loop i is its own gnet engine with one event loop
// (WithNumEventLoop(1), WithReusePort(true), WithLockOSThread(true)) started
// with gnet.Rotate on two addresses, the TCP and the UDP one. One engine per
// loop, not one per protocol: a loop owns its slots' keys, and a datagram
// and a TCP request for the same slot must reach the same goroutine, so the
// TCP and UDP listeners of loop i must be served by the same loop. With N
// single-loop engines every listener is created before its engine's OnBoot,
// so OnBoot can Engine.DupListener both sockets and put them at index i of
// the TCP and UDP REUSEPORT_SOCKARRAYs (bpf.DorivoMaps.TcpSockets and
// UdpSockets); engine 0 attaches the reuseport_select program to both
// groups with SO_ATTACH_REUSEPORT_EBPF. Without maps the server still works
// and the kernel hashes flows over the loops. Engines start in order, each
// after the previous one booted, so the groups' internal order is the loop
// order too.
//
// Pinning. gnet has no per-loop start hook; the first thing the server does
// on each loop is a bootstrap: after the engine starts it registers a
// connection to a private loopback listener with Engine.Register, whose
// OnOpen runs on the loop thread (locked by WithLockOSThread). There the loop
// pins itself to CPU i mod NumCPU and records its gnet.EventLoop handle,
// which the rings' doorbells need. Start returns once every loop did this.
//
// Cross-loop work. Every ordered pair of loops (i, j) has a request ring
// i->j and a reply ring j->i, each with a byte arena (package ring). A loop
// sends a request only when it holds a credit for the peer (fewer requests
// in flight than the reply ring's capacity), so the owner can always push
// the reply and never has to wait or drop. A connection whose request finds
// no credit (or no arena room) stalls: its unparsed bytes stay in gnet's
// inbound buffer and it is resumed, on its own loop, when replies return
// credits. gnet reads a stalled socket anyway (it offers no way to stop
// reading a connection), so the inbound buffer is bounded by
// MaxQueryBuffer, past which the client is closed as Redis closes a client
// over client-query-buffer-limit. Publishing is batched: a loop stages
// messages while it works through a read and flushes each touched ring
// once at the end, and the doorbell (one EventLoop.Execute) is rung only
// when the peer has not been woken since it last drained.
//
// Reply order. Each connection has a bounded queue of reply slots in request
// order; a local reply goes straight to the output when nothing is pending
// before it, otherwise into its slot; remote replies fill their slots when
// they return; the filled prefix is written in order. A command whose keys
// span loops (MGET, MSET, DEL, UNLINK, EXISTS, TOUCH) is split per owner
// and merged in its slot. DBSIZE, FLUSHALL/FLUSHDB and KEYS go to every
// loop. SCAN runs on the owner of its cursor's slot and hands over to the
// next loop's range when that loop is done (cursors are slot<<32|position);
// RANDOMKEY sees the connection's loop only.
//
// Atomicity across loops follows Redis Cluster, the model cluster-aware
// clients already code against: a command or transaction is atomic when
// its keys share a hash tag (one slot, so one loop: the loop runs it alone,
// between two other requests). Where Redis Cluster refuses keys in several
// slots with CROSSSLOT, Dorivo accepts the commands that are well defined
// part by part (MSET, MGET, DEL, EXISTS, ...): each loop applies its part
// atomically, and the reply leaves only after every part was applied, but
// a concurrent reader may see one loop's part before another's. Commands
// whose meaning needs all keys at once (MSETNX, RENAME, ...) and MULTI/EXEC
// whose keys span loops are refused (CROSSSLOT, EXECABORT), never run half.
// A cross-loop two-phase commit (hold keys on every owner, apply on
// commit) would make MSET atomic too, but every cross-loop MGET would then
// have to take the same holds; it is left for when a client needs it.
//
// Sessions. A remote loop runs forwarded requests with its own scratch
// session per peer: forwarded requests carry no per-client state. Requests
// that need the client's session (a non-default or unauthenticated user,
// MULTI/EXEC, WATCH) instead hand the session over: the connection stops
// parsing until the reply comes back, so the session has one user at a time.
//
// UDP. A datagram is served on the loop the kernel delivered it to when that
// loop owns its slot. Otherwise (no steering program, or the table changed)
// it is counted as non-owner and forwarded to the owner, which replies from
// its own UDP socket (same address and port) so the client sees one server.
// With the program attached the non-owner count stays zero.
package server
