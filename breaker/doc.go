// Package breaker is Dorivo's circuit breaker, with resilience4j's CircuitBreaker semantics.
// One breaker guards one remote dependency (a peer node, a shard leader, the local disk).
//
// A closed breaker lets calls through and records each outcome in a sliding window, by count
// (the last N calls) or by time (N buckets). Once the window holds MinimumCalls calls, it opens
// when the failure rate or the slow-call rate (calls over SlowCallDuration, 50 ms by default) is
// at or above its threshold. An open breaker rejects calls for OpenWait; the first check after
// that moves it to half-open (lazily: there is no timer, as with resilience4j's
// automaticTransition off; Poll does the same without taking a probe). Half-open lets
// HalfOpenCalls probes through and judges their rates: below both thresholds it closes,
// otherwise it opens again for a wait multiplied by OpenWaitMultiplier, up to MaxOpenWait.
// Operators can force Disabled, ForcedOpen or MetricsOnly, or move it with TransitionTo and Reset.
//
// The check, Allow, is one atomic load in the closed state and never allocates; Record takes a
// short lock and never allocates. Listeners get each Transition after the lock is released, so
// they may call back into the breaker; Seq orders transitions that race. Snapshot gives
// operators the state, rates and counters. Time comes from an injected Clock, so tests use a
// fake one (internal/fakeclock) and never sleep.
//
// Typical use:
//
//	if !b.Allow() {
//		return fallback()
//	}
//	start := time.Now()
//	err := call()
//	b.Record(time.Since(start), err)
//
// Why not sony/gobreaker (../shared/research/obs.md §1): it cannot classify slow calls, judges
// half-open by consecutive successes rather than by rate, takes its mutex twice per call, calls
// OnStateChange under that mutex, and has no injectable clock or backoff.
package breaker
