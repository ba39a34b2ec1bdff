package core

import (
	"fmt"
	"strings"
	"testing"

	"github.com/dorivo/dorivo/shardstore/slot"
)

// RANDOMKEY on several loops: nil on an empty keyspace, and keys of every
// loop (a RANDOMKEY run only on the client's loop would only ever return
// that loop's keys), within the user's key patterns.
func TestRandomKeyAnyLoop(t *testing.T) {
	for _, n := range []int{2, 3} {
		t.Run(fmt.Sprint(n, " loops"), func(t *testing.T) {
			h := newHarness(t, harnessOpts{loops: n, ringCap: 64, arena: 1 << 16, deferCap: 64, maxPending: 64})
			tb, _ := slot.NewTable(n)
			c := h.openConn("c1", 0)
			for _, resp3 := range []bool{false, true} {
				if resp3 {
					h.do(c, "HELLO 3")
				}
				want := map[bool]string{false: "$-1\r\n", true: "_\r\n"}[resp3]
				if got := h.do(c, "RANDOMKEY"); got != want {
					t.Fatalf("RANDOMKEY on an empty keyspace: %q, want %q", got, want)
				}
			}
			h.do(c, "HELLO 2")
			var set []string
			for i := range 40 {
				set = append(set, fmt.Sprintf("k%d", i), "v")
			}
			h.do(c, "MSET "+strings.Join(set, " "))
			owners := seenOwners(t, h, c, tb, 300)
			if len(owners) != n {
				t.Fatalf("RANDOMKEY returned keys of loops %v only, want all %d", owners, n)
			}

			// A user confined to ~k1*: only its keys, from every loop that
			// has some.
			h.do(c, "ACL SETUSER u on nopass ~k1* +@all")
			u := h.openConn("u", n-1)
			h.do(u, "AUTH u x")
			mine := map[int]bool{}
			for i := range 40 {
				if k := fmt.Sprintf("k%d", i); strings.HasPrefix(k, "k1") {
					mine[tb.Owner(slot.Of([]byte(k)))] = true
				}
			}
			got := map[int]bool{}
			for range 300 {
				k := bulkText(t, h.do(u, "RANDOMKEY"))
				if !strings.HasPrefix(k, "k1") {
					t.Fatalf("RANDOMKEY for ~k1*: %q", k)
				}
				got[tb.Owner(slot.Of([]byte(k)))] = true
			}
			if len(got) != len(mine) {
				t.Fatalf("RANDOMKEY for ~k1* returned keys of loops %v, want %v", got, mine)
			}
			h.do(c, "FLUSHALL")
			if got := h.do(u, "RANDOMKEY"); got != "$-1\r\n" {
				t.Fatalf("RANDOMKEY after FLUSHALL: %q", got)
			}
		})
	}
}

func seenOwners(t *testing.T, h *harness, c *hconn, tb *slot.Table, tries int) map[int]bool {
	owners := map[int]bool{}
	for range tries {
		k := bulkText(t, h.do(c, "RANDOMKEY"))
		owners[tb.Owner(slot.Of([]byte(k)))] = true
	}
	return owners
}

// openConn opens a client on loop.
func (h *harness) openConn(name string, loop int) *hconn {
	c := &hconn{name: name, loop: loop}
	c.c = h.loops[loop].OpenAt(&c.in, "test", c, h.now)
	h.conns[name] = c
	h.order = append(h.order, name)
	return c
}

// do sends one request and returns its reply.
func (h *harness) do(c *hconn, req string) string {
	h.send(c, []string{req})
	h.run()
	got := string(c.got)
	c.got = c.got[:0]
	return got
}

func bulkText(t *testing.T, r string) string {
	t.Helper()
	i := strings.Index(r, "\r\n")
	if !strings.HasPrefix(r, "$") || i < 0 || r[1] == '-' {
		t.Fatalf("not a bulk string: %q", r)
	}
	return strings.TrimSuffix(r[i+2:], "\r\n")
}
