package command

import (
	"fmt"
	"slices"
	"strings"

	"github.com/dorivo/dorivo/shardstore/collection"
	"github.com/dorivo/dorivo/shardstore/keyspace"
)

// Replay rebuilds a keyspace from mutation records alone, as a restart
// does from the store: strings as Apply, collections by keeping their raw
// records (a sorted key-value map standing in for the store) and loading
// a changed collection back from its metadata and element records with
// collection's loaders. Tests replay every write with it to check that the
// records say what the commands did.
type Replay struct {
	KS   *keyspace.Keyspace
	recs map[string]string
}

// NewReplay returns a Replay into ks.
func NewReplay(ks *keyspace.Keyspace) *Replay {
	return &Replay{KS: ks, recs: map[string]string{}}
}

// Apply replays m; an error means the records do not load back.
func (r *Replay) Apply(m Mutation) error {
	switch m.Op {
	case OpRecords:
		for _, rec := range m.Recs {
			if rec.Range {
				for k := range r.recs {
					if k >= string(rec.Key) && k < string(rec.Value) {
						delete(r.recs, k)
					}
				}
			} else if rec.Delete {
				delete(r.recs, string(rec.Key))
			} else {
				r.recs[string(rec.Key)] = string(rec.Value)
			}
		}
		return r.load(m.Key)
	case OpFlush:
		clear(r.recs)
	case OpDel, OpSet:
		if r.KS.CollAny(m.Key) != nil {
			return fmt.Errorf("replay: %v of %q, which holds a collection the records did not drop", m.Op, m.Key)
		}
	}
	Apply(r.KS, m)
	return nil
}

// load rebuilds key from its records.
func (r *Replay) load(key []byte) error {
	mv, ok := r.recs[string(collection.MetaKey(key))]
	if !ok {
		if r.KS.CollAny(key) != nil {
			r.KS.Delete(key, 0)
		}
		return nil
	}
	meta, err := collection.DecodeMeta([]byte(mv))
	if err != nil {
		return err
	}
	prefix := string(collection.ElemPrefix(key, meta.Version))
	var ks []string
	for k := range r.recs {
		if strings.HasPrefix(k, prefix) {
			ks = append(ks, k)
		}
	}
	slices.Sort(ks)
	recs := func(yield func(k, v []byte) bool) {
		for _, k := range ks {
			if !yield([]byte(k), []byte(r.recs[k])) {
				return
			}
		}
	}
	co, err := LoadColl(key, meta, recs)
	if err != nil {
		return err
	}
	r.KS.SetColl(key, co, meta.ExpireMs)
	return nil
}

// LoadColl rebuilds a collection from its metadata and its element
// records in key order (a restart's load, or a cold collection's).
func LoadColl(key []byte, meta collection.Meta, recs collection.Records) (*keyspace.Coll, error) {
	co := &keyspace.Coll{Meta: meta}
	var err error
	switch meta.Type {
	case collection.TypeHash:
		co.V, err = collection.LoadHash(key, meta, recs)
	case collection.TypeSet:
		co.V, err = collection.LoadSet(key, meta, recs)
	case collection.TypeZSet:
		co.V, err = collection.LoadZSet(key, meta, recs)
	case collection.TypeList:
		co.V, err = collection.LoadList(key, meta, recs)
	default:
		err = fmt.Errorf("%w: type %d", collection.ErrCorrupt, meta.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("load %q: %w", key, err)
	}
	return co, nil
}
