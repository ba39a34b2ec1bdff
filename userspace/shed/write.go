package shed

import (
	"context"
	"log/slog"

	"github.com/dorivo/dorivo/bpf"
	"github.com/dorivo/dorivo/datapath/core"
)

// write stores next's entries that differ from the last ones in the map,
// in one batch, and publishes next to the loops if anything changed. The
// kernel's shed bits are the loops' core.ShedReason values
// (TestReasonsAgree), so an entry goes to both as it is. Only Sync's
// goroutine writes m.last; Shed reads it under m.mu.
func (m *Mirror) write(next *core.ShedSet) {
	var keys []uint32
	var vals []bpf.DorivoShedEntry
	shed := 0
	for s := range next {
		if next[s].Reasons != 0 {
			shed++
		}
		if next[s] != m.last[s] || !m.written {
			keys = append(keys, uint32(s))
			vals = append(vals, bpf.DorivoShedEntry{Reasons: uint32(next[s].Reasons), RetryAfterMs: uint32(next[s].RetryAfterMs)})
		}
	}
	if len(keys) == 0 {
		return
	}
	if m.opts.Map != nil {
		if _, err := m.opts.Map.BatchUpdate(keys, vals, nil); err != nil {
			// The map keeps what it had; the next Sync tries again.
			m.writeErrors++
			m.opts.Logger.Error("write slot_shed map", "slots", len(keys), "err", err)
			return
		}
	}
	m.mu.Lock()
	m.last, m.written = *next, true
	m.mu.Unlock()
	if m.opts.Board != nil {
		if shed == 0 {
			m.opts.Board.Publish(nil)
		} else {
			published := *next // the board's copy is never changed
			m.opts.Board.Publish(&published)
		}
	}
	if shed != m.lastShed {
		m.opts.Logger.Log(context.Background(), levelOf(shed), "shed slots changed", slog.Int("shed_slots", shed), slog.Int("was", m.lastShed))
		m.lastShed = shed
	}
}

func levelOf(shed int) slog.Level {
	if shed > 0 {
		return slog.LevelWarn
	}
	return slog.LevelInfo
}

// Shed returns the entries last written: slot -> entry, shed slots only.
func (m *Mirror) Shed() map[uint16]core.ShedEntry {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[uint16]core.ShedEntry{}
	for s, e := range m.last {
		if e.Reasons != 0 {
			out[uint16(s)] = e
		}
	}
	return out
}
