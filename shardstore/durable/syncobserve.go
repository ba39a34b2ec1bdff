package durable

import "time"

// SyncObserver sees every raft log write the syncer makes durable: how
// long it took (the write and its fdatasync, or the new segment and its
// syncs) and how it ended. The agent feeds its disk circuit breaker with
// it. It runs on the syncer goroutine, between one record and the next, so
// it must be quick and never block: a slow observer slows every write.
type SyncObserver func(took time.Duration, err error)

func (w *logWriter) observe(took time.Duration, err error) {
	if w.onSync != nil {
		w.onSync(took, err)
	}
}
