package command

import (
	"strings"
	"sync/atomic"
)

// Command and error statistics, for INFO commandstats, errorstats and
// stats. Each loop counts into a CmdStats of its own (Node.NewCmdStats,
// Session.UseStats), so loops never write the same cache lines; INFO sums
// every set registered on the node.

// cmdStat is one command's counters.
type cmdStat struct {
	calls, nanos, rejected, failed atomic.Uint64
}

// CmdStats holds a counter set per command and subcommand, by Cmd.id.
type CmdStats struct{ s []cmdStat }

func (st *CmdStats) of(cmd *Cmd) *cmdStat { return &st.s[cmd.id] }

// NewCmdStats registers a counter set for one loop's sessions.
func (n *Node) NewCmdStats() *CmdStats {
	st := &CmdStats{s: make([]cmdStat, len(cmds))}
	for {
		old := n.statSets.Load()
		next := []*CmdStats{st}
		if old != nil {
			next = append(next, *old...)
		}
		if n.statSets.CompareAndSwap(old, &next) {
			return st
		}
	}
}

// UseStats makes the session count its commands into st.
func (s *Session) UseStats(st *CmdStats) { s.stats = st }

// cmdTotals sums one command's counters over every set.
func (n *Node) cmdTotals(cmd *Cmd) (calls, nanos, rejected, failed uint64) {
	for _, st := range *n.statSets.Load() {
		x := st.of(cmd)
		calls += x.calls.Load()
		nanos += x.nanos.Load()
		rejected += x.rejected.Load()
		failed += x.failed.Load()
	}
	return
}

// maxErrorKinds bounds the error prefixes tracked, as Redis does (128).
const maxErrorKinds = 128

// CountError counts an error reply that the server writes itself, not a
// command (CROSSSLOT, protocol errors, refused writes), in INFO errorstats.
func (n *Node) CountError(msg string) { n.countError(msg) }

// countError counts an error reply under its first word (ERR, WRONGTYPE).
// The table of kinds is copied on write: a new kind is rare.
func (n *Node) countError(msg string) {
	kind, _, _ := strings.Cut(msg, " ")
	for {
		old := n.errStats.Load()
		if c := (*old)[kind]; c != nil {
			c.Add(1)
			return
		}
		if len(*old) >= maxErrorKinds {
			n.errOverflow.Add(1)
			return
		}
		next := make(map[string]*atomic.Uint64, len(*old)+1)
		for k, v := range *old {
			next[k] = v
		}
		next[kind] = new(atomic.Uint64)
		if n.errStats.CompareAndSwap(old, &next) {
			next[kind].Add(1)
			return
		}
	}
}

// resetStats is CONFIG RESETSTAT: every command and error counter goes
// back to zero, and expired_keys counts from now on.
func (n *Node) resetStats(expired uint64) {
	for _, st := range *n.statSets.Load() {
		for i := range st.s {
			x := &st.s[i]
			x.calls.Store(0)
			x.nanos.Store(0)
			x.rejected.Store(0)
			x.failed.Store(0)
		}
	}
	empty := map[string]*atomic.Uint64{}
	n.errStats.Store(&empty)
	n.errOverflow.Store(0)
	n.expiredBase.Store(expired)
}
