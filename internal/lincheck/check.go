package lincheck

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/redis/go-redis/v9"
)

// DirEnv names the environment variable that chooses where Check writes
// visualizations. Unset, they go under t.TempDir(), which the testing
// package deletes when the test ends; CI should set it to keep them.
const DirEnv = "DORIVO_LINCHECK_DIR"

// Result describes one check.
type Result struct {
	Verdict    porcupine.CheckResult
	Ops        int           // operations checked
	Keys       int           // partitions (keys)
	Unknown    int           // operations with an unknown outcome
	Failed     int           // operations with a definite error
	Elapsed    time.Duration // time spent in porcupine
	Info       porcupine.LinearizationInfo
	Prepared   []porcupine.Operation // the history as checked
	VisualPath string                // set by Check when it wrote a visualization
}

func (r Result) String() string {
	return fmt.Sprintf("%s: %d ops on %d keys (%d unknown, %d failed) checked in %v",
		r.Verdict, r.Ops, r.Keys, r.Unknown, r.Failed, r.Elapsed.Round(time.Microsecond))
}

// PrepareHistory returns a copy of history in which every operation with an
// unknown outcome returns after everything else: it may take effect at any
// time after its call, up to the end of the history, or never (porcupine can
// always linearize it last, after every read). This is how porcupine's own
// etcd test models timeouts.
func PrepareHistory(history []porcupine.Operation) []porcupine.Operation {
	var end int64
	for _, op := range history {
		end = max(end, op.Call, op.Return)
	}
	out := make([]porcupine.Operation, len(history))
	for i, op := range history {
		if op.Output.(Output).Status == StatusUnknown {
			op.Return = end + 1
		}
		out[i] = op
	}
	return out
}

// CheckHistory checks history against Model with porcupine, giving up after
// timeout (Verdict Unknown).
func CheckHistory(history []porcupine.Operation, timeout time.Duration) Result {
	prepared := PrepareHistory(history)
	res := Result{Ops: len(prepared), Keys: len(partitionByKey(prepared)), Prepared: prepared}
	for _, op := range prepared {
		switch op.Output.(Output).Status {
		case StatusUnknown:
			res.Unknown++
		case StatusFailed:
			res.Failed++
		}
	}
	start := time.Now()
	res.Verdict, res.Info = porcupine.CheckOperationsVerbose(Model, prepared, timeout)
	res.Elapsed = time.Since(start)
	return res
}

// Check checks history and fails t unless it is linearizable. On Illegal it
// writes porcupine's HTML visualization (with annotations, if any) and names
// the file in the failure; a timeout (Unknown) fails too.
func Check(t testing.TB, history []porcupine.Operation, timeout time.Duration, annotations ...porcupine.Annotation) Result {
	t.Helper()
	res := CheckHistory(history, timeout)
	switch res.Verdict {
	case porcupine.Ok:
		t.Logf("lincheck: %v", res)
	case porcupine.Unknown:
		t.Errorf("lincheck: check timed out after %v: %v", timeout, res)
	default:
		path, err := writeVisualization(t, res, annotations)
		if err != nil {
			t.Errorf("lincheck: history not linearizable (%v); writing the visualization: %v", res, err)
			return res
		}
		res.VisualPath = path
		t.Errorf("lincheck: history not linearizable (%v); visualization: %s", res, path)
	}
	return res
}

func writeVisualization(t testing.TB, res Result, annotations []porcupine.Annotation) (string, error) {
	dir := os.Getenv(DirEnv)
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("making %s: %w", dir, err)
	}
	name := strings.NewReplacer("/", "_", " ", "_", ":", "_").Replace(t.Name())
	path := filepath.Join(dir, fmt.Sprintf("%s-%d.html", name, time.Now().UnixNano()))
	info := res.Info
	info.AddAnnotations(annotations)
	if err := porcupine.VisualizePath(Model, info, path); err != nil {
		return "", fmt.Errorf("visualizing to %s: %w", path, err)
	}
	return path, nil
}

// FinalRead is one key's value read after the faults healed.
type FinalRead struct {
	Key   string
	Nil   bool
	Value string
}

// ReadFinal reads every key once with rdb. Any error is returned: after the
// faults heal, a read must succeed.
func ReadFinal(ctx context.Context, rdb *redis.Client, keys []string) ([]FinalRead, error) {
	reads := make([]FinalRead, 0, len(keys))
	for _, k := range keys {
		v, err := rdb.Get(ctx, k).Result()
		switch {
		case errors.Is(err, redis.Nil):
			reads = append(reads, FinalRead{Key: k, Nil: true})
		case err != nil:
			return nil, fmt.Errorf("final read of %q: %w", k, err)
		default:
			reads = append(reads, FinalRead{Key: k, Value: v})
		}
	}
	return reads, nil
}

// WithFinalReads returns history with the final reads appended as GETs that
// start after every recorded operation has returned. "Every acknowledged
// write reads back" is then exactly: the extended history is linearizable.
// A final value must be what one more read at the end could return: the
// last write in some linearization of everything acknowledged, plus any
// subset of the unknown writes (which stay concurrent with the final reads,
// so they may land before or after them).
func WithFinalReads(history []porcupine.Operation, reads []FinalRead, clientID int) []porcupine.Operation {
	var end int64
	for _, op := range history {
		end = max(end, op.Call, op.Return)
	}
	out := append([]porcupine.Operation(nil), history...)
	for _, r := range reads {
		out = append(out, porcupine.Operation{
			ClientId: clientID,
			Input:    Input{Kind: KindGet, Key: r.Key},
			Call:     end + 1,
			Output:   Output{Status: StatusOK, Nil: r.Nil, Value: r.Value},
			Return:   end + 2,
		})
	}
	return out
}

// CheckFinal checks history extended by the final reads (WithFinalReads).
func CheckFinal(t testing.TB, history []porcupine.Operation, reads []FinalRead, timeout time.Duration, annotations ...porcupine.Annotation) Result {
	t.Helper()
	var clientID int
	for _, op := range history {
		clientID = max(clientID, op.ClientId+1)
	}
	return Check(t, WithFinalReads(history, reads, clientID), timeout, annotations...)
}
