package core

import (
	"github.com/dorivo/dorivo/datapath/command"
	"github.com/dorivo/dorivo/datapath/resp"
	"github.com/dorivo/dorivo/shardstore/collection"
	"github.com/dorivo/dorivo/shardstore/keyspace"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// Cold values (Config.HotValueBytes, with a Store). Each loop keeps every
// key and expiry in memory but at most its share of the budget in values;
// past it, the CLOCK sweep of keyspace.Evict drops values whose writes are
// durable (stamped at or before the FIFO head of durable.go), and those keys
// go cold. The store has their value: it is applied in the same batch that
// acknowledges the write.
//
// Collections (hashes, lists, sets, sorted sets) count against the budget
// for an estimate of their memory and go cold the same way, keeping their
// metadata (type, version, size, expiry) in memory: TYPE, EXISTS, TTL, DEL
// and SET over them need no fetch. A fetch of one reads its element
// records of the metadata's version (one prefix scan of one slot in the
// store) and rebuilds the collection off the loop (FetchReq.Coll); the
// loop installs it as it fills a string. It costs one pebble iterator and
// O(elements) work on the fetcher, none on the loop.
//
// A command that reads a cold key's value (command.ReadsValues: not SET,
// DEL, EXISTS, TTL and the like, which run on cold keys as they are) waits
// for it exactly as for a key a cross-loop transaction locks (mustWaitFor,
// tryPrepare): a local connection stalls, a forwarded request or datagram
// is parked, a prepare queues. The check starts a fetch of each cold key
// not already being fetched; fetcher goroutines read it through the
// store's ristretto cache (durable.Store.Get, pebble on a miss), hand it
// back on a channel and ring the doorbell, and the loop fills the key and
// lets settle retry what waited. The loop itself never reads the disk or
// waits.
//
// A request may need several keys, whose cold values come back in
// different drains. So that the first ones (or the hot ones) are not
// evicted before the last arrives, which under a small budget could go on
// forever, a request that finds a key cold pins all its keys at the
// loop's current epoch (a count of eviction passes). Pins of an epoch are
// dropped once every fetch started up to that epoch has come back: by then
// every value the request waited for is in, and it has run (settle runs
// it in the drain that fills its last value) or waits for something else,
// such as a transaction's lock. Memory is thus the budget plus the values
// of the requests waiting for a fetch.
//
// Read-ahead. A connection waits for one request at a time, so a pipeline
// of GETs on cold keys would fetch one value after another. When a
// connection stalls, the loop parses up to readAheadRequests pipelined
// behind it and starts the fetches of the cold values they read on this
// loop; a request from another loop parked behind one of the same loop
// does the same. They are pinned as if they waited.
//
// Writes that read no value (SET, DEL, FLUSHALL...) do not wait, so one
// may overtake a fetch of the key it writes. Each fetch carries the key's
// write stamp and the keyspace generation, and a value read for an older
// stamp or keyspace is dropped, even if the key is cold again by then.

// fetchCap bounds a loop's fetches in flight (queued, being read, or
// waiting to be taken back), so a worker never blocks handing one back.
const fetchCap = 1024

// evictSteps bounds the entries and slots one eviction pass moves over.
const evictSteps = 1 << 14

// FetchReq asks for Key's value from store shard Shard: a string, or when
// Coll is set the collection Meta describes (its element records of
// Meta.Version). Stamp and gen identify the key's write and keyspace at the
// request: the loop refuses the value if the key was written since, or the
// keyspace replaced.
type FetchReq struct {
	Key   string
	Shard uint32
	Coll  bool
	Meta  collection.Meta
	stamp uint64
	gen   uint64
}

// FetchResult is a fetched value: Val for a string, CollV (a
// *collection.Hash, List, Set or ZSet) for a collection, with its
// keyspace.CollBytes in CollBytes. Found is false when the store holds no
// live value for the key.
type FetchResult struct {
	FetchReq
	Val       []byte
	CollV     any
	CollBytes int64
	Found     bool
}

// coldLoop is a loop's cold-value state, touched only on the loop.
type coldLoop struct {
	budget int64 // this loop's share of Config.HotValueBytes
	reqc   chan FetchReq
	donec  chan FetchResult
	// inflight counts fetches sent on reqc and not yet taken from donec;
	// pending are fetches started but not yet sent.
	inflight int
	pending  []FetchReq
	// epoch counts eviction passes; fetching maps each key being fetched
	// to the epoch its fetch started, pinned each key a waiting request
	// needs to the epoch it last asked.
	epoch    uint64
	fetching map[string]uint64
	pinned   map[string]uint64
	// gen changes when the keyspace is replaced (resync): a fetch for the
	// old one is dropped.
	gen     uint64
	keepKey func(string) bool
	// swept counts the steps of the eviction hand since it last dropped a
	// value, over passes that rang for more (resweep).
	swept   int
	resweep bool
}

// openCold sets up the cold-value state when the loop has a value budget.
func (l *Loop) openCold() {
	if l.cfg.HotValueBytes <= 0 {
		return
	}
	c := &coldLoop{
		budget:   l.cfg.HotValueBytes,
		reqc:     make(chan FetchReq, fetchCap),
		donec:    make(chan FetchResult, fetchCap),
		fetching: make(map[string]uint64),
		pinned:   make(map[string]uint64),
	}
	c.keepKey = func(k string) bool {
		if _, ok := c.pinned[k]; ok {
			return true
		}
		if _, locked := l.locks[keyHashString(k)]; locked {
			return true
		}
		// A parked blocking request runs again when woken without
		// looking for cold keys: the keys it names stay (BLMOVE's
		// destination too).
		_, parked := l.blk.byKey[k]
		return parked
	}
	l.cold = c
}

// Fetches returns the channels of the loop's cold-value reads (nil without
// a value budget): the shell's readers take requests from reqs, read each
// value off the loop, send the result on results and wake the loop
// (FetchDone). The channels have room for every fetch in flight, so a
// reader never blocks sending a result; the shell closes reqs to stop them.
func (l *Loop) Fetches() (reqs chan FetchReq, results chan<- FetchResult) {
	if l.cold == nil {
		return nil, nil
	}
	return l.cold.reqc, l.cold.donec
}

// FetchDone wakes the loop to take a fetched value; any goroutine may call
// it.
func (l *Loop) FetchDone() { l.bell.Ring() }

// coldAny reports whether a key of keys is cold, starting the fetch of
// each cold key not already being fetched and pinning every key of keys.
func (l *Loop) coldAny(keys [][]byte) bool {
	c := l.cold
	if c == nil || l.ks.ColdLen() == 0 {
		return false
	}
	cold := false
	for _, k := range keys {
		stamp, isCold := l.ks.ColdStamp(k)
		if !isCold {
			continue
		}
		cold = true
		if _, ok := c.fetching[string(k)]; ok {
			continue
		}
		ks := string(k)
		c.fetching[ks] = c.epoch
		req := FetchReq{Key: ks, Shard: l.cfg.Store.ShardOf(slot.Of(k)), stamp: stamp, gen: c.gen}
		req.Meta, req.Coll = l.ks.ColdColl(k)
		c.pending = append(c.pending, req)
		l.stats.fetches.Add(1)
	}
	if cold {
		for _, k := range keys {
			c.pinned[string(k)] = c.epoch
		}
	}
	if len(c.pending) > 0 {
		l.sendFetches()
	}
	return cold
}

// readAheadRequests bounds the pipelined requests read ahead of a stalled
// one.
const readAheadRequests = 64

// readAhead starts the fetches of the cold values that the requests in buf,
// pipelined behind one that stalled, will read on this loop, so that a
// pipeline waits for its values together rather than one after another.
// The values are pinned like those of a waiting request.
func (l *Loop) readAhead(buf []byte, lim resp.Limits) {
	if l.cold == nil || l.ks.ColdLen() == 0 {
		return
	}
	for range readAheadRequests {
		args, n, err := resp.Parse(buf, l.args[:0], lim)
		if err != nil || n == 0 {
			return
		}
		buf = buf[n:]
		l.args = args[:0]
		l.prefetch(command.Resolve(args))
	}
}

// prefetch starts the fetches of the cold values r reads on this loop.
func (l *Loop) prefetch(r command.Req) {
	if len(r.Args) == 0 || !r.ReadsValues() {
		return
	}
	if o := l.ownerOf(r); o == l.idx {
		l.coldAny(l.keys)
	}
}

// readAheadMsg is prefetch for a request from another loop.
func (l *Loop) readAheadMsg(m *msg) {
	if l.cold == nil || l.ks.ColdLen() == 0 || m.kind != mReq && m.kind != mReqSess && m.kind != mReqAs {
		return
	}
	l.prefetch(l.req(m))
}

// partCold is coldAny for the keys whose values the commands of a
// cross-loop transaction's part read.
func (l *Loop) partCold(p *xpart) bool {
	if l.cold == nil || l.ks.ColdLen() == 0 {
		return false
	}
	l.valueKeys = l.valueKeys[:0]
	for _, r := range p.cmds {
		if r.ReadsValues() {
			l.valueKeys = r.Keys(l.valueKeys)
		}
	}
	return l.coldAny(l.valueKeys)
}

// sendFetches hands pending fetches to the workers, as many as fetchCap
// allows; the rest go when fetches come back.
func (l *Loop) sendFetches() {
	c := l.cold
	n := 0
send:
	for n < len(c.pending) && c.inflight < fetchCap {
		select {
		case c.reqc <- c.pending[n]:
			c.inflight++
			n++
		default: // not reached: reqc has room for fetchCap
			break send
		}
	}
	c.pending = append(c.pending[:0], c.pending[n:]...)
}

// takeFetches fills the values the workers read; settle then retries
// what waited for them.
func (l *Loop) takeFetches() {
	c := l.cold
	for {
		var r FetchResult
		select {
		case r = <-c.donec:
		default:
			l.sendFetches()
			return
		}
		c.inflight--
		delete(c.fetching, r.Key)
		k := []byte(r.Key)
		if stamp, cold := l.ks.ColdStamp(k); r.gen == c.gen && cold && stamp == r.stamp {
			if r.Found && r.Coll {
				l.ks.FillColl(k, r.CollV, r.CollBytes, r.stamp)
			} else if r.Found {
				l.ks.Fill(k, r.Val, r.stamp)
			} else {
				// The store holds no live value: the key expired (the
				// store's clock ran ahead of the loop's). Without an
				// expiry that cannot happen: say so.
				if exp, _ := l.ks.Expiry(k, l.now); exp == 0 {
					l.cfg.Logger.Error("core: the store has no value for a cold key; dropping the key", "loop", l.idx, "key", r.Key)
				}
				l.ks.Delete(k, l.now)
				l.publishKeys()
			}
		}
		l.unlocked = true
	}
}

// evict drops the pins whose fetches are all back, then durable values
// while the loop holds more than its budget, down to 7/8 of it so that a
// sweep does not run on every drain. Pinned values stay, and so do values
// under a transaction's lock: a prepared part will use them.
func (l *Loop) evict() {
	c := l.cold
	if len(c.pinned) > 0 {
		oldest := c.epoch + 1 // the start of the oldest fetch in flight
		for _, e := range c.fetching {
			oldest = min(oldest, e)
		}
		for k, e := range c.pinned {
			if e < oldest {
				delete(c.pinned, k)
			}
		}
	}
	c.epoch++
	if !c.resweep {
		c.swept = 0
	}
	c.resweep = false
	if l.ks.HotBytes() <= c.budget {
		return
	}
	n, steps := l.ks.Evict(c.budget-c.budget/8, l.dur.head, evictSteps, c.keepKey)
	l.stats.evictions.Add(uint64(n))
	if c.swept += steps; n > 0 {
		c.swept = 0
	}
	// More to sweep: another pass in a drain of its own, after other work,
	// unless two turns found nothing to drop (what is left is pinned, locked
	// or not yet durable; a later drain tries again).
	if l.ks.HotBytes() > c.budget && steps == evictSteps && c.swept < 2*l.ks.TurnSteps() {
		c.resweep = true
		l.bell.Ring()
	}
}

// LoadKey puts a key read from the store into ks (the loop's keyspace at
// start, or the one a resync builds): with its value while the loop's
// budget allows, cold after that. It runs before the loop serves, or off
// the loop on a keyspace the loop does not use yet.
func (l *Loop) LoadKey(ks *keyspace.Keyspace, key, value []byte, exp int64) {
	if c := l.cold; c != nil && ks.HotBytes()+int64(len(value)) > c.budget {
		ks.SetCold(key, exp)
		return
	}
	ks.Set(key, value, exp)
}

// LoadColl is LoadKey for a collection with metadata meta: once the
// budget is spent it goes in cold, its elements unread; otherwise load
// reads them.
func (l *Loop) LoadColl(ks *keyspace.Keyspace, key []byte, meta collection.Meta, load func() (*keyspace.Coll, error)) error {
	if c := l.cold; c != nil && ks.HotBytes() >= c.budget {
		ks.SetCollCold(key, meta, meta.ExpireMs)
		return nil
	}
	co, err := load()
	if err != nil {
		return err
	}
	ks.SetColl(key, co, meta.ExpireMs)
	return nil
}
