package core

import (
	"fmt"
	"strings"

	"github.com/cockroachdb/datadriven"

	"github.com/dorivo/dorivo/shardstore/slot"
)

// shedCmd publishes a shed set: "shed none", or "shed reasons=R[,R]
// retry=MS [key=K]..." with R one of breaker, overload, disk; without a
// key every slot gets the entry. It drains the woken loops and prints the
// slots shed.
func (h *harness) shedCmd(d *datadriven.TestData) string {
	if d.HasArg("none") {
		h.shed.Publish(nil)
		h.run()
		return "nothing shed\n"
	}
	var reasons string
	var retry int
	d.ScanArgs(h.t, "reasons", &reasons)
	d.ScanArgs(h.t, "retry", &retry)
	var e ShedEntry
	e.RetryAfterMs = uint16(retry)
	for _, r := range strings.Split(reasons, ",") {
		switch r {
		case "breaker":
			e.Reasons |= ShedBreaker
		case "overload":
			e.Reasons |= ShedOverload
		case "disk":
			e.Reasons |= ShedDisk
		default:
			h.t.Fatalf("unknown shed reason %q", r)
		}
	}
	set := new(ShedSet)
	var keys []string
	if d.HasArg("key") {
		d.ScanArgs(h.t, "key", &keys)
	}
	var out strings.Builder
	if len(keys) == 0 {
		for s := range set {
			set[s] = e
		}
		fmt.Fprintf(&out, "every slot shed (%s)\n", reasons)
	}
	for _, k := range keys {
		s := slot.Of([]byte(k))
		set[s] = e
		fmt.Fprintf(&out, "slot %d shed (%s), owner loop %d\n", s, reasons, h.loops[0].cfg.Table.Owner(s))
	}
	h.shed.Publish(set)
	h.run()
	return out.String()
}
