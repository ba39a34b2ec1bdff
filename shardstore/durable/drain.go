package durable

// Draining: the agent sets it while this node's disk breaker is open (its
// fsyncs are slow or failing), so that the shards it leads move to a
// replica whose disk keeps up and writes keep flowing. While draining, the
// node hands leadership of each shard it leads to its most up-to-date
// active follower, and refuses leadership handed to it (MsgTimeoutNow);
// it still votes, appends and counts towards quorums, and may still win an
// election when no other node can lead.

// SetDraining turns draining on or off; any goroutine may call it.
func (s *Store) SetDraining(on bool) {
	if s.draining.Swap(on) != on {
		s.log.Warn("durable: draining changed: a draining node hands over the shards it leads", "draining", on)
	}
}

// Draining reports whether SetDraining(true) is in force.
func (s *Store) Draining() bool { return s.draining.Load() }

// drainLeadership starts a leadership transfer of each shard this node
// leads, to the active follower with the longest log (on the driver).
func (s *Store) drainLeadership() {
	for _, sh := range s.shards {
		if sh.lead != s.opts.NodeID || sh.soleVoter {
			continue
		}
		st := sh.rn.Status()
		if st.LeadTransferee != 0 {
			continue
		}
		var to, match uint64
		for id, pr := range st.Progress {
			if id != s.opts.NodeID && pr.RecentActive && (to == 0 || pr.Match > match) {
				to, match = id, pr.Match
			}
		}
		if to != 0 {
			s.log.Warn("durable: draining: handing shard leadership to a healthy replica", "shard", sh.id, "to", to)
			sh.rn.TransferLeader(to)
		}
	}
}
