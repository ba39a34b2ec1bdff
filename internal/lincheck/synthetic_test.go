package lincheck

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// hist builds synthetic histories; times are in arbitrary units.
type hist []porcupine.Operation

func (h hist) op(client int, in Input, out Output, call, ret int64) hist {
	return append(h, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
}

func set(k, v string) Input { return Input{Kind: KindSet, Key: k, Value: v} }
func get(k string) Input    { return Input{Kind: KindGet, Key: k} }
func incrIn(k string) Input { return Input{Kind: KindIncr, Key: k} }
func setGet(k, v string) Input {
	return Input{Kind: KindSetGet, Key: k, Value: v}
}

var (
	ok       = Output{Status: StatusOK}
	unknown  = Output{Status: StatusUnknown, Err: "TIMEOUT test"}
	failed   = Output{Status: StatusFailed, Err: "TRYAGAIN test"}
	notInt   = Output{Status: StatusNotInteger, Err: "ERR value is not an integer or out of range"}
	nilReply = Output{Status: StatusOK, Nil: true}
)

func val(v string) Output         { return Output{Status: StatusOK, Value: v} }
func num(n int64) Output          { return Output{Status: StatusOK, Int: n} }
func fin(k, v string) []FinalRead { return []FinalRead{{Key: k, Value: v}} }

// Each illegal history has a legal twin that differs in one detail, so a
// verdict proves the checker saw that detail, not just that it ran.
func TestSyntheticHistories(t *testing.T) {
	base := hist{}.op(0, set("x", "1"), ok, 0, 10).op(1, set("x", "2"), ok, 20, 30)
	cases := []struct {
		name  string
		h     hist
		final []FinalRead
		want  porcupine.CheckResult
	}{
		{"stale read after acked write", base.op(2, get("x"), val("1"), 40, 50), nil, porcupine.Illegal},
		{"read concurrent with the write may be old", base.op(2, get("x"), val("1"), 25, 50), nil, porcupine.Ok},
		{"read after acked write sees it", base.op(2, get("x"), val("2"), 40, 50), nil, porcupine.Ok},

		{"lost acked write", base, fin("x", "1"), porcupine.Illegal},
		{"acked write reads back", base, fin("x", "2"), porcupine.Ok},
		{"final read of unknown write that was lost", hist{}.op(0, set("x", "1"), ok, 0, 10).op(1, set("x", "2"), unknown, 20, 30), fin("x", "1"), porcupine.Ok},

		{"read of a value never written", base.op(2, get("x"), val("7"), 40, 50), nil, porcupine.Illegal},
		{"read of nil after a write", base.op(2, get("x"), nilReply, 40, 50), nil, porcupine.Illegal},
		{"read of nil before any write", base.op(2, get("x"), nilReply, -10, -5), nil, porcupine.Ok},

		{"duplicated INCR", hist{}.op(0, incrIn("c"), num(1), 0, 10).op(1, incrIn("c"), num(2), 20, 30), fin("c", "3"), porcupine.Illegal},
		{"two INCRs returning the same value", hist{}.op(0, incrIn("c"), num(1), 0, 10).op(1, incrIn("c"), num(1), 5, 30), nil, porcupine.Illegal},
		{"INCRs counted once", hist{}.op(0, incrIn("c"), num(1), 0, 10).op(1, incrIn("c"), num(2), 5, 30), fin("c", "2"), porcupine.Ok},
		{"INCR on a SET integer", hist{}.op(0, set("c", "41"), ok, 0, 10).op(0, incrIn("c"), num(42), 20, 30), nil, porcupine.Ok},
		{"INCR refused on a non-integer", hist{}.op(0, set("c", "a"), ok, 0, 10).op(0, incrIn("c"), notInt, 20, 30), nil, porcupine.Ok},
		{"INCR refused on a non-canonical integer", hist{}.op(0, set("c", "01"), ok, 0, 10).op(0, incrIn("c"), notInt, 20, 30), nil, porcupine.Ok},
		{"INCR succeeding on a non-integer", hist{}.op(0, set("c", "a"), ok, 0, 10).op(0, incrIn("c"), num(1), 20, 30), nil, porcupine.Illegal},
		{"INCR refused on an integer", hist{}.op(0, set("c", "5"), ok, 0, 10).op(0, incrIn("c"), notInt, 20, 30), nil, porcupine.Illegal},
		{"INCR overflow", hist{}.op(0, set("c", "9223372036854775807"), ok, 0, 10).op(0, incrIn("c"), notInt, 20, 30), nil, porcupine.Ok},

		{"SET GET returns the old value", base.op(2, setGet("x", "3"), val("2"), 40, 50).op(2, get("x"), val("3"), 60, 70), nil, porcupine.Ok},
		{"SET GET returns a stale old value", base.op(2, setGet("x", "3"), val("1"), 40, 50), nil, porcupine.Illegal},
		{"two SET GETs see the same old value", base.op(2, setGet("x", "3"), val("2"), 40, 50).op(3, setGet("x", "4"), val("2"), 45, 55), nil, porcupine.Illegal},

		{"keys are independent", base.op(2, set("y", "9"), ok, 40, 50).op(3, get("x"), val("2"), 60, 70).op(3, get("y"), val("9"), 80, 90), nil, porcupine.Ok},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := []porcupine.Operation(c.h)
			if c.final != nil {
				h = WithFinalReads(h, c.final, 9)
			}
			if got := CheckHistory(h, 10*time.Second).Verdict; got != c.want {
				t.Fatalf("verdict %s, want %s", got, c.want)
			}
		})
	}
}

