package slot

import "fmt"

// Table maps every slot to the event loop that owns it. The agent mirrors
// it into the slot_loop BPF map, so the kernel and the datapath agree on
// each slot's owner.
type Table [Count]uint32

// NewTable splits the slots into loops contiguous ranges of near-equal size,
// as Redis Cluster assigns slot ranges to masters.
func NewTable(loops int) (*Table, error) {
	if loops < 1 || loops > MaxLoops {
		return nil, fmt.Errorf("slot table: %d loops, want 1..%d", loops, MaxLoops)
	}
	var t Table
	for s := range t {
		t[s] = uint32(s * loops / Count)
	}
	return &t, nil
}

// Owner returns the loop that owns slot s.
func (t *Table) Owner(s uint16) int { return int(t[s]) }
