// Package transport carries raft messages between Dorivo nodes over gRPC
// streams, in CockroachDB's pattern: one long-lived stream per ordered node
// pair for raft traffic, and a separate connection with one stream per
// snapshot.
//
// Send queues a message for a destination node without blocking; Flush
// (called once per loop iteration, after a round of Sends) wakes each peer's
// sender, which writes everything queued for that peer as one batch frame.
// MsgHeartbeat and MsgHeartbeatResp of all groups in one flush are coalesced
// into one compact block and fanned back out into identical raftpb.Messages
// at the receiver. A full per-peer queue drops and counts: raft retries.
//
// Frames are hand-encoded with protowire (there is no protoc here); raftpb
// messages inside them are plain proto.Marshal output. A peer that sends a
// malformed frame has its stream closed and counted, never a panic. Mutual
// TLS is optional (WithTLSFiles). Stats returns a per-peer snapshot of
// connection state and counters for /metrics and `dorivo status`.
package transport
