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
// pins itself to the i-th CPU (mod their count) of the affinity mask New
// found, and records its gnet.EventLoop handle, which the rings' doorbells
// need. Start returns once every loop did this.
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
// they return; the filled prefix is written in order. DBSIZE,
// FLUSHALL/FLUSHDB and KEYS go to every loop and merge in their slot. SCAN
// runs on the owner of its cursor's slot and hands over to the next loop's
// range when that loop is done (cursors are slot<<32|position); RANDOMKEY
// sees the connection's loop only.
//
// Atomicity across loops. A command or MULTI/EXEC whose keys share one loop
// runs there whole, between two other requests, with no extra cost. One
// whose keys (or WATCHed keys) span loops is just as atomic: it runs as a
// cross-loop transaction (xtx.go) with ordered two-phase holds. The
// connection's loop coordinates; it visits the involved loops in ascending
// index, one at a time, and each places holds on the keys it owns (all or
// none; if one is held, the prepare waits in that loop's FIFO wait list,
// and later prepares do not overtake it on the keys it wants),
// checks the connection's watches there and, for MSETNX, whether a key
// exists. The last loop of the order decides for itself (everything
// before it is prepared and clean) and commits at once; the coordinator
// then sends commit, or abort, to the others, each running its part of the
// commands in command order under the holds and releasing them. When
// nothing can abort the transaction (no WATCH, not MSETNX), each loop runs
// its part as soon as its holds are in place (nobody can see those keys
// until the release, so this is as good as running at the commit), the
// reply leaves once the last loop ran, and the commit only releases: with
// the coordinator's loop involved that is one round trip. Replies are
// merged into one reply in command order: commands inside MULTI get their
// reply from their owner loop, multi-key ones spanning loops (MSET, MGET,
// DEL, EXISTS, UNLINK, TOUCH) are split per loop and merged, keyless ones
// (PING, ECHO, CLIENT ...) run on the coordinator. MSETNX inside a
// cross-loop MULTI replies CROSSSLOT (its meaning needs every loop's answer
// before any loop writes); a top-level cross-loop MSETNX is all or
// nothing. Holds are taken in one global order, so waiting transactions
// never form a cycle (no deadlock); a loop never waits: a prepare that
// must wait is parked, not spun on.
//
// Cross-loop MGET, EXISTS, DEL, UNLINK and TOUCH take holds too: without
// them an MGET could see one loop before a concurrent transaction and
// another after it, and MSET would be visible half-applied. The cost: such
// a command visits its loops one after the other instead of in parallel
// (about one extra round trip per loop past the first), and its connection
// reads no further request until it completes (nor starts it before its
// earlier requests have replied: the transaction travels on other rings
// and must not overtake them). Same-tag commands, the fast path that
// cluster-aware clients use, are unaffected.
//
// Waiting for holds never blocks a loop. A request touching a held key
// waits: a local connection stalls (its bytes stay in gnet's buffer and it
// is retried when holds are released); a request from another loop (or a
// datagram) is parked in the loop's deferred queue, and so is every later
// request from the same loop while one is parked, which keeps each
// sender's order. The queue is bounded (Config.DeferCap); when it is full
// the loop stops reading that sender's ring, whose requests then wait in
// the ring, and the sender's connections stall for credit, exactly as when
// a ring is full. Transaction messages have their own rings (ctl), so a
// commit is never stuck behind a parked request. A loop coordinates at
// most ctl-ring-capacity transactions; each has at most one message in
// flight per peer, so ctl messages always find room. A client closing
// mid-transaction only loses the reply: the coordinator finishes (commits
// or aborts) what it started, so holds are always released. Not covered by
// holds: FLUSHALL/FLUSHDB, KEYS, DBSIZE and SCAN, which are not atomic
// across loops anyway, and keyless whole-keyspace commands inside a
// cross-loop MULTI, which see the coordinator's loop only.
//
// WATCH. The server keeps watches, not the session: a connection has one
// registration per loop owning keys it watches, with a keyspace Watcher of
// that loop's own, registered and dropped by messages in order with the
// connection's other requests to that loop (watch.go). EXEC checks them on
// their loops: in place for a transaction on one loop, in the prepare phase
// (the watched keys are held too) across loops. EXEC, DISCARD, UNWATCH and
// closing the connection unregister them on every loop touched.
//
// Sessions. A remote loop runs forwarded requests with its own scratch
// session per peer: forwarded requests carry no per-client state. Requests
// that need the client's session (a non-default or unauthenticated user,
// MULTI/EXEC on one remote loop) instead hand the session over: the
// connection stops parsing until the reply comes back, so the session has
// one user at a time. A cross-loop transaction never shares the session:
// the coordinator checks every queued command with it (ACL, as EXEC does)
// and the loops run their parts with sessions of their own.
//
// UDP. A datagram is served on the loop the kernel delivered it to when that
// loop owns its slot. Otherwise (no steering program, or the table changed)
// it is counted as non-owner and forwarded to the owner, which replies from
// its own UDP socket (same address and port) so the client sees one server.
// With the program attached the non-owner count stays zero.
//
// Durability (Config.Store, durable.go). The owner loop applies a write to
// its keyspace as without a store, proposes the write's mutation records to
// the store shard of their slots, and holds the reply until the store says
// the entry is committed (fsynced); the store calls back on its own
// goroutine, which only marks the loop's held entry done and rings the
// loop's doorbell, and the loop releases the reply into the connection's
// ordered reply queue, the reply ring of the loop that forwarded the
// request, or the datagram socket. In a cross-loop transaction every answer
// a participant sends the coordinator waits behind that loop's writes in
// flight, and the coordinator's reply behind its own, so the reply leaves
// once every part is durable (the transaction's keys stay held until
// then); a part's failed write turns that part's replies into errors. A
// store failure in one part cannot undo the parts other loops already made
// durable: the client gets an error, as for any write whose outcome is
// unknown. The loop never touches the disk. Read-your-writes holds on a
// connection (its GET after an un-acked SET is answered after the SET, with
// the new value); other clients may read a write before it is acknowledged,
// as with Redis's appendfsync always, where other clients run between a
// write and the fsync before its reply. Writes are refused with -ERR naming
// the disk problem while the store reports a full disk, before they touch
// the keyspace; reads go on. A write the store fails after the keyspace
// applied it (rare: the disk filled between that check and the proposal,
// an overloaded queue, a closing store) leaves the keyspace ahead of the
// disk: the loop then refuses writes, keeps serving reads, and reloads its
// keyspace from the store once the store takes writes again and its writes
// in flight are settled. That rule was chosen over restoring pre-images,
// which every write would have to capture (for EXEC and FLUSHALL, the whole
// keyspace) to serve a case that almost never happens. On start, New loads
// every shard's keys into the loop that owns their slot under the current
// table, so the loop count and table may change across restarts.
//
// Cold values (Config.HotValueBytes, cold.go). Keys and expiries always
// stay in the loops; values only within a memory budget. A loop over its
// share drops durable values, and a command touching such a cold key
// waits, like one touching a held key, while a fetcher goroutine reads the
// value through the store's read cache; the loop never reads the disk.
package server
