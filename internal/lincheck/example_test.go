package lincheck_test

import (
	"fmt"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/dorivo/dorivo/internal/lincheck"
)

func op(client int, in lincheck.Input, out lincheck.Output, call, ret int64) porcupine.Operation {
	return porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret}
}

// A write that timed out may land late, so both reads are legal; a write
// acknowledged and then not read back is a violation.
func ExampleCheckHistory() {
	set := func(v string) lincheck.Input { return lincheck.Input{Kind: lincheck.KindSet, Key: "x", Value: v} }
	get := lincheck.Input{Kind: lincheck.KindGet, Key: "x"}
	read := func(v string) lincheck.Output { return lincheck.Output{Status: lincheck.StatusOK, Value: v} }
	ok := lincheck.Output{Status: lincheck.StatusOK}
	timedOut := lincheck.Output{Status: lincheck.StatusUnknown, Err: "TIMEOUT"}

	h := []porcupine.Operation{
		op(0, set("1"), ok, 0, 10),
		op(1, set("2"), timedOut, 20, 30),
		op(2, get, read("1"), 40, 50),
		op(2, get, read("2"), 60, 70),
	}
	fmt.Println(lincheck.CheckHistory(h, time.Second).Verdict)

	final := []lincheck.FinalRead{{Key: "x", Value: "1"}}
	h = []porcupine.Operation{op(0, set("1"), ok, 0, 10), op(1, set("2"), ok, 20, 30)}
	fmt.Println(lincheck.CheckHistory(lincheck.WithFinalReads(h, final, 2), time.Second).Verdict)
	// Output:
	// Ok
	// Illegal
}
