package command

import (
	"github.com/dorivo/dorivo/shardstore/collection"
	"github.com/dorivo/dorivo/shardstore/keyspace"
)

// Op is the kind of a Mutation.
type Op uint8

const (
	// OpSet stores Val under Key with expiry ExpireAt (0 for none).
	OpSet Op = iota + 1
	// OpDel deletes Key.
	OpDel
	// OpExpire sets Key's expiry to ExpireAt; 0 removes it (PERSIST).
	OpExpire
	// OpFlush deletes every key of the keyspace.
	OpFlush
	// OpUsers stores the node's user table: Val is its aclfile text, Gen
	// its generation (aclfile.go). It touches no keyspace.
	OpUsers
	// OpRecords writes Recs, records of Key's collection (its metadata
	// and changed elements, see package collection), in order.
	OpRecords
)

// Mutation is one deterministic change of durable state. Key and Val alias
// the request or the keyspace and are valid until the next call on that
// keyspace: the server encodes them into its log record before then.
type Mutation struct {
	Op       Op
	Key      []byte
	Val      []byte
	ExpireAt int64
	Gen      uint64 // OpUsers: the user table's generation
	Recs     []collection.Record
}

// Apply replays m on ks; records of collections (OpRecords) need the
// records before them, which Replay keeps. The differential tests replay every write on a
// shadow keyspace with it, to check that the records say what the
// commands did (a restart loads the store's data instead).
func Apply(ks *keyspace.Keyspace, m Mutation) {
	switch m.Op {
	case OpSet:
		ks.Set(m.Key, m.Val, m.ExpireAt)
	case OpDel:
		ks.Delete(m.Key, 0)
	case OpExpire:
		// now = 0: the key is live whatever its expiry, and the replay sets
		// exactly the recorded absolute time.
		ks.SetExpire(m.Key, m.ExpireAt, 0)
	case OpFlush:
		ks.Flush()
	}
}
