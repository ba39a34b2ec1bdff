package server

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/dorivo/dorivo/datapath/command"
	"github.com/dorivo/dorivo/internal/testenv"
)

// Protected mode, as Redis's: while the default user has no password, a
// client that is not on loopback gets Redis's DENIED text and is closed;
// loopback clients are served, and CONFIG SET protected-mode no or a
// password for the default user lets the others in.
func TestProtectedModeRefusesRemoteClients(t *testing.T) {
	srv := testenv.NewNetns(t, "prot")
	cli := testenv.NewNetns(t, "protc")
	testenv.VethPair(t, srv, "pr0", "10.253.0.1/24", cli, "pr1", "10.253.0.2/24")
	const port = "7341"
	startIn(t, srv, Config{TCPAddr: "0.0.0.0:" + port, Loops: 2})
	remote := func() string { // one request from the other namespace
		t.Helper()
		var got string
		cli.Do(t, func() {
			c, err := net.DialTimeout("tcp", "10.253.0.1:"+port, 5*time.Second)
			if err != nil {
				got = err.Error()
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			_, _ = c.Write(cmd("PING"))
			line, _ := bufio.NewReader(c).ReadString('\n')
			got = strings.TrimSuffix(line, "\r\n")
		})
		return got
	}
	if got := remote(); got != "-"+command.ProtectedModeDenied {
		t.Fatalf("remote client with protected mode on = %.60q", got)
	}
	local := dialIn(t, srv, "127.0.0.1:"+port, 0)
	expect(t, local, "+PONG", "PING")
	expect(t, local, "+OK", "CONFIG", "SET", "protected-mode", "no")
	if got := remote(); got != "+PONG" {
		t.Fatalf("remote client with protected mode off = %q", got)
	}
	expect(t, local, "+OK", "CONFIG", "SET", "protected-mode", "yes")
	if got := remote(); !strings.HasPrefix(got, "-DENIED") {
		t.Fatalf("remote client with protected mode on again = %.60q", got)
	}
	expect(t, local, "+OK", "ACL", "SETUSER", "default", ">s3cret")
	if got := remote(); got != "-NOAUTH Authentication required." {
		t.Fatalf("remote client once the default user has a password = %q", got)
	}
}
