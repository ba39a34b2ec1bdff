// Package dgram is a small client of Dorivo's datagram protocol
// (docs/protocol.md): GET, SET and DEL of one tenant's keys over UDP,
// signed with the tenant's key (v2) so that the node's XDP program admits
// them, and with every reply's MAC checked, so that a forged or replayed
// reply is never taken for the node's.
//
// A Client serves one tenant: every key must carry the tenant's tag as its
// hash tag ({acme}:user:1 for tenant acme), since the tag is what the node
// authenticates and steers by. Datagrams are lossy: each call sends up to
// Options.Attempts requests, each freshly timestamped and signed, and
// takes the first valid reply to any of them. A Client runs one request
// at a time; use one per goroutine for parallelism.
package dgram
