package command

import "strings"

// READONLY and READWRITE, Redis Cluster's replica-read switches. A
// READONLY connection's reads of shards led by another node are served
// from this node's replica (the store's applied data), with no round trip
// to the leader: they may be stale, never dirty. Unlike Redis without
// cluster support, Dorivo accepts them on a single node too, where every
// read is local anyway.
func init() {
	cn := CatConnection
	def(nil, "readonly", 1, Loading|Stale|Fast, cn, 0, 0, 0, readonlyCmd)
	def(nil, "readwrite", 1, Loading|Stale|Fast, cn, 0, 0, 0, readwriteCmd)
}

func readonlyCmd(c *call) {
	c.s.replicaReads = true
	c.ok()
}

func readwriteCmd(c *call) {
	c.s.replicaReads = false
	c.ok()
}

// ReplicaReads reports whether the connection sent READONLY: its reads may
// be served from the local replica.
func (s *Session) ReplicaReads() bool { return s.replicaReads }

// WritesUsers reports whether r changes the node's user table (ACL
// SETUSER, DELUSER, LOAD; CONFIG SET requirepass): in a cluster it runs on
// the leader of shard 0, whose log carries the table to every replica.
func (r Req) WritesUsers() bool {
	if r.Cmd == nil || r.Cmd.Flags&UsersWrite == 0 {
		return false
	}
	if r.Cmd.Name != "config|set" {
		return true
	}
	for i := 2; i < len(r.Args); i += 2 {
		if strings.EqualFold(string(r.Args[i]), "requirepass") {
			return true
		}
	}
	return false
}

// IsRead reports whether r only reads keys (a command flagged readonly,
// with keys): a read a replica can serve.
func (r Req) IsRead() bool {
	return r.Cmd != nil && r.Cmd.Flags&(ReadOnly|Write) == ReadOnly && (r.Cmd.First != 0 || r.Cmd.numKeysArg != 0)
}
