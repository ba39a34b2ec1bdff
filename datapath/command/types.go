package command

import (
	"github.com/dorivo/dorivo/datapath/resp"
	"github.com/dorivo/dorivo/shardstore/collection"
	"github.com/dorivo/dorivo/shardstore/keyspace"
)

// Typed keys: a key holds a string or a collection (hash, list, set,
// sorted set). A command for one kind on a key of another replies
// WRONGTYPE, as Redis's checkType does; a collection emptied by a command
// is deleted, as Redis deletes an empty key. Every change of a collection
// is recorded as its element records (OpRecords), never as a rewrite.

const errWrongType = "WRONGTYPE Operation against a key holding the wrong kind of value"

// notString replies WRONGTYPE and returns true when key holds a
// collection: the type check of the string commands. Free while the
// keyspace holds no collection.
func (c *call) notString(key []byte) bool {
	if !c.ks.HasColls() || c.ks.Kind(key, c.now) <= keyspace.KindString {
		return false
	}
	c.err(errWrongType)
	return true
}

// coll returns key's collection of kind k, nil when key is not live; ok is
// false after replying WRONGTYPE for a key of another kind.
func (c *call) coll(key []byte, k keyspace.Kind) (co *keyspace.Coll, ok bool) {
	co, kind := c.ks.CollKind(key, c.now)
	if kind != keyspace.KindNone && kind != k {
		c.err(errWrongType)
		return nil, false
	}
	return co, true
}

// newColl creates key, not live, as an empty collection of type t with a
// fresh version; the records of its first element write its metadata.
func (c *call) newColl(key []byte, t collection.Type) *keyspace.Coll {
	co := &keyspace.Coll{Meta: collection.NewMeta(t, c.ks.NextVersion(c.now))}
	switch t {
	case collection.TypeHash:
		co.V = collection.NewHash()
	case collection.TypeSet:
		co.V = collection.NewSet()
	case collection.TypeZSet:
		co.V = collection.NewZSet()
	case collection.TypeList:
		co.V = collection.NewList()
	}
	c.ks.SetColl(key, co, 0)
	return co
}

// recs records collection records of key, appending to the previous
// mutation when it holds key's records too.
func (c *call) recs(key []byte, rs ...collection.Record) {
	if len(rs) == 0 {
		return
	}
	if n := len(c.muts); n > 0 && c.muts[n-1].Op == OpRecords && string(c.muts[n-1].Key) == string(key) {
		c.muts[n-1].Recs = append(c.muts[n-1].Recs, rs...)
		return
	}
	c.mut(Mutation{Op: OpRecords, Key: key, Recs: rs})
}

// changed ends an in-place change of key's collection: watchers and the
// write stamp, and the key's deletion once empty (its metadata record,
// already among the records, says so to the store).
func (c *call) changed(key []byte, co *keyspace.Coll) {
	if co.Meta.Size == 0 {
		c.ks.Delete(key, c.now)
		return
	}
	c.ks.Touched(key)
}

// metaRec is the record of co's metadata as it stands.
func metaRec(key []byte, co *keyspace.Coll) collection.Record {
	return collection.Record{Key: collection.MetaKey(key), Value: co.Meta.Encode()}
}

// delKey deletes live key of any kind and records it: a string's delete,
// or a collection's drop (its metadata record; see collection.Drop).
func (c *call) delKey(key []byte) bool {
	if c.ks.HasColls() {
		if co := c.ks.CollMeta(key, c.now); co != nil { // cold or not
			c.recs(key, collection.Drop(key, &co.Meta)...)
			c.ks.Delete(key, c.now)
			return true
		}
	}
	if !c.ks.Delete(key, c.now) {
		return false
	}
	c.mut(Mutation{Op: OpDel, Key: key})
	return true
}

// dropColl records the drop of key's collection, if it holds one, before
// a string replaces it (SET, MSET).
func (c *call) dropColl(key []byte) {
	if !c.ks.HasColls() {
		return
	}
	if co := c.ks.CollMeta(key, c.now); co != nil { // cold or not
		c.recs(key, collection.Drop(key, &co.Meta)...)
	}
}

// setExpire sets live key's expiry (0: none) and records it: for a
// collection, its metadata record carries the expiry.
func (c *call) setExpire(key []byte, at int64) {
	c.ks.SetExpire(key, at, c.now)
	if c.ks.HasColls() {
		if co := c.ks.CollMeta(key, c.now); co != nil {
			c.recs(key, metaRec(key, co))
			return
		}
	}
	c.mut(Mutation{Op: OpExpire, Key: key, ExpireAt: at})
}

// RESP3-aware writers: the session's protocol picks the reply type.
func (c *call) resp3() bool  { return c.s.resp3 }
func (c *call) nil3()        { c.dst = resp.AppendNil(c.dst, c.s.resp3) }
func (c *call) nilArray3()   { c.dst = resp.AppendNilArray(c.dst, c.s.resp3) }
func (c *call) mapHdr(n int) { c.dst = resp.AppendMap(c.dst, n, c.s.resp3) }
func (c *call) setHdr(n int) { c.dst = resp.AppendSet(c.dst, n, c.s.resp3) }
func (c *call) double(f float64) {
	c.dst = resp.AppendDouble(c.dst, collection.FormatScore(f), c.s.resp3)
}
func (c *call) bulks(vs []string) { c.array(len(vs)); c.strs(vs) }
func (c *call) strs(vs []string) {
	for _, v := range vs {
		c.bulkStr(v)
	}
}
