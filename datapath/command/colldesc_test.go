package command

import (
	"fmt"
	"slices"
	"strings"

	"github.com/dorivo/dorivo/shardstore/collection"
	"github.com/dorivo/dorivo/shardstore/keyspace"
)

// describeColl renders a collection's contents canonically (sorted where
// the order is not part of the value), with its size and metadata.
func describeColl(co *keyspace.Coll) string {
	var parts []string
	switch v := co.V.(type) {
	case *collection.Hash:
		for f, x := range v.All() {
			parts = append(parts, f+"="+x)
		}
		slices.Sort(parts)
	case *collection.Set:
		parts = v.Members()
		slices.Sort(parts)
	case *collection.ZSet:
		for _, e := range v.All() {
			// -0 and 0: a reload may pick the other encoding (Redis's RDB
			// load does too), and only a skiplist keeps -0.
			parts = append(parts, e.Member+"="+collection.FormatScore(e.Score+0))
		}
	case *collection.List:
		parts = v.All()
	}
	m := co.Meta
	return fmt.Sprintf("%s{%s}(size %d, head %d, tail %d)", co.Kind(), strings.Join(parts, ","), m.Size, m.Head, m.Tail)
}
