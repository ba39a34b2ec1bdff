package core

import (
	"fmt"
	"sort"
	"strings"

	"github.com/cockroachdb/datadriven"
)

// clientCmd runs the directives of client memory, idleness and quotas:
//
//	read C [bytes=N]  C reads N (all) of its unsent bytes; then cron
//	cron              every loop's Cron at the harness clock
//	quota tenant=T rate=R [burst=B]
//	burst C n=N CMD…  C sends CMD N times; prints how many of each reply
//	clients           each loop's client counters
func (h *harness) clientCmd(d *datadriven.TestData) string {
	switch d.Cmd {
	case "read":
		c := h.conn(d.CmdArgs[0].Key)
		n := len(c.sock)
		d.MaybeScanArgs(h.t, "bytes", &n)
		n = min(n, len(c.sock))
		c.got = append(c.got, c.sock[:n]...)
		c.sock = c.sock[n:]
		h.loops[c.loop].Unsent(c.c, len(c.sock)) // as the shell tells it
		h.cron()
		h.run()
		return h.replies()
	case "cron":
		h.cron()
		h.run()
		return h.replies()
	case "quota":
		var tenant string
		var rate, burst uint32
		d.ScanArgs(h.t, "tenant", &tenant)
		d.ScanArgs(h.t, "rate", &rate)
		d.MaybeScanArgs(h.t, "burst", &burst)
		qs := Quotas{tenant: {Rate: rate, Burst: burst}}
		h.quotas.Store(&qs)
		return "ok\n"
	case "burst":
		c := h.conn(d.CmdArgs[0].Key)
		var n int
		d.ScanArgs(h.t, "n", &n)
		var cmd []string
		for _, a := range d.CmdArgs[2:] {
			cmd = append(cmd, a.Key)
		}
		reqs := make([]string, n)
		for i := range reqs {
			reqs[i] = strings.Join(cmd, " ")
		}
		h.send(c, reqs)
		h.run()
		return countReplies(c)
	case "clients":
		var b strings.Builder
		for i, l := range h.loops {
			st := l.Stats()
			fmt.Fprintf(&b, "loop %d: conns=%d output=%d recent_max=%d paused=%d pauses=%d output_closes=%d timeouts=%d quota_denied=%d\n",
				i, st.Conns, st.OutputBytes, st.RecentMaxOutput, st.Paused, st.Pauses, st.OutputCloses, st.Timeouts, st.QuotaDenied)
		}
		return b.String()
	}
	return ""
}

// cron runs every loop's Cron, the clients' unsent bytes as the shell's.
func (h *harness) cron() {
	for _, l := range h.loops {
		l.Cron(h.now, func(c *Conn) int { return len(c.Shell.(*hconn).sock) })
	}
	h.collect()
}

// countReplies prints how many times c got each distinct reply, and
// forgets them.
func countReplies(c *hconn) string {
	counts := map[string]int{}
	s := string(c.got)
	for s != "" {
		i := strings.Index(s, "\r\n")
		counts[s[:i]]++
		s = s[i+2:]
	}
	c.got = c.got[:0]
	var lines []string
	for r, n := range counts {
		lines = append(lines, fmt.Sprintf("%d × %s", n, r))
	}
	sort.Strings(lines)
	if len(lines) == 0 {
		return "(nothing)\n"
	}
	return strings.Join(lines, "\n") + "\n"
}

// splitArgs splits a request line at spaces; "double quotes" keep spaces.
func splitArgs(line string) []string {
	var args []string
	for line = strings.TrimSpace(line); line != ""; line = strings.TrimSpace(line) {
		if line[0] == '"' {
			if end := strings.IndexByte(line[1:], '"'); end >= 0 {
				args = append(args, line[1:end+1])
				line = line[end+2:]
				continue
			}
		}
		a, rest, _ := strings.Cut(line, " ")
		args = append(args, a)
		line = rest
	}
	return args
}
