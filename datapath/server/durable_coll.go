package server

import (
	"fmt"
	"time"

	"github.com/dorivo/dorivo/datapath/command"
	"github.com/dorivo/dorivo/datapath/core"
	"github.com/dorivo/dorivo/shardstore/collection"
	"github.com/dorivo/dorivo/shardstore/durable"
	"github.com/dorivo/dorivo/shardstore/keyspace"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// loadCollections loads every live collection of shard into the keyspace
// into returns for its slot, with the loop that will own it (nil: not
// this caller's). A collection comes back from its records: its metadata
// record, then a range scan of its element records of that version
// (readColl), unless the loop's value budget is spent: then it is loaded
// cold, from its metadata alone (core.Loop.LoadColl), and read when a
// command needs it. Element records of other versions (a dropped
// collection's, from before drops deleted them) are never read. An
// expired collection is skipped.
func loadCollections(st *durable.Store, shard uint32, into func(sl uint16) (*keyspace.Keyspace, *core.Loop)) error {
	first, last := st.Slots(shard)
	now := time.Now().UnixMilli()
	metaLo, metaHi := []byte{'m'}, []byte{'n'}
	return st.ScanCollections(first, last, metaLo, metaHi, func(sl uint16, rk, v []byte) error {
		ks, l := into(sl)
		if ks == nil {
			return nil
		}
		key := append([]byte(nil), rk[1:]...)
		meta, err := collection.DecodeMeta(v)
		if err != nil {
			return fmt.Errorf("collection %q: %w", key, err)
		}
		ks.SawVersion(meta.Version)
		if meta.ExpireMs != 0 && meta.ExpireMs <= now {
			return nil
		}
		return l.LoadColl(ks, key, meta, func() (*keyspace.Coll, error) { return readColl(st, key, meta) })
	})
}

// readColl reads key's collection of metadata meta back from its element
// records: one prefix scan of the key's slot. A fetch of a cold collection
// and a restart's load both use it.
func readColl(st *durable.Store, key []byte, meta collection.Meta) (*keyspace.Coll, error) {
	sl := slot.Of(key)
	var k, val [][]byte
	p := collection.ElemPrefix(key, meta.Version)
	err := st.ScanCollections(sl, sl, p, collection.PrefixEnd(p), func(_ uint16, ek, ev []byte) error {
		k = append(k, append([]byte(nil), ek...))
		val = append(val, append([]byte(nil), ev...))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return command.LoadColl(key, meta, func(yield func(k, v []byte) bool) {
		for i := range k {
			if !yield(k[i], val[i]) {
				return
			}
		}
	})
}
