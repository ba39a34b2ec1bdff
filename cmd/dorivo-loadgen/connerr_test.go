package main

import (
	"encoding/json"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dorivo/dorivo/datapath/resp"
)

// resetServer accepts RESP connections on a loopback port, answers the
// first answered commands of each (+OK or a nil bulk), then, on the next
// bytes it reads, resets the connection (SO_LINGER 0: the peer gets an
// RST). answered 0 resets each connection on its first request.
func resetServer(t *testing.T, answered int) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { serveThenReset(c.(*net.TCPConn), answered) })
		}
	})
	return l.Addr().String()
}

func serveThenReset(c *net.TCPConn, answered int) {
	defer c.Close()
	_ = c.SetLinger(0)
	buf := make([]byte, 0, 64<<10)
	var args [][]byte
	for served := 0; ; {
		n, err := c.Read(buf[len(buf):cap(buf)])
		if err != nil || served == answered {
			return
		}
		buf = buf[:len(buf)+n]
		var out []byte
		for served < answered {
			var used int
			if args, used, err = resp.Parse(buf, args, resp.DefaultLimits); err != nil || used == 0 {
				break
			}
			buf = buf[:copy(buf, buf[used:])]
			served++
			if string(args[0]) == "GET" {
				out = resp.AppendNull(out)
			} else {
				out = resp.AppendOK(out)
			}
		}
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

var connErrLine = regexp.MustCompile(`(?m)^connection error (.+): (\d+)$`)

// connErrors returns the report's "connection error KIND: N" lines.
func connErrors(out string) map[string]int {
	m := map[string]int{}
	for _, sub := range connErrLine.FindAllStringSubmatch(out, -1) {
		n, _ := strconv.Atoi(sub[2])
		m[sub[1]] += n
	}
	return m
}

// TestConnectionResetFailsTheRun: a server that resets every connection,
// at once or after some replies, must make the run exit 1 with the resets
// in the report and one line on stderr, never exit 0.
func TestConnectionResetFailsTheRun(t *testing.T) {
	for _, answered := range []int{0, 50} {
		addr := resetServer(t, answered)
		code, out, stderr := runCLI(t, "--target", addr, "--conns", "3", "--pipeline", "4", "--duration", "2s", "--quiet")
		errs := connErrors(out)
		if code != exitFailure {
			t.Errorf("answered %d then reset: exit %d, want %d\n%s%s", answered, code, exitFailure, out, stderr)
		}
		// Each of the 3 connections failed once; the kind depends on where
		// the RST met it (a read: reset; a write after the peer left: broken pipe/reset).
		total := 0
		for _, n := range errs {
			total += n
		}
		if total != 3 {
			t.Errorf("answered %d then reset: connection errors %v in the report, want 3 in all\n%s", answered, errs, out)
		}
		if !strings.Contains(stderr, "3 connections failed") || strings.Count(stderr, "\n") != 1 {
			t.Errorf("answered %d then reset: stderr %q, want one line naming 3 failed connections", answered, stderr)
		}
		if answered > 0 && !strings.Contains(out, "ALL") {
			t.Errorf("report missing:\n%s", out)
		}
	}
	// JSON carries them too.
	addr := resetServer(t, 10)
	code, out, _ := runCLI(t, "--target", addr, "--conns", "2", "--duration", "2s", "--quiet", "--json")
	var rep struct {
		ConnErrors map[string]int64 `json:"connection_errors"`
		Total      struct {
			Requests int64 `json:"requests"`
		} `json:"total"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("JSON report: %v\n%s", err, out)
	}
	var n int64
	for _, v := range rep.ConnErrors {
		n += v
	}
	if code != exitFailure || n != 2 || rep.Total.Requests != 20 {
		t.Errorf("JSON: exit %d, connection_errors %v, %d requests; want exit 1, 2 errors, 20 requests\n%s", code, rep.ConnErrors, rep.Total.Requests, out)
	}
}

// TestDorivoStoppedMidRun stops the real Dorivo datapath while the load
// generator drives it: every connection is closed under it, so the run
// must fail and say so.
func TestDorivoStoppedMidRun(t *testing.T) {
	addr, stop := startDorivoStoppable(t)
	go func() {
		time.Sleep(500 * time.Millisecond)
		stop()
	}()
	code, out, stderr := runCLI(t, "--target", addr, "--conns", "4", "--pipeline", "8", "--duration", "5s", "--quiet")
	errs := connErrors(out)
	total := 0
	for _, n := range errs {
		total += n
	}
	if code != exitFailure || total != 4 || !strings.Contains(stderr, "4 connections failed") {
		t.Errorf("datapath stopped mid-run: exit %d, connection errors %v; want exit 1 and 4 failed connections\n%s%s", code, errs, out, stderr)
	}
	// The requests before the stop were served and reported.
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 10 && f[0] == "ALL" && f[1] == "0" {
			t.Errorf("no request served before the stop:\n%s", out)
		}
	}
}

// TestDorivoStoppedMidRunUDP: after the datapath stops, the loopback
// answers datagrams with ICMP port unreachable; each socket must report
// it (connection refused) and the run must fail.
func TestDorivoStoppedMidRunUDP(t *testing.T) {
	addr, stop := startDorivoStoppable(t)
	go func() {
		time.Sleep(500 * time.Millisecond)
		stop()
	}()
	code, out, stderr := runCLI(t, append(keyFlags(), "--proto", "udp", "--target", addr, "--conns", "3", "--pipeline", "8",
		"--duration", "2s", "--timeout", "300ms", "--quiet")...)
	errs := connErrors(out)
	if code != exitFailure || errs["connection refused"] != 3 || !strings.Contains(stderr, "3 connections failed") {
		t.Errorf("datapath stopped mid-run: exit %d, connection errors %v; want exit 1 and 3 refused sockets\n%s%s", code, errs, out, stderr)
	}
}
