package core

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dorivo/dorivo/datapath/command"
	"github.com/dorivo/dorivo/datapath/resp"
	"github.com/dorivo/dorivo/datapath/wire"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// Load shedding on the loop: the agent publishes which slots its breakers
// (and its loops' load) shed, the same set it writes into the kernel's
// slot_shed map. XDP answers the datagrams of a shed slot itself; the loop
// answers what reaches it anyway (TCP, and datagrams from an interface
// without XDP) from its own copy of the set, without touching the shard:
//   - a slot whose breaker is open: any request with a key there gets
//     -TRYAGAIN, a datagram UNAVAILABLE with the retry-after;
//   - the disk breaker open: every write is refused (-TRYAGAIN, EXECABORT
//     in a transaction, UNAVAILABLE for a datagram SET or DEL); reads go on;
//   - an overloaded loop's slots: only XDP sheds them (TCP has its own
//     backpressure), so the loop serves what it gets.
//
// The loop reads its copy with no lock and no atomic: ShedBoard.Publish
// stores the new set and rings every loop's doorbell, and each loop takes
// the set on its next Drain (an input, on its own thread). A nil set means
// nothing is shed, so the check costs one nil test when all is well.

// ShedReason says why a slot is shed, as bits; the values are those of the
// kernel's enum shed_reason (userspace/shed checks they agree).
type ShedReason uint8

const (
	// ShedBreaker: the breaker of the slot's shard is open.
	ShedBreaker ShedReason = 1 << iota
	// ShedOverload: the loop owning the slot is over its load bound.
	ShedOverload
	// ShedDisk: the node's disk breaker is open; writes only.
	ShedDisk
)

// ShedEntry is one slot's shedding: why, and how long clients should wait.
type ShedEntry struct {
	Reasons      ShedReason
	RetryAfterMs uint16
}

// ShedSet is every slot's entry; a published set is never changed.
type ShedSet [slot.Count]ShedEntry

// ShedBoard is where the agent publishes the set for every loop built with
// it (Config.Shed). Any goroutine may publish; loops never lock it.
type ShedBoard struct {
	cur   atomic.Pointer[ShedSet]
	mu    sync.Mutex
	loops []*Loop
}

// Publish makes s the set every loop sheds by, from its next Drain; nil
// sheds nothing. s must not change afterwards.
func (b *ShedBoard) Publish(s *ShedSet) {
	b.cur.Store(s)
	b.mu.Lock()
	loops := b.loops
	b.mu.Unlock()
	for _, l := range loops {
		l.shedDue.Store(true)
		l.bell.Ring()
	}
}

// Current is the set last published.
func (b *ShedBoard) Current() *ShedSet { return b.cur.Load() }

func (b *ShedBoard) attach(l *Loop) {
	b.mu.Lock()
	b.loops = append(b.loops[:len(b.loops):len(b.loops)], l)
	b.mu.Unlock()
	l.shed = b.cur.Load()
}

// takeShed adopts the board's set, on the loop (Drain).
func (l *Loop) takeShed() {
	if l.shedDue.Swap(false) {
		l.shed = l.cfg.Shed.cur.Load()
	}
}

// shedRefusal is the reply to r when a slot of its keys has its breaker
// open, with ok true; l.shed is not nil. In a cluster, a read that may be
// stale passes: the replica serves it (routeRemote).
func (l *Loop) shedRefusal(tc *Conn, r command.Req) ([]byte, bool) {
	if r.Cmd == nil {
		return nil, false
	}
	if l.rep != nil && r.IsRead() && (tc.sess.ReplicaReads() || l.staleAllowed(tc)) {
		return nil, false
	}
	l.keys = r.Keys(l.keys[:0])
	for _, k := range l.keys {
		s := slot.Of(k)
		if e := l.shed[s]; e.Reasons&ShedBreaker != 0 {
			l.stats.shed.Add(1)
			l.reply = appendTryAgain(l.reply[:0], "slot "+strconv.Itoa(int(s))+" unavailable: its breaker is open", e.RetryAfterMs)
			return l.reply, true
		}
	}
	return nil, false
}

// shedWriteRefusal is why writes are refused by the disk breaker ("" when
// they are not): every slot carries ShedDisk then, so slot 0 tells.
func (l *Loop) shedWriteRefusal() string {
	if l.shed == nil || l.shed[0].Reasons&ShedDisk == 0 {
		return ""
	}
	return "TRYAGAIN write refused: the disk breaker is open (fsync slow or failing), retry after " +
		strconv.Itoa(int(l.shed[0].RetryAfterMs)) + " ms"
}

func appendTryAgain(b []byte, why string, retryMs uint16) []byte {
	return resp.AppendError(b, "TRYAGAIN "+why+", retry after "+strconv.Itoa(int(retryMs))+" ms")
}

// shedDatagram answers d UNAVAILABLE when its slot is shed for it by a
// breaker (the disk's for a SET or DEL), and reports whether it did.
func (l *Loop) shedDatagram(d *dgram) bool {
	e := l.shed[slot.OfTag(d.Tag)]
	if e.Reasons&ShedBreaker == 0 && (e.Reasons&ShedDisk == 0 || d.Op == wire.OpGet) {
		return false
	}
	if l.rep != nil && d.Op == wire.OpGet && e.Reasons&ShedBreaker != 0 && l.staleTenant(string(d.Tag)) {
		return false // the replica serves it (routeDatagram)
	}
	l.stats.shed.Add(1)
	l.replyUnavailable(d, msDuration(e.RetryAfterMs))
	return true
}

// replyUnavailable answers d UNAVAILABLE, retry after retry.
func (l *Loop) replyUnavailable(d *dgram, retry time.Duration) {
	rep := wire.Reply{ID: d.ID, Op: d.Op, Status: wire.StatusUnavailable}
	l.dgShedBody = wire.AppendRetryAfter(l.dgShedBody[:0], retry)
	rep.Body = l.dgShedBody
	l.replyDatagram(&rep, d.ret)
}

func msDuration(ms uint16) time.Duration { return time.Duration(ms) * time.Millisecond }
