package dgram

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dorivo/dorivo/datapath/dgram/internal/dgramtest"
	"github.com/dorivo/dorivo/datapath/wire"
	"github.com/dorivo/dorivo/datapath/wire/auth"
)

func mustKey(t *testing.T, s string) wire.Key {
	t.Helper()
	k, err := wire.ParseKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var (
	acmeHex  = "00112233445566778899aabbccddeeff"
	otherHex = "ffeeddccbbaa99887766554433221100"
)

func setup(t *testing.T) (*dgramtest.Server, wire.Key) {
	k := mustKey(t, acmeHex)
	tbl := &auth.Table{Tenants: map[string]auth.Tenant{
		"acme":   {Key: k},
		"legacy": {AllowUnsigned: true},
	}}
	return dgramtest.Start(t, tbl), k
}

func dial(t *testing.T, addr string, o Options) *Client {
	t.Helper()
	if o.Timeout == 0 {
		o.Timeout = 100 * time.Millisecond
	}
	c, err := Dial(addr, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestSignedGetSetDel(t *testing.T) {
	srv, k := setup(t)
	c := dial(t, srv.Addr, Options{Tenant: "acme", Key: k})
	ctx := context.Background()
	if _, found, err := c.Get(ctx, []byte("{acme}:k")); err != nil || found {
		t.Fatalf("Get of a missing key = %v, %v", found, err)
	}
	if err := c.Set(ctx, []byte("{acme}:k"), []byte("v1")); err != nil {
		t.Fatal(err)
	}
	if v, found, err := c.Get(ctx, []byte("{acme}:k")); err != nil || !found || string(v) != "v1" {
		t.Fatalf("Get = %q %v %v", v, found, err)
	}
	if d, err := c.Del(ctx, []byte("{acme}:k")); err != nil || !d {
		t.Fatalf("Del = %v %v", d, err)
	}
	if d, err := c.Del(ctx, []byte("{acme}:k")); err != nil || d {
		t.Fatalf("second Del = %v %v", d, err)
	}
	if err := c.Set(ctx, []byte("acme"), nil); err != nil { // the bare tag is its own hash tag
		t.Fatal(err)
	}
	if _, err := c.Del(ctx, []byte("{beta}:k")); err != ErrWrongTenant {
		t.Fatalf("another tenant's key: %v", err)
	}
	if err := c.Set(ctx, []byte("{acme}:big"), make([]byte, wire.MaxValueLen+1)); err == nil || !errors.Is(err, wire.ErrValueTooLarge) {
		t.Fatalf("oversized value: %v", err)
	}
	if s := c.Stats(); s != (Stats{}) || srv.RefusedCount() != 0 {
		t.Fatalf("stats %+v, refused %d", s, srv.RefusedCount())
	}
}

// The wrong key, an unsigned request for a keyed tenant, and a signed one
// for a tenant without a key get no reply at all.
func TestRefusedRequestsGetNoReply(t *testing.T) {
	srv, k := setup(t)
	for _, o := range []Options{
		{Tenant: "acme", Key: mustKey(t, otherHex)},
		{Tenant: "acme"},
		{Tenant: "legacy", Key: k},
	} {
		c := dial(t, srv.Addr, Options{Tenant: o.Tenant, Key: o.Key, Timeout: 30 * time.Millisecond, Attempts: 2})
		if err := c.Set(context.Background(), []byte("{"+o.Tenant+"}:k"), []byte("v")); err != ErrTimeout {
			t.Errorf("%s: %v, want ErrTimeout", o.Tenant, err)
		}
	}
	if n := srv.RefusedCount(); n != 6 {
		t.Fatalf("server refused %d datagrams, want 6 (3 clients x 2 attempts)", n)
	}
}

func TestUnsignedTenant(t *testing.T) {
	srv, _ := setup(t)
	c := dial(t, srv.Addr, Options{Tenant: "legacy"})
	if err := c.Set(context.Background(), []byte("{legacy}:k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := c.Get(context.Background(), []byte("{legacy}:k")); err != nil || !ok || string(v) != "v" {
		t.Fatalf("Get = %q %v %v", v, ok, err)
	}
}

// A reply signed with another key is thrown away and counted; so is one
// answering another request. The call still succeeds when the real reply
// comes, or times out when none does.
func TestForgedAndStaleRepliesAreIgnored(t *testing.T) {
	srv, k := setup(t)
	c := dial(t, srv.Addr, Options{Tenant: "acme", Key: k, Timeout: 50 * time.Millisecond, Attempts: 2})
	srv.Misbehave(wire.Key{}, true, false, 0)
	if err := c.Set(context.Background(), []byte("{acme}:k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if s := c.Stats(); s.Stale != 1 || s.Forged != 0 {
		t.Fatalf("stats %+v, want 1 stale", s)
	}
	srv.Misbehave(mustKey(t, otherHex), false, false, 0)
	if _, _, err := c.Get(context.Background(), []byte("{acme}:k")); err != ErrTimeout {
		t.Fatalf("only forged replies: %v, want ErrTimeout", err)
	}
	if s := c.Stats(); s.Forged != 2 {
		t.Fatalf("stats %+v, want 2 forged (one per attempt)", s)
	}
}

// A lost request is retried with a fresh timestamp and MAC.
func TestRetryAfterLoss(t *testing.T) {
	srv, k := setup(t)
	c := dial(t, srv.Addr, Options{Tenant: "acme", Key: k, Timeout: 30 * time.Millisecond, Attempts: 3})
	srv.Misbehave(wire.Key{}, false, false, 2)
	if err := c.Set(context.Background(), []byte("{acme}:k"), []byte("v")); err != nil {
		t.Fatalf("third attempt should succeed: %v", err)
	}
}

func TestStatusErrors(t *testing.T) {
	srv, k := setup(t)
	c := dial(t, srv.Addr, Options{Tenant: "acme", Key: k})
	srv.Misbehave(wire.Key{}, false, true, 0)
	if err := c.Set(context.Background(), []byte("{acme}:k"), []byte("v")); err != ErrOverQuota {
		t.Fatalf("over quota: %v", err)
	}
	srv.Misbehave(wire.Key{}, false, false, 0)
	srv.Unavailable(750 * time.Millisecond)
	_, _, err := c.Get(context.Background(), []byte("{acme}:k"))
	var ue *UnavailableError
	if !errors.Is(err, ErrUnavailable) || !errors.As(err, &ue) || ue.RetryAfter != 750*time.Millisecond {
		t.Fatalf("unavailable: %v, want ErrUnavailable with retry after 750ms", err)
	}
	srv.Unavailable(0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	srv.Misbehave(wire.Key{}, false, false, 100)
	if err := c.Set(ctx, []byte("{acme}:k"), []byte("v")); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: %v", err)
	}
	if _, err := Dial("127.0.0.1:1", Options{}); err == nil || !strings.Contains(err.Error(), "tenant tag") {
		t.Fatalf("Dial without a tenant: %v", err)
	}
}
