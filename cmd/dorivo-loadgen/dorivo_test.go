package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dorivo/dorivo/datapath/server"
)

// startDorivo starts the real datapath server (2 loops, TCP and UDP on one
// loopback port, threads unpinned to spare the shared CPUs) and returns its
// address.
func startDorivo(t *testing.T) string {
	t.Helper()
	for range 5 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		s, err := server.New(server.Config{TCPAddr: addr, UDPAddr: addr, Loops: 2, NoPin: true,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(); err != nil {
			continue // the port was taken in between: try another
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = s.Stop(ctx)
		})
		return addr
	}
	t.Fatal("no free port for the Dorivo server after 5 tries")
	return ""
}

// TestAgainstDorivoServer drives the real Dorivo datapath: RESP with MSET,
// shard-aware source ports, datagrams, and writes recorded over one
// protocol verified over the other.
func TestAgainstDorivoServer(t *testing.T) {
	addr := startDorivo(t)
	noErrors := func(t *testing.T, args ...string) string {
		t.Helper()
		code, out, stderr := runCLI(t, append([]string{"--target", addr, "--quiet", "--conns", "2", "--pipeline", "4"}, args...)...)
		if code != exitOK {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, stderr)
		}
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) == 10 && f[0] != "op" && (f[1] == "0" || f[9] != "0") {
				t.Errorf("%v: row %v: want requests and no errors\n%s", args, f, out)
			}
		}
		return out
	}
	dir := t.TempDir()
	noErrors(t, "--requests", "2000", "--read-ratio", "0.4", "--mset-ratio", "0.2", "--mset-keys", "4")
	// Record over one protocol, verify over the other, before the next
	// run overwrites the same keys.
	for _, tc := range []struct {
		rec, verifyProto string
		load             []string
	}{
		{"tcp.rec", "udp", []string{"--shard-aware", "--loops", "2"}},
		{"udp.rec", "resp", []string{"--proto", "udp", "--value-size", "1024"}},
	} {
		rec := filepath.Join(dir, tc.rec)
		noErrors(t, append([]string{"--requests", "2000", "--record", rec}, tc.load...)...)
		code, out, stderr := runCLI(t, "--target", addr, "--proto", tc.verifyProto, "--verify", rec)
		if code != exitOK || !strings.Contains(out, "0 missing, 0 wrong") {
			t.Errorf("verify %s over %s: exit %d\n%s%s", tc.rec, tc.verifyProto, code, out, stderr)
		}
	}
	keys := recordedKeys(t, filepath.Join(dir, "udp.rec"))
	redisDo(t, addr, "DEL", keys[0])
	code, out, _ := runCLI(t, "--target", addr, "--proto", "udp", "--verify", filepath.Join(dir, "udp.rec"))
	if code != exitMismatch || !strings.Contains(out, fmt.Sprintf("missing %s\n", keys[0])) {
		t.Errorf("verify after DEL %s: exit %d\n%s", keys[0], code, out)
	}
}
