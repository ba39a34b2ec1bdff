package server

import (
	"time"

	"github.com/dorivo/dorivo/datapath/svctime"
)

// monoStart anchors monoNanos: time.Since reads the monotonic clock (the
// vDSO, no syscall on this kernel's tsc clocksource).
var monoStart = time.Now()

// monoNanos is the loops' clock for service times (Config.TimeRequests).
func monoNanos() int64 { return int64(time.Since(monoStart)) }

// ServiceTimes reads every loop's service-time histograms (all zero
// without Config.TimeRequests). Any goroutine may call it; the loops keep
// running.
func (s *Server) ServiceTimes() []svctime.SetSnap {
	out := make([]svctime.SetSnap, len(s.loops))
	for i, l := range s.loops {
		out[i] = l.core.ServiceTimes().Snapshot()
	}
	return out
}

// RingDepth is one loop's inbound cross-loop rings: messages waiting and
// slots in all.
type RingDepth struct{ Depth, Capacity int }

// RingDepths reads every loop's inbound ring depth, from any goroutine.
func (s *Server) RingDepths() []RingDepth {
	out := make([]RingDepth, len(s.loops))
	for i, l := range s.loops {
		out[i].Depth, out[i].Capacity = l.core.RingDepth()
	}
	return out
}
