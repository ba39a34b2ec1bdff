package core

import (
	"sync/atomic"

	"github.com/dorivo/dorivo/datapath/command"
)

// Client memory and idleness. A connection's unsent replies are the bytes
// the shell holds for it (Loop.Unsent: gnet's outbound buffer) plus Out.
// Three bounds apply to them, checked before each request runs:
//   - client-output-buffer-limit (Redis's): over the hard limit, or over
//     the soft limit for soft-seconds, the client is closed;
//   - dorivo-client-pause-bytes (Dorivo's, 1 MB by default): over it, the
//     client is paused: it runs no further request, its bytes stay unread
//     (the shell stops reading its socket), until it has read its replies
//     down to half the bound. Nothing is dropped;
//   - dorivo-client-output-total: while the node's clients hold more, each
//     client holding at least command.PauseMinBytes is paused as well.
// So a client that pipelines and never reads costs at most about the pause
// bound plus one reply, however long it goes on. Cron, run by the shell on
// every tick, resumes paused clients that drained and closes clients idle
// past timeout.

// Quota is a tenant's RESP request budget: Rate requests per second, in
// bursts of up to Burst (the datagram quota's numbers, agentconfig.Quota).
type Quota struct{ Rate, Burst uint32 }

// Quotas are the tenants' quotas by tenant tag.
type Quotas map[string]Quota

// TenantSet is a set of tenant tags.
type TenantSet map[string]struct{}

// ErrQuota is the reply to a request over its tenant's quota (README).
const ErrQuota = "ERR tenant quota exceeded, retry later"

// bucket is a tenant's token bucket on the loop that serves it, in
// milli-requests.
type bucket struct {
	q      Quota
	milli  int64
	last   int64 // ms of the last refill
	denied uint64
}

// Unsent records that the shell holds n reply bytes of tc not yet written
// to its socket, and applies the client-output-buffer-limit to it.
func (l *Loop) Unsent(tc *Conn, n int) {
	if n == tc.unsent {
		return
	}
	if n < tc.unsent {
		tc.active = l.now // the client is reading
	}
	d := int64(n - tc.unsent)
	tc.unsent = n
	l.outTotal.Add(d)
	l.stats.outBytes.Add(uint64(d))
	l.overLimit(tc)
}

// output is tc's unsent reply bytes.
// held is the reply bytes the loop and the shell hold for tc now.
func (tc *Conn) heldBytes() int64 { return int64(tc.unsent + len(tc.Out) + tc.held) }

// Replies still owed (slots head..tail) count as the largest reply the
// connection got each, at least held: a request forwarded to another loop
// is on its way back, and the pause must count it before it arrives.
func (tc *Conn) output() int64 {
	owed := max(int64(tc.held), int64(tc.tail-tc.head)*int64(tc.replyMax))
	return int64(tc.unsent+len(tc.Out)) + owed
}

// noteReply records the size of a reply moving to Out. The estimate is
// the largest of the last 64 to 128 replies (this window's and the last
// one's maximum): it rises to a bigger reply at once, and a connection
// whose replies turn small is estimated small again two windows later.
func (tc *Conn) noteReply(n int) {
	tc.replyCur = max(tc.replyCur, n)
	if tc.replyN++; tc.replyN == replyWindow {
		tc.replyPrev, tc.replyCur, tc.replyN = tc.replyCur, 0, 0
	}
	tc.replyMax = max(tc.replyCur, tc.replyPrev)
}

const replyWindow = 64

// replySeed is the estimate of a reply before a connection got any: a
// deep first pipeline to other loops pauses after pause-bytes/replySeed
// requests in flight (16 by default), until their replies say how big
// they are. So the bound is pause-bytes plus that many replies at first,
// pause-bytes plus one reply once replies came back.
const replySeed = 64 << 10

// Paused reports whether tc waits for its client to read before it runs
// more requests: the shell stops reading its socket meanwhile.
func (tc *Conn) Paused() bool { return tc.paused }

// overLimit closes tc, as Redis does, when it is over the hard limit of
// the normal class, or over the soft limit for longer than soft-seconds.
func (l *Loop) overLimit(tc *Conn) bool {
	if tc.closing || tc.closed {
		return tc.closing
	}
	out := tc.heldBytes()
	if out > l.recentMax {
		l.recentMax = out
		l.stats.recentMax.Store(uint64(out))
	}
	lim := l.cfg.Node.Config().OutputLimits[command.ClassNormal]
	hard := lim.Hard > 0 && out >= lim.Hard
	soft := lim.Soft > 0 && out >= lim.Soft
	if !soft {
		tc.softSince = 0
	} else if tc.softSince == 0 {
		tc.softSince = l.now
	} else if l.now-tc.softSince > lim.SoftSeconds*1000 {
		hard = true
	}
	if !hard {
		return false
	}
	l.cfg.Logger.Warn("core: client closed for overcoming of output buffer limits",
		"loop", l.idx, "id", tc.sess.ID, "addr", tc.sess.Addr, "user", tc.sess.User(), "output_bytes", out)
	l.stats.outCloses.Add(1)
	tc.closing, tc.CloseNow = true, true
	tc.Out = tc.Out[:0] // Redis drops what it had not sent
	l.queueOut(tc)
	return true
}

