package lincheck

import (
	"fmt"
	"hash/fnv"
	"math"
	"strconv"

	"github.com/anishathalye/porcupine"
)

// Kind names a command of the register store.
type Kind uint8

const (
	KindGet    Kind = iota + 1 // GET k
	KindSet                    // SET k v
	KindIncr                   // INCR k
	KindSetGet                 // SET k v GET: swap, returns the old value
)

func (k Kind) String() string {
	switch k {
	case KindGet:
		return "GET"
	case KindSet:
		return "SET"
	case KindIncr:
		return "INCR"
	case KindSetGet:
		return "SETGET"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// IsWrite reports whether the command may change the stored value.
func (k Kind) IsWrite() bool { return k != KindGet }

// Input is one command as the client issued it.
type Input struct {
	Kind  Kind
	Key   string
	Value string // the value written by SET and SETGET; empty otherwise
}

// Status classifies how an operation ended.
type Status uint8

const (
	// StatusOK: the server replied with a result (Output.Value/Nil/Int hold it).
	StatusOK Status = iota + 1
	// StatusNotInteger: INCR was refused because the value is not a canonical
	// int64 or the increment would overflow. The model checks that this was
	// the right answer for the state; nothing changed.
	StatusNotInteger
	// StatusFailed: a definite error. The write did not take effect and never
	// will (-TRYAGAIN, -CLUSTERDOWN, any error reply other than -TIMEOUT, a
	// failed dial). The model treats it as a no-op.
	StatusFailed
	// StatusUnknown: the write may or may not take effect, at any time up to
	// the end of the history (-TIMEOUT replies, resets, client timeouts).
	// Check moves its return time to the end of the history.
	StatusUnknown
)

func (s Status) String() string {
	switch s {
	case StatusOK:
		return "ok"
	case StatusNotInteger:
		return "not-integer"
	case StatusFailed:
		return "failed"
	case StatusUnknown:
		return "unknown"
	}
	return fmt.Sprintf("Status(%d)", uint8(s))
}

// Output is what the client saw.
type Output struct {
	Status Status
	Nil    bool   // GET/SETGET: the key did not exist
	Value  string // GET/SETGET: the (old) value
	Int    int64  // INCR: the new value
	Err    string // the error text for non-OK outcomes, for the visualization
}

// state is one key's register. It is comparable, so porcupine's default
// shallow equality applies.
type state struct {
	exists bool
	value  string
}

// parseRedisInt parses v the way Redis's string2ll does: only the canonical
// decimal form of an int64 ("-0", "+1", "01" and " 1" are not integers).
func parseRedisInt(v string) (int64, bool) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || strconv.FormatInt(n, 10) != v {
		return 0, false
	}
	return n, true
}

// incr returns the value INCR would leave and whether it succeeds.
func incr(st state) (int64, bool) {
	var n int64
	if st.exists {
		var ok bool
		if n, ok = parseRedisInt(st.value); !ok {
			return 0, false
		}
	}
	if n == math.MaxInt64 {
		return 0, false
	}
	return n + 1, true
}

// readMatches reports whether a reply of nil/value is what st holds.
func readMatches(st state, out Output) bool {
	if out.Nil {
		return !st.exists
	}
	return st.exists && st.value == out.Value
}

// step is the sequential specification of one key.
func step(s, in, out interface{}) (bool, interface{}) {
	st := s.(state)
	inp := in.(Input)
	o := out.(Output)
	switch o.Status {
	case StatusFailed:
		return true, st // a definite error: nothing happened
	case StatusUnknown:
		return true, apply(st, inp) // linearized means: it happened here
	}
	switch inp.Kind {
	case KindGet:
		return o.Status == StatusOK && readMatches(st, o), st
	case KindSet:
		return o.Status == StatusOK, apply(st, inp)
	case KindSetGet:
		return o.Status == StatusOK && readMatches(st, o), apply(st, inp)
	case KindIncr:
		n, ok := incr(st)
		if !ok {
			return o.Status == StatusNotInteger, st
		}
		return o.Status == StatusOK && o.Int == n, state{exists: true, value: strconv.FormatInt(n, 10)}
	}
	return false, st
}

// apply is the effect of a write that happened, whatever its reply was.
func apply(st state, in Input) state {
	switch in.Kind {
	case KindSet, KindSetGet:
		return state{exists: true, value: in.Value}
	case KindIncr:
		if n, ok := incr(st); ok {
			return state{exists: true, value: strconv.FormatInt(n, 10)}
		}
	}
	return st
}

// partitionByKey splits a history into one register per key; keys are
// independent, so the history is linearizable iff every part is.
func partitionByKey(history []porcupine.Operation) [][]porcupine.Operation {
	index := map[string]int{}
	var parts [][]porcupine.Operation
	for _, op := range history {
		k := op.Input.(Input).Key
		i, ok := index[k]
		if !ok {
			i = len(parts)
			index[k] = i
			parts = append(parts, nil)
		}
		parts[i] = append(parts[i], op)
	}
	return parts
}

func hashState(s interface{}) uint64 {
	st := s.(state)
	h := fnv.New64a()
	if st.exists {
		h.Write([]byte{1})
		h.Write([]byte(st.value))
	}
	return h.Sum64()
}

func describeOperation(in, out interface{}) string {
	inp := in.(Input)
	o := out.(Output)
	var call string
	switch inp.Kind {
	case KindSet:
		call = fmt.Sprintf("SET %s %q", inp.Key, inp.Value)
	case KindSetGet:
		call = fmt.Sprintf("SET %s %q GET", inp.Key, inp.Value)
	default:
		call = fmt.Sprintf("%s %s", inp.Kind, inp.Key)
	}
	switch {
	case o.Status == StatusUnknown:
		return call + " -> ? (" + o.Err + ")"
	case o.Status != StatusOK:
		return call + " -> error (" + o.Err + ")"
	case inp.Kind == KindSet:
		return call + " -> OK"
	case inp.Kind == KindIncr:
		return fmt.Sprintf("%s -> %d", call, o.Int)
	case o.Nil:
		return call + " -> nil"
	}
	return fmt.Sprintf("%s -> %q", call, o.Value)
}

func describeState(s interface{}) string {
	st := s.(state)
	if !st.exists {
		return "nil"
	}
	return strconv.Quote(st.value)
}

// Model is the porcupine model of a Redis-like store of string registers
// (SET, GET, INCR, SET…GET), partitioned by key. Histories for it hold
// Input and Output values. Unknown outcomes must have their Return moved
// to the end of the history; Check does that (see PrepareHistory).
var Model = porcupine.Model{
	Partition:         partitionByKey,
	Init:              func() interface{} { return state{} },
	Step:              step,
	Hash:              hashState,
	DescribeOperation: describeOperation,
	DescribeState:     describeState,
}
