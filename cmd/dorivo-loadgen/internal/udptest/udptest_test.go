package udptest

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/dorivo/dorivo/datapath/wire"
)

func TestServerAnswersAsTheProtocolSays(t *testing.T) {
	s := Start(t, 0)
	c, err := net.Dial("udp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip := func(dg []byte) wire.Reply {
		t.Helper()
		if _, err := c.Write(dg); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, wire.MaxDatagram)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		var rep wire.Reply
		if err := wire.ParseReply(buf[:n], &rep); err != nil {
			t.Fatal(err)
		}
		return rep
	}
	req := func(r wire.Request) []byte {
		b, err := wire.AppendRequest(nil, &r)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	key := []byte("{acme}:k")
	if r := roundTrip(req(wire.Request{ID: 1, Op: wire.OpGet, Key: key})); r.Status != wire.StatusNotFound || r.ID != 1 {
		t.Errorf("GET of a missing key: %+v", r)
	}
	if r := roundTrip(req(wire.Request{ID: 2, Op: wire.OpSet, Key: key, Value: []byte("v")})); r.Status != wire.StatusOK || r.Op != wire.OpSet {
		t.Errorf("SET: %+v", r)
	}
	if r := roundTrip(req(wire.Request{ID: 3, Op: wire.OpGet, Key: key})); r.Status != wire.StatusOK || string(r.Body) != "v" {
		t.Errorf("GET: %+v", r)
	}
	big := wire.AppendRequestUnchecked(nil, &wire.Request{ID: 4, Op: wire.OpSet, Tag: []byte("acme"), Key: key, Value: bytes.Repeat([]byte("x"), 2000)})
	if r := roundTrip(big); r.Status != wire.StatusError || string(r.Body) != wire.ValueTooLargeMessage {
		t.Errorf("oversized SET: %+v %q", r, r.Body)
	}
	if r := roundTrip(req(wire.Request{ID: 5, Op: wire.OpGet, Tag: []byte("other"), Key: key})); r.Status != wire.StatusError {
		t.Errorf("GET with a foreign tag: %+v", r)
	}
}
