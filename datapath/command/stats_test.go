package command

import (
	"strings"
	"testing"
	"time"

	"github.com/dorivo/dorivo/shardstore/keyspace"
)

// TestCommandStats: calls, rejections and failures are counted exactly,
// time is estimated from a sample, errors count by their first word, and
// CONFIG RESETSTAT clears them.
func TestCommandStats(t *testing.T) {
	n := NewNode()
	s, ks := NewSession(n), keyspace.New()
	for range 40 {
		run(s, ks, 0, "SET k v")
	}
	run(s, ks, 0, "GET", "INCR k", "SETBIT k -1 1", "NOSUCH", "MULTI", "SAVE", "DISCARD")
	info := run(s, ks, 0, "INFO commandstats errorstats")[0]
	for _, want := range []string{
		"cmdstat_set:calls=40,", "cmdstat_get:calls=0,usec=0,usec_per_call=0.00,rejected_calls=1,failed_calls=0",
		"cmdstat_incr:calls=1,", "cmdstat_setbit:calls=1,", "rejected_calls=0,failed_calls=1\r\n", "cmdstat_save:calls=0,usec=0,usec_per_call=0.00,rejected_calls=1,",
		"errorstat_ERR:count=5\r\n",
	} {
		if !strings.Contains(info, want) {
			t.Errorf("INFO lacks %q:\n%s", want, info)
		}
	}
	run(s, ks, 0, "CONFIG RESETSTAT")
	if info := run(s, ks, 0, "INFO commandstats errorstats")[0]; strings.Contains(info, "cmdstat_set") || strings.Contains(info, "errorstat_") {
		t.Errorf("after RESETSTAT:\n%s", info)
	}
}

// BenchmarkNow is the cost of reading the clock, which run pays for one
// command in timeSample.
func BenchmarkNow(b *testing.B) {
	var t time.Time
	for b.Loop() {
		t = time.Now()
	}
	_ = t
}
