package server

import (
	"errors"
	"time"

	"github.com/dorivo/dorivo/datapath/core"
	"github.com/dorivo/dorivo/shardstore/collection"
	"github.com/dorivo/dorivo/shardstore/durable"
	"github.com/dorivo/dorivo/shardstore/keyspace"
)

// fetchWorkers is how many goroutines per loop read cold values: pebble
// reads may wait on the disk, so a few run at once.
const fetchWorkers = 4

// startFetchers starts loop l's cold-value readers, if it has a budget
// (datapath/core, cold.go).
func (l *loop) startFetchers() {
	reqs, _ := l.core.Fetches()
	if reqs == nil {
		return
	}
	for range fetchWorkers {
		l.srv.fetchers.Add(1)
		go l.fetcher()
	}
}

// stopFetchers ends the readers of every loop (after the loops stopped).
func (s *Server) stopFetchers() {
	for _, l := range s.loops {
		if reqs, _ := l.core.Fetches(); reqs != nil {
			close(reqs)
		}
	}
	s.fetchers.Wait()
}

// fetcher reads cold values for loop l until its requests are closed
// (Stop): a string through the store's read cache, a collection from its
// element records (fetchColl). A read error is retried with backoff: the key stays cold and the
// requests that read it wait, rather than be answered with a value that
// may be wrong.
func (l *loop) fetcher() {
	defer l.srv.fetchers.Done()
	reqs, results := l.core.Fetches()
	st := l.srv.cfg.Store
	for r := range reqs {
		var res = core.FetchResult{FetchReq: r}
		for backoff := time.Millisecond; ; backoff = min(2*backoff, time.Second) {
			var err error
			if r.Coll {
				if res.CollV, res.Found, err = l.fetchColl(st, r); res.Found {
					res.CollBytes = keyspace.CollBytes(res.CollV) // off the loop
				}
			} else {
				res.Val, _, res.Found, err = st.Get(r.Shard, []byte(r.Key))
			}
			if err == nil {
				if h := l.srv.testHookFetched; h != nil {
					h(r.Key)
				}
				break
			}
			if l.srv.stopping.Load() {
				return
			}
			l.srv.cfg.Logger.Warn("server: reading a cold value failed, retrying", "loop", l.idx, "key", r.Key, "err", err)
			time.Sleep(backoff)
		}
		results <- res
		l.core.FetchDone()
	}
}

// fetchColl reads cold collection r back from the store. Records that do
// not match its metadata (corruption) come back as not found, and the
// loop drops the key, rather than retry forever.
func (l *loop) fetchColl(st *durable.Store, r core.FetchReq) (v any, found bool, err error) {
	co, err := readColl(st, []byte(r.Key), r.Meta)
	switch {
	case errors.Is(err, collection.ErrCorrupt):
		l.srv.cfg.Logger.Error("server: a cold collection does not load back; dropping the key", "loop", l.idx, "key", r.Key, "err", err)
		return nil, false, nil
	case err != nil:
		return nil, false, err
	}
	return co.V, true, nil
}
