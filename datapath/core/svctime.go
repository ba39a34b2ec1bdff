package core

import (
	"github.com/dorivo/dorivo/datapath/command"
	"github.com/dorivo/dorivo/datapath/ring"
	"github.com/dorivo/dorivo/datapath/svctime"
)

// Service times (Config.Clock): each request is timed from the end of
// the previous one on the same pass (so one clock read per request, parse
// included) and recorded in the loop's histogram for its class; requests
// that must wait (stalls) are not recorded.

// tick reads the loop's clock (0 without one).
func (l *Loop) tick() int64 {
	if l.cfg.Clock == nil {
		return 0
	}
	return l.cfg.Clock()
}

// classOf is the class of a request this loop ran itself.
func classOf(r command.Req) svctime.Class {
	if r.Cmd == nil {
		return svctime.Other // unknown command: an error reply
	}
	switch f := r.Cmd.Flags; {
	case f&command.Admin != 0:
		return svctime.Admin
	case f&command.Write != 0:
		return svctime.Write
	case f&command.ReadOnly != 0:
		return svctime.Read
	}
	return svctime.Other
}

// served records the service time of r since t0 and returns the time now.
// sentBefore is crossSent before r was dispatched: a request that sent
// messages to other loops is Cross.
func (l *Loop) served(t0 int64, r command.Req, sentBefore uint64) int64 {
	if l.cfg.Clock == nil {
		return 0
	}
	t := l.cfg.Clock()
	c := classOf(r)
	if l.stats.crossSent.Load() != sentBefore {
		c = svctime.Cross
	}
	l.svc[c].Observe(t - t0)
	return t
}

// observe records a service time of class c since t0 and returns now.
func (l *Loop) observe(c svctime.Class, t0 int64) int64 {
	if l.cfg.Clock == nil {
		return 0
	}
	t := l.cfg.Clock()
	l.svc[c].Observe(t - t0)
	return t
}

// ServiceTimes returns the loop's histograms, for reading (Snapshot) from
// any goroutine.
func (l *Loop) ServiceTimes() *svctime.Set { return &l.svc }

// RingDepth is how many requests and transaction messages from other
// loops wait in this loop's inbound rings, and those rings' total
// capacity. Any goroutine may call it (the ring indexes are atomics); the
// figure is a moment's view.
func (l *Loop) RingDepth() (depth, capacity int) {
	for j := range l.peers {
		for _, r := range [2]*ring.Ring[msg]{l.peers[j].reqIn, l.peers[j].ctlIn} {
			if r != nil {
				depth += r.Len()
				capacity += r.Cap()
			}
		}
	}
	return depth, capacity
}
