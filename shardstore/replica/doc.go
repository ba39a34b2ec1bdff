// Package replica makes a node's durable store (shardstore/durable) one
// replica of every shard's raft group: it starts the peer transport
// (replica/transport), opens the store with the cluster's voters, and
// carries raft messages and snapshots between the two.
//
// Every node runs the same shard count and the same peer list; each shard
// is a raft group with one voter per node, and one more group, the layout
// group (durable.LayoutGroup), holds the cluster layout: the shards' slots,
// voters and preferred leaders (first Peers[shard % len(Peers)]). A write
// commits once a majority of the voters has it in its log on disk.
package replica
