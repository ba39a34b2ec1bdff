package shed

import (
	"time"

	"github.com/dorivo/dorivo/breaker"
)

// DiskBreakerName names the disk breaker in logs, status and metrics.
const DiskBreakerName = "disk"

// DiskConfig is the disk breaker's default configuration: judged over the
// last 20 raft log syncs once 10 are in, open when half failed or took over
// 50 ms, probing with 5 syncs after 2 s, then waits doubling up to 30 s. A
// healthy fsync here takes 1 to 5 ms; 50 ms is the brief's slow call.
func DiskConfig() breaker.Config {
	return breaker.Config{
		WindowType:            breaker.CountBased,
		WindowSize:            20,
		MinimumCalls:          10,
		FailureRateThreshold:  50,
		SlowCallRateThreshold: 50,
		SlowCallDuration:      50 * time.Millisecond,
		HalfOpenCalls:         5,
		OpenWait:              2 * time.Second,
		OpenWaitMultiplier:    2,
		MaxOpenWait:           30 * time.Second,
	}
}

// NewDiskBreaker returns the disk breaker and the observer that feeds it,
// for ObserveSyncs over the store's filesystem: each raft log fsync is a
// call, slow over cfg.SlowCallDuration, failed when it returned an error.
// The observer is Record: a short lock, no allocation, on the store's
// syncer goroutine.
func NewDiskBreaker(cfg breaker.Config) (*breaker.Breaker, SyncObserver, error) {
	b, err := breaker.New(DiskBreakerName, cfg)
	if err != nil {
		return nil, nil, err
	}
	return b, b.Record, nil
}
