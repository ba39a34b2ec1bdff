package shed

import (
	"testing"
	"time"

	"github.com/dorivo/dorivo/datapath/core"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// The cost of a loop's overload flipping: its 8192 slots (of 2 loops)
// shed, then served again, each one batch into the real slot_shed map and
// one board publish; ns/op covers both flips.
//
//	go test -run '^$' -bench MirrorFlip -benchtime 200x ./userspace/shed/
func BenchmarkMirrorFlip(b *testing.B) {
	m := slotShedMapB(b)
	table, _ := slot.NewTable(2)
	var board core.ShedBoard
	mir, err := NewMirror(Options{Map: m, Board: &board, Table: table, Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	mir.Sync()
	b.ResetTimer()
	for range b.N {
		mir.SetOverloaded(0, 200*time.Millisecond)
		mir.Sync()
		mir.SetOverloaded(0, 0)
		mir.Sync()
	}
	b.StopTimer()
	if board.Current() != nil {
		b.Fatal("still shed")
	}
}
