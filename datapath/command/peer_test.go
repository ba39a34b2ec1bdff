package command

import (
	"strings"
	"testing"

	"github.com/dorivo/dorivo/shardstore/keyspace"
)

// TestPeerUser: AUTH dorivo-peer works only with the node's peer secret,
// and then runs any command, whatever the default user may do; the user is
// in no table (ACL LIST does not show it).
func TestPeerUser(t *testing.T) {
	n := NewNode()
	ks := keyspace.New()
	run := func(s *Session, args ...string) string {
		b := make([][]byte, len(args))
		for i, a := range args {
			b[i] = []byte(a)
		}
		out, _ := Exec(s, ks, b, 0, nil, nil)
		return string(out)
	}
	admin := NewSession(n)
	if got := run(admin, "ACL", "SETUSER", "default", "resetpass", ">pw", "-@all"); got != "+OK\r\n" {
		t.Fatalf("ACL SETUSER default: %q", got)
	}
	s := NewSession(n)
	const wrong = "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
	if got := run(s, "AUTH", PeerUser, "sixteen bytes or more"); got != wrong {
		t.Errorf("AUTH %s without a peer secret: %q", PeerUser, got)
	}
	n.SetPeerSecret([]byte("sixteen bytes or more"))
	if got := run(s, "AUTH", PeerUser, "not it"); got != wrong {
		t.Errorf("AUTH %s with a wrong secret: %q", PeerUser, got)
	}
	if got := run(s, "AUTH", PeerUser, "sixteen bytes or more"); got != "+OK\r\n" {
		t.Fatalf("AUTH %s: %q", PeerUser, got)
	}
	if got := run(s, "SET", "k", "v"); got != "+OK\r\n" {
		t.Errorf("SET as %s: %q", PeerUser, got)
	}
	if got := run(s, "ACL", "WHOAMI"); got != "$11\r\ndorivo-peer\r\n" {
		t.Errorf("ACL WHOAMI: %q", got)
	}
	if got := run(s, "ACL", "LIST"); !strings.HasPrefix(got, "*1\r\n") || strings.Contains(got, PeerUser) {
		t.Errorf("ACL LIST: %q, want the default user alone", got)
	}
}
