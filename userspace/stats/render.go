package stats

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteTable writes s for people: the attachment, then one table per map.
// XDP reasons are all listed (a zero says the reason exists and did not
// fire); tenant slots only when non-zero.
func (s *Snapshot) WriteTable(w io.Writer) error {
	acl := "off"
	if s.ACLEnabled {
		acl = "on"
	}
	// One tabwriter per section: columns align within a table only.
	var err error
	section := func(fill func(tw *tabwriter.Writer)) {
		if err != nil {
			return
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fill(tw)
		err = tw.Flush()
	}
	section(func(tw *tabwriter.Writer) {
		fmt.Fprintf(tw, "xdp mode\t%s\n", s.XDPMode)
		fmt.Fprintf(tw, "ifindex\t%d\n", s.Ifindex)
		fmt.Fprintf(tw, "udp port\t%d\n", s.UDPPort)
		fmt.Fprintf(tw, "tcp port\t%d\n", s.TCPPort)
		fmt.Fprintf(tw, "loops\t%d\n", s.NumLoops)
		fmt.Fprintf(tw, "acl\t%s\n", acl)
	})
	section(func(tw *tabwriter.Writer) {
		fmt.Fprintf(tw, "\nXDP REASON\tPACKETS\tBYTES\n")
		for _, c := range s.XDP {
			fmt.Fprintf(tw, "%s\t%d\t%d\n", c.Reason, c.Packets, c.Bytes)
		}
	})
	section(func(tw *tabwriter.Writer) {
		fmt.Fprintf(tw, "\nTC DIRECTION\tPROTO\tPACKETS\tBYTES\n")
		for _, c := range s.TC {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\n", c.Direction, c.Proto, c.Packets, c.Bytes)
		}
	})
	section(func(tw *tabwriter.Writer) {
		fmt.Fprintf(tw, "\nREUSEPORT PROTO\tRESULT\tCOUNT\n")
		for _, c := range s.Reuseport {
			fmt.Fprintf(tw, "%s\t%s\t%d\n", c.Proto, c.Result, c.Count)
		}
	})
	section(func(tw *tabwriter.Writer) {
		fmt.Fprintf(tw, "\nSLOT\tTENANT\tPACKETS\tBYTES\tQUOTA DROPS\n")
		for _, t := range s.Tenants {
			name := t.Tenant
			if name == "" {
				name = "-"
			}
			fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%d\n", t.Slot, name, t.Packets, t.Bytes, t.QuotaDrops)
		}
		if len(s.Tenants) == 0 {
			fmt.Fprintf(tw, "(no tenant traffic yet)\n")
		}
	})
	return err
}

// WriteJSON writes s as one indented JSON document, for scripts.
func (s *Snapshot) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}