// mustPause reports whether tc holds too many unsent bytes to run another
// request; resume applies half the bound (hysteresis).
func (l *Loop) mustPause(tc *Conn, resume bool) bool {
	cfg := l.cfg.Node.Config()
	out := tc.output()
	if b := cfg.PauseBytes; b > 0 {
		if resume {
			b /= 2
		}
		if out > b {
			return true
		}
	}
	// The node's total counts what the shells hold; tc's own share is out.
	return cfg.OutputTotalBytes > 0 && out >= command.PauseMinBytes &&
		l.outTotal.Load()-int64(tc.unsent)+out > cfg.OutputTotalBytes
}

func (l *Loop) pause(tc *Conn) {
	tc.paused = true
	l.paused = append(l.paused, tc)
	l.stats.pauses.Add(1)
	l.stats.pausedNow.Add(1)
	l.queueOut(tc) // the shell stops reading it
}

// tryResume resumes paused tc once it drained below half the bound.
func (l *Loop) tryResume(tc *Conn) bool {
	if l.mustPause(tc, true) {
		return false
	}
	tc.paused = false
	l.stats.pausedNow.Add(^uint64(0))
	l.queueOut(tc) // the shell reads it again
	return true
}

// Cron is the loop's periodic client work at now (ms), run by the shell on
// every tick: paused clients whose output drained (unsent returns what the
// shell still holds for one) resume; clients idle past timeout close.
func (l *Loop) Cron(now int64, unsent func(*Conn) int) {
	l.now = now
	if now-l.recentAt >= 5000 { // client_recent_max_output_buffer: a 5 s peak
		l.recentAt, l.recentMax = now, 0
		for tc := range l.conns {
			l.recentMax = max(l.recentMax, tc.heldBytes())
		}
		l.stats.recentMax.Store(uint64(l.recentMax))
	}
	for _, tc := range l.paused {
		if !tc.closed {
			l.Unsent(tc, unsent(tc))
		}
	}
	l.resumePaused()
	if now-l.idleAt >= 1000 {
		l.idleAt = now
		for tc := range l.conns {
			l.Unsent(tc, unsent(tc)) // what the clients read since their last write
		}
		if t := l.cfg.Node.Config().Timeout; t > 0 {
			l.closeIdle(now, t*1000)
		}
	}
	l.afterWork()
}

// resumePaused retries the paused clients: their client read, or replies
// they were owed arrived.
func (l *Loop) resumePaused() {
	if len(l.paused) == 0 {
		return
	}
	list := l.paused
	l.paused = nil
	for _, tc := range list {
		if tc.closed || !tc.paused {
			continue
		}
		l.process(tc)
		if tc.paused && !tc.closed {
			l.paused = append(l.paused, tc)
		}
	}
}

// closeIdle closes the clients idle for longer than ms, as Redis's
// clientsCronHandleTimeout: not those waiting on the server (stalled for
// ring room or a lock, in a cross-loop transaction, moving).
func (l *Loop) closeIdle(now, ms int64) {
	for tc := range l.conns {
		if tc.closing || tc.stalled || tc.txWait || tc.handoff || tc.moveTo >= 0 || now-tc.active <= ms {
			continue
		}
		l.cfg.Logger.Debug("core: closing idle client", "loop", l.idx, "id", tc.sess.ID, "addr", tc.sess.Addr)
		l.stats.timeouts.Add(1)
		tc.closing, tc.CloseNow = true, true
		l.queueOut(tc)
	}
}

// quotaOK reports whether tc's tenant may run one more request now; take
// spends it once the request ran.
func (l *Loop) quotaOK(tc *Conn) *bucket {
	tenant := l.tenantOf(tc)
	qs := l.cfg.Quotas.Load()
	if qs == nil {
		return nil
	}
	q, ok := (*qs)[tenant]
	if !ok || q.Rate == 0 {
		return nil
	}
	if q.Burst == 0 {
		q.Burst = q.Rate
	}
	b := l.buckets[tc.tenant]
	if b == nil {
		b = &bucket{q: q, milli: int64(q.Burst) * 1000, last: l.now}
		l.buckets[tc.tenant] = b
	}
	b.q = q // a reload may have changed it
	if el := l.now - b.last; el > 0 {
		b.milli = min(b.milli+el*int64(q.Rate), int64(q.Burst)*1000)
		b.last = l.now
	}
	return b
}

// tenantOf is tc's tenant: its user's tag (Node.UserTag), else its user.
func (l *Loop) tenantOf(tc *Conn) string {
	if u := tc.sess.User(); u != tc.quotaUser {
		tc.quotaUser = u
		tc.tenant, _ = l.cfg.Node.UserTag(u)
		if tc.tenant == "" {
			tc.tenant = u
		}
	}
	return tc.tenant
}

// sharedTotal is the node-wide count of unsent client bytes.
func sharedTotal(p *atomic.Int64) *atomic.Int64 {
	if p == nil {
		return new(atomic.Int64)
	}
	return p
}

// forget drops tc from the loop's clients (closed, or moved away) and its
// unsent bytes from the totals.
func (l *Loop) forget(tc *Conn) {
	delete(l.conns, tc)
	l.stats.conns.Add(^uint64(0))
	if tc.paused {
		tc.paused = false
		l.stats.pausedNow.Add(^uint64(0))
	}
	if tc.unsent != 0 {
		l.outTotal.Add(-int64(tc.unsent))
		l.stats.outBytes.Add(uint64(-int64(tc.unsent)))
		tc.unsent = 0
	}
}
