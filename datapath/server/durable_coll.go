package server

import (
	"fmt"
	"time"

	"github.com/dorivo/dorivo/datapath/command"
	"github.com/dorivo/dorivo/shardstore/collection"
	"github.com/dorivo/dorivo/shardstore/durable"
	"github.com/dorivo/dorivo/shardstore/keyspace"
)

// loadCollections loads every live collection of shard into the keyspace
// ksOf returns for its slot (nil: not this caller's). A collection comes
// back from its records: its metadata record, then a range scan of its
// element records of that version (collection.ElemPrefix), handed in key
// order to collection's loaders. Element records of other versions (a
// dropped collection's) are garbage and are never read. An expired
// collection is skipped.
func loadCollections(st *durable.Store, shard uint32, ksOf func(sl uint16) *keyspace.Keyspace) error {
	first, last := st.Slots(shard)
	now := time.Now().UnixMilli()
	metaLo, metaHi := []byte{'m'}, []byte{'n'}
	return st.ScanCollections(first, last, metaLo, metaHi, func(sl uint16, rk, v []byte) error {
		ks := ksOf(sl)
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
		var k, val [][]byte
		p := collection.ElemPrefix(key, meta.Version)
		err = st.ScanCollections(sl, sl, p, collection.PrefixEnd(p), func(_ uint16, ek, ev []byte) error {
			k = append(k, append([]byte(nil), ek...))
			val = append(val, append([]byte(nil), ev...))
			return nil
		})
		if err != nil {
			return err
		}
		co, err := command.LoadColl(key, meta, func(yield func(k, v []byte) bool) {
			for i := range k {
				if !yield(k[i], val[i]) {
					return
				}
			}
		})
		if err != nil {
			return err
		}
		ks.SetColl(key, co, meta.ExpireMs)
		return nil
	})
}
