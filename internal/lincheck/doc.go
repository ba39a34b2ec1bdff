// Package lincheck records client histories against a Redis-protocol store
// and checks them for linearizability with porcupine
// (github.com/anishathalye/porcupine). It is a test-only helper for the
// replication tests (issue 14).
//
// The model is one string register per key (SET, GET, INCR, SET…GET),
// checked key by key. Each recorded operation ends in one of four ways:
//
//   - StatusOK: the reply is checked against the register.
//   - StatusNotInteger: INCR refused; the model checks the value really was
//     not a canonical int64 (or would overflow).
//   - StatusFailed: a definite error (-TRYAGAIN, -CLUSTERDOWN, any error reply
//     other than -TIMEOUT, a failed dial): the write never takes effect.
//   - StatusUnknown: -TIMEOUT, resets, client timeouts. The write may take
//     effect once, at any time after its call, or never; Check moves its
//     return to the end of the history, as porcupine's own etcd test does.
//
// Failed reads are not recorded. Clients run with go-redis retries off, so
// one recorded command is one command sent.
//
// "Every acknowledged write reads back" is checked by appending one read per
// key, taken after the faults healed, after everything else (CheckFinal):
// the final value must be what one more linearizable read could return.
//
// A cluster test looks like this:
//
//	rec := lincheck.NewRecorder()
//	var wg sync.WaitGroup
//	for i, addr := range nodeAddrs { // clients on every node
//		c := rec.NewClient(&redis.Options{Addr: addr, ReadTimeout: time.Second})
//		wg.Add(1)
//		go func() {
//			defer wg.Done()
//			defer c.Close()
//			c.Run(ctx, rand.New(rand.NewPCG(uint64(i), 1)), keys, 5000)
//		}()
//	}
//	t0 := rec.Now()
//	killLeader() // the fault
//	rec.Annotate("kill -9 leader", t0, rec.Now())
//	wg.Wait()
//	healAll()
//	final, err := lincheck.ReadFinal(ctx, anyNodeClient, keys)
//	if err != nil {
//		t.Fatal(err)
//	}
//	lincheck.CheckFinal(t, rec.History(), final, time.Minute, rec.Annotations()...)
//
// On a violation Check writes porcupine's HTML visualization to
// $DORIVO_LINCHECK_DIR (default: the test's temp dir) and fails with its path.
package lincheck
