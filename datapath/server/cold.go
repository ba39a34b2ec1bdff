package server

import (
	"time"

	"github.com/dorivo/dorivo/datapath/core"
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
// (Stop). A read error is retried with backoff: the key stays cold and the
// requests that read it wait, rather than be answered with a value that
// may be wrong.
func (l *loop) fetcher() {
	defer l.srv.fetchers.Done()
	reqs, results := l.core.Fetches()
	st := l.srv.cfg.Store
	for r := range reqs {
		var res = core.FetchResult{FetchReq: r}
		for backoff := time.Millisecond; ; backoff = min(2*backoff, time.Second) {
			v, _, found, err := st.Get(r.Shard, []byte(r.Key))
			if err == nil {
				res.Val, res.Found = v, found
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
