package command

func init() {
	def(nil, "multi", 1, NoScript|Loading|Stale|Fast|RunsInMulti, tx, 0, 0, 0, multiCmd)
	def(nil, "exec", 1, NoScript|Loading|Stale|RunsInMulti, tx, 0, 0, 0, execCmd).routed(RouteExec)
	def(nil, "discard", 1, NoScript|Loading|Stale|Fast|RunsInMulti, tx, 0, 0, 0, discardCmd).routed(RouteDiscard)
	def(nil, "watch", -2, NoScript|Loading|Stale|Fast|RunsInMulti, tx, 1, -1, 1, watchCmd).routed(RouteWatch)
	def(nil, "unwatch", 1, NoScript|Loading|Stale|Fast, tx, 0, 0, 0, unwatchCmd).routed(RouteUnwatch)
}

func multiCmd(c *call) {
	if c.s.multi {
		c.err("ERR MULTI calls can not be nested")
		return
	}
	c.s.multi = true
	c.ok()
}

func discardCmd(c *call) {
	if !c.s.multi {
		c.err("ERR DISCARD without MULTI")
		return
	}
	c.s.discard()
	c.ok()
}

func watchCmd(c *call) {
	s := c.s
	if s.multi {
		c.err("ERR WATCH inside MULTI is not allowed")
		return
	}
	if !s.watcher.Dirty {
		for _, k := range c.args[1:] {
			dup := false
			for _, w := range s.watched {
				if w.ks == c.ks && string(w.key) == string(k) {
					dup = true
				}
			}
			if !dup {
				c.ks.Watch(k, &s.watcher, c.now)
				s.watched = append(s.watched, watchedKey{c.ks, append([]byte(nil), k...)})
			}
		}
	}
	c.ok()
}

func unwatchCmd(c *call) {
	c.s.unwatchAll()
	c.s.watcher.Dirty = false
	c.ok()
}

// execCmd runs the queued commands. Inside EXEC, permissions are checked
// again, since ACL rules may have changed since queueing, as in Redis.
func execCmd(c *call) {
	s := c.s
	if !s.multi {
		c.err("ERR EXEC without MULTI")
		return
	}
	for _, w := range s.watched {
		if w.ks.WatchedExpired(w.key, &s.watcher, c.now) {
			s.watcher.Dirty = true
		}
	}
	if s.multiErr || s.watcher.Dirty {
		if s.multiErr {
			c.err(errExecAbort)
		} else {
			c.nullArray()
		}
		s.discard()
		return
	}
	s.unwatchAll()
	queue := s.queue
	s.multi = false
	c.mayBlock = false // blocking commands reply at once, as on a timeout
	c.array(len(queue))
	s.inExec = true
	defer func() { s.inExec = false }()
	for _, q := range queue {
		cmd, args := q.Cmd, q.Args
		if msg := s.permission(cmd, args); msg != "" {
			c.cmd = cmd
			c.noteDenied(cmd, args, msg)
			c.err("NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: " + permReason(msg))
			continue
		}
		c.cmd, c.args = cmd, args
		c.run(cmd)
	}
	s.discard()
}