func TestUnknownOutcomes(t *testing.T) {
	// SET x=1 acked, then SET x=2 times out (-TIMEOUT): it may land at any
	// time after its call, or never, but only once.
	base := hist{}.op(0, set("x", "1"), ok, 0, 10).op(1, set("x", "2"), unknown, 20, 30)
	cases := []struct {
		name  string
		h     hist
		final []FinalRead
		want  porcupine.CheckResult
	}{
		{"timed-out write took effect", base.op(2, get("x"), val("2"), 40, 50), fin("x", "2"), porcupine.Ok},
		{"timed-out write did not take effect", base.op(2, get("x"), val("1"), 40, 50), fin("x", "1"), porcupine.Ok},
		{"timed-out write took effect late", base.op(2, get("x"), val("1"), 40, 50).op(2, get("x"), val("2"), 60, 70), nil, porcupine.Ok},
		{"timed-out write cannot take effect before its call", base.op(2, get("x"), val("2"), 5, 15), nil, porcupine.Illegal},
		{"timed-out write cannot be undone", base.op(2, get("x"), val("2"), 40, 50).op(2, get("x"), val("1"), 60, 70), nil, porcupine.Illegal},
		{"definite error then read of its value", hist{}.op(0, set("x", "1"), ok, 0, 10).op(1, set("x", "2"), failed, 20, 30).op(2, get("x"), val("2"), 40, 50), nil, porcupine.Illegal},
		{"definite error never read", hist{}.op(0, set("x", "1"), ok, 0, 10).op(1, set("x", "2"), failed, 20, 30).op(2, get("x"), val("1"), 40, 50), fin("x", "1"), porcupine.Ok},
		{"timed-out INCR applied", hist{}.op(0, incrIn("c"), num(1), 0, 10).op(1, incrIn("c"), unknown, 20, 30), fin("c", "2"), porcupine.Ok},
		{"timed-out INCR not applied", hist{}.op(0, incrIn("c"), num(1), 0, 10).op(1, incrIn("c"), unknown, 20, 30), fin("c", "1"), porcupine.Ok},
		{"timed-out INCR applied twice", hist{}.op(0, incrIn("c"), num(1), 0, 10).op(1, incrIn("c"), unknown, 20, 30), fin("c", "3"), porcupine.Illegal},
		{"failed INCR applied", hist{}.op(0, incrIn("c"), num(1), 0, 10).op(1, incrIn("c"), failed, 20, 30), fin("c", "2"), porcupine.Illegal},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := []porcupine.Operation(c.h)
			if c.final != nil {
				h = WithFinalReads(h, c.final, 9)
			}
			if got := CheckHistory(h, 10*time.Second).Verdict; got != c.want {
				t.Fatalf("verdict %s, want %s", got, c.want)
			}
		})
	}
}

// recordingTB captures failures so a test can check that Check fails.
type recordingTB struct {
	testing.TB
	errs []string
}

func (r *recordingTB) Helper() {}
func (r *recordingTB) Errorf(format string, args ...any) {
	r.errs = append(r.errs, strings.TrimSpace(fmt.Sprintf(format, args...)))
}

func TestCheckWritesVisualizationOnIllegal(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(DirEnv, dir)
	h := hist{}.op(0, set("x", "1"), ok, 0, 10).op(1, get("x"), val("7"), 20, 30)
	rt := &recordingTB{TB: t}
	res := Check(rt, h, time.Second, porcupine.Annotation{Tag: "faults", Start: 12, End: 18, Description: "pause"})
	if res.Verdict != porcupine.Illegal || len(rt.errs) != 1 {
		t.Fatalf("verdict %s, errors %q; want Illegal and one failure", res.Verdict, rt.errs)
	}
	if filepath.Dir(res.VisualPath) != dir || !strings.Contains(rt.errs[0], res.VisualPath) {
		t.Fatalf("visualization %q not in %s or not named in %q", res.VisualPath, dir, rt.errs[0])
	}
	page, err := os.ReadFile(res.VisualPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<html", `GET x -\u003e \"7\"`, "pause"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("visualization lacks %q", want)
		}
	}

	rt = &recordingTB{TB: t}
	if res := Check(rt, hist{}.op(0, set("x", "1"), ok, 0, 10), time.Second); res.Verdict != porcupine.Ok || len(rt.errs) != 0 {
		t.Fatalf("legal history: verdict %s, errors %q", res.Verdict, rt.errs)
	}
}

func TestCheckFailsOnTimeout(t *testing.T) {
	// 40 concurrent writes and a read of a value none wrote: deciding it
	// means trying every subset of the writes, far beyond 50 ms.
	var h hist
	for i := range 40 {
		h = h.op(i, set("x", fmt.Sprintf("%d", i)), ok, 0, 100)
	}
	h = h.op(40, get("x"), val("never"), 0, 100)
	rt := &recordingTB{TB: t}
	res := Check(rt, h, 50*time.Millisecond)
	if res.Verdict != porcupine.Unknown || len(rt.errs) != 1 || !strings.Contains(rt.errs[0], "timed out") {
		t.Fatalf("verdict %s, errors %q; want Unknown and a timed-out failure", res.Verdict, rt.errs)
	}
}

func TestPrepareHistoryMovesUnknownReturnsToTheEnd(t *testing.T) {
	h := hist{}.op(0, set("x", "1"), unknown, 0, 10).op(1, get("x"), nilReply, 20, 30).op(2, set("x", "2"), ok, 40, 50)
	p := PrepareHistory(h)
	if p[0].Return != 51 || p[1].Return != 30 || p[2].Return != 50 || h[0].Return != 10 {
		t.Fatalf("returns %d %d %d (original %d), want 51 30 50 (10)", p[0].Return, p[1].Return, p[2].Return, h[0].Return)
	}
}
