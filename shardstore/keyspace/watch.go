package keyspace

// Watcher is one client's WATCH state: Dirty is set when any key it
// watches is written, and EXEC then aborts.
type Watcher struct {
	Dirty bool
}

type watchRef struct {
	w *Watcher
	// expired records that the key was already expired when watched: its
	// deletion by expiry is then no change, as in Redis 7.0.
	expired bool
}

// Watch makes w watch key.
func (ks *Keyspace) Watch(key []byte, w *Watcher, now int64) {
	refs := ks.watched[string(key)]
	for _, r := range refs {
		if r.w == w {
			return
		}
	}
	expired := ks.expiredAt(key, now)
	ks.watched[string(key)] = append(refs, watchRef{w, expired})
}

// Unwatch stops w watching key.
func (ks *Keyspace) Unwatch(key []byte, w *Watcher) {
	refs := ks.watched[string(key)]
	for i, r := range refs {
		if r.w == w {
			refs = append(refs[:i], refs[i+1:]...)
			break
		}
	}
	if len(refs) == 0 {
		delete(ks.watched, string(key))
	} else {
		ks.watched[string(key)] = refs
	}
}

// WatchedExpired reports whether key, watched by w while live, has since
// expired: Redis's EXEC aborts then even though nothing wrote the key.
func (ks *Keyspace) WatchedExpired(key []byte, w *Watcher, now int64) bool {
	for _, r := range ks.watched[string(key)] {
		if r.w == w && !r.expired {
			return ks.expiredAt(key, now)
		}
	}
	return false
}

// expiredAt reports whether key exists with an expiry at or before now.
func (ks *Keyspace) expiredAt(key []byte, now int64) bool {
	id, ok := ks.lookup(key)
	if !ok {
		return false
	}
	exp := ks.exp(ks.ent(id))
	return exp != 0 && exp <= now
}

func (ks *Keyspace) touch(key []byte) {
	if len(ks.watched) == 0 {
		return
	}
	ks.touchString(string(key))
}

func (ks *Keyspace) touchString(key string) {
	if len(ks.watched) == 0 {
		return
	}
	refs := ks.watched[key]
	for i := range refs {
		r := &refs[i]
		if r.expired {
			if _, ok := ks.lookup([]byte(key)); !ok {
				r.expired = false // the expired key is gone: logically no change
				continue
			}
		}
		r.w.Dirty = true
	}
}

// WatchedKeys returns how many keys have at least one watcher: a server
// checks with it that closing or UNWATCHing clients leave nothing behind.
func (ks *Keyspace) WatchedKeys() int { return len(ks.watched) }
