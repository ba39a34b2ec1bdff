package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/cilium/ebpf"

	"github.com/dorivo/dorivo/bpf"
	"github.com/dorivo/dorivo/userspace/stats"
)

// statusShed is the shedding part of `dorivo status`: the slots the kernel
// sheds now, by reason (from the pinned slot_shed map, which needs no
// agent), and the agent's breakers and loops (GET /breakers on its admin
// server, when it answers).
type statusShed struct {
	Slots      map[string]int `json:"shed_slots"`
	Agent      *shedStatus    `json:"agent,omitempty"`
	AgentError string         `json:"agent_error,omitempty"`
}

// readStatusShed reads both parts; only a pinned map that cannot be read is
// an error.
func readStatusShed(pinDir, adminAddr, tokenFile string) (*statusShed, error) {
	s := &statusShed{Slots: map[string]int{}}
	m, err := ebpf.LoadPinnedMap(filepath.Join(pinDir, "slot_shed"), &ebpf.LoadPinOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("open pinned slot_shed: %w", err)
	}
	defer m.Close()
	var k uint32
	var e bpf.DorivoShedEntry
	it := m.Iterate()
	for it.Next(&k, &e) {
		for _, r := range []struct {
			bit  bpf.DorivoShedReason
			name string
		}{{bpf.DorivoShedReasonSHED_BREAKER, "breaker"}, {bpf.DorivoShedReasonSHED_OVERLOAD, "overload"}, {bpf.DorivoShedReasonSHED_DISK, "disk"}} {
			if e.Reasons&uint32(r.bit) != 0 {
				s.Slots[r.name]++
			}
		}
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("read slot_shed: %w", err)
	}
	if adminAddr == "" {
		return s, nil
	}
	token := ""
	if tokenFile != "" {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return nil, fmt.Errorf("--admin-token-file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	if s.Agent, err = fetchShedStatus(adminAddr, token); err != nil {
		s.AgentError = err.Error()
	}
	return s, nil
}

// writeTable prints the shedding tables after the maps'.
func (s *statusShed) writeTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "\nshed slots (kernel)\tbreaker %d\toverload %d\tdisk %d\n", s.Slots["breaker"], s.Slots["overload"], s.Slots["disk"])
	switch {
	case s.AgentError != "":
		fmt.Fprintf(tw, "breakers: the agent's admin server did not answer: %s\n", s.AgentError)
	case s.Agent != nil:
		fmt.Fprintln(tw, "\nBREAKER\tSTATE\tFAILURE %\tSLOW %\tCALLS\tREJECTED\tRETRY AFTER\tTRANSITIONS")
		for _, b := range s.Agent.Breakers {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%dms\t%s\n", b.Name, b.State, rate(b.FailureRate), rate(b.SlowCallRate),
				b.Calls, b.NotPermitted, b.RetryAfterMs, transitions(b.Transitions))
		}
		if len(s.Agent.Breakers) == 0 {
			fmt.Fprintln(tw, "(none: the agent runs without a store)")
		}
		fmt.Fprintln(tw, "\nLOOP\tOVERLOADED\tUDP QUEUE\tLATENCY\tSHEDS")
		for _, l := range s.Agent.Loops {
			fmt.Fprintf(tw, "%d\t%v\t%.0f%%\t%v\t%d\n", l.Loop, l.Overloaded, 100*l.Queue, l.Latency, l.Sheds)
		}
	}
	return tw.Flush()
}

func rate(r float64) string {
	if r < 0 {
		return "-" // too few calls to judge
	}
	return fmt.Sprintf("%.1f", r)
}

// transitions lists the states entered at least once, in state order.
func transitions(t map[string]uint64) string {
	var parts []string
	for _, st := range []string{"closed", "open", "half-open", "disabled", "forced-open", "metrics-only"} {
		if n := t[st]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s:%d", st, n))
		}
	}
	return strings.Join(parts, " ")
}

// writeStatusJSON prints the maps' snapshot with the shedding part added
// under "shed".
func writeStatusJSON(w io.Writer, s *stats.Snapshot, sh *statusShed) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		*stats.Snapshot
		Shed *statusShed `json:"shed"`
	}{s, sh})
}
