package kenum

import (
	"fmt"
	"strings"
	"sync"

	"github.com/cilium/ebpf/btf"

	"github.com/dorivo/dorivo/bpf"
)

// Enum is one C enum: its value names in value order, with the common
// prefix removed and lower-cased (XDP_R_DROP_QUOTA -> drop_quota).
type Enum struct {
	names map[uint64]string
	// Max is the value of the enum's *_MAX member (its count), or the
	// largest value + 1 when it has none.
	Max uint64
}

// Name returns the name of v, or "unknown_<v>" for a value the enum does
// not define.
func (e *Enum) Name(v uint64) string {
	if n, ok := e.names[v]; ok {
		return n
	}
	return fmt.Sprintf("unknown_%d", v)
}

var (
	once  sync.Once
	types *btf.Spec
	err   error
)

// Lookup returns the enum named name (e.g. "xdp_reason") from the
// embedded collection's BTF, with prefix stripped from each member name.
// The *_MAX member, if present, sets Max and gets no name.
func Lookup(name, prefix string) (*Enum, error) {
	once.Do(func() {
		spec, lerr := bpf.LoadDorivo()
		if lerr != nil {
			err = lerr
			return
		}
		types = spec.Types
	})
	if err != nil {
		return nil, fmt.Errorf("read BPF BTF: %w", err)
	}
	var be *btf.Enum
	if err := types.TypeByName(name, &be); err != nil {
		return nil, fmt.Errorf("enum %s in BPF BTF: %w", name, err)
	}
	e := &Enum{names: make(map[uint64]string)}
	var largest uint64
	hasMax := false
	for _, v := range be.Values {
		if strings.HasSuffix(v.Name, "_MAX") {
			e.Max, hasMax = v.Value, true
			continue
		}
		e.names[v.Value] = strings.ToLower(strings.TrimPrefix(v.Name, prefix))
		largest = max(largest, v.Value)
	}
	if !hasMax {
		e.Max = largest + 1
	}
	return e, nil
}

// MustLookup is Lookup for the enums this module ships, whose presence the
// package tests prove; it panics otherwise.
func MustLookup(name, prefix string) *Enum {
	e, err := Lookup(name, prefix)
	if err != nil {
		panic(err)
	}
	return e
}

// The enums user space names.
var (
	XDPReason       = func() *Enum { return MustLookup("xdp_reason", "XDP_R_") }
	TCDir           = func() *Enum { return MustLookup("tc_dir", "TC_") }
	ReuseportReason = func() *Enum { return MustLookup("reuseport_reason", "RP_") }
	XDPMode         = func() *Enum { return MustLookup("xdp_mode", "XDP_MODE_") }
)
