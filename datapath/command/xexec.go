package command

import "github.com/dorivo/dorivo/shardstore/keyspace"

// Cross-loop execution. A server that runs one transaction (or one
// multi-key command) on several event loops at once takes the queue out of
// the session on the connection's loop, checks every queued command there
// with QueuedCheck, and has each owner loop run its part with ExecChecked
// and a session of its own: the client's session stays on its loop, so no
// two loops ever share it.

// Queued returns the commands queued since MULTI, in order. Their
// arguments stay valid after the transaction ends (DISCARD or EXEC clear
// the queue, not the commands).
func (s *Session) Queued() []Req { return s.queue }

// QueueAborted reports that a command was rejected while queueing: EXEC
// will reply EXECABORT.
func (s *Session) QueueAborted() bool { return s.multiErr }

// SetWatchDirty makes the next EXEC abort (null reply), as a write to a
// watched key does. A server that keeps WATCH registrations itself, on the
// loops owning the keys, calls it before EXEC when one of them was touched.
func (s *Session) SetWatchDirty() { s.watcher.Dirty = true }

// QueuedCheck returns the error EXEC replies in place of a queued command
// that the session's user may no longer run (ACL rules changed since it was
// queued), or "".
func QueuedCheck(s *Session, args [][]byte) string { return QueuedCheckReq(s, Resolve(args)) }

// QueuedCheckReq is QueuedCheck of a request already resolved.
func QueuedCheckReq(s *Session, r Req) string {
	if r.Cmd == nil {
		return ""
	}
	if msg := s.permission(r.Cmd, r.Args); msg != "" {
		return "NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: " + permReason(msg)
	}
	return ""
}

// ExecChecked runs args as EXEC runs a queued command: no authentication,
// ACL or MULTI handling, since the caller checked it already (QueuedCheck,
// Check) with the client's own session. s only provides scratch state and
// the node; it may be any session of the calling loop. Unknown commands and
// wrong arities, which the caller's checks exclude, get their usual error.
func ExecChecked(s *Session, ks *keyspace.Keyspace, args [][]byte, now int64, dst []byte, muts []Mutation) ([]byte, []Mutation) {
	return ExecCheckedReq(s, ks, Resolve(args), now, dst, muts)
}

// ExecCheckedReq is ExecChecked of a request already resolved.
func ExecCheckedReq(s *Session, ks *keyspace.Keyspace, r Req, now int64, dst []byte, muts []Mutation) ([]byte, []Mutation) {
	c := &s.c
	args := r.Args
	*c = call{s: s, ks: ks, args: args, now: now, dst: dst, muts: muts}
	cmd, unknownSub := r.Cmd, r.UnknownSub
	switch {
	case cmd == nil && unknownSub:
		c.err(unknownSubcommand(args))
	case cmd == nil:
		c.err(unknownCommand(args))
	case !cmd.arityOK(len(args)):
		c.err(arityError(cmd))
	default:
		c.cmd = cmd
		c.run(cmd)
	}
	dst, muts = c.dst, c.muts
	*c = call{s: s}
	return dst, muts
}
