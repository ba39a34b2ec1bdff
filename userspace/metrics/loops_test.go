package metrics

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dorivo/dorivo/datapath/resp"
	"github.com/dorivo/dorivo/datapath/server"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// TestLoopMetricsFollowTraffic runs the real datapath (2 loops, no BPF, so
// the kernel hashes the one connection to some loop) and scrapes
// dorivo_loop_* over HTTP after known traffic: the connection's loop parsed
// every request and sent exactly those for the other loop's keys across,
// the other loop served them, and the counters are labelled by loop.
func TestLoopMetricsFollowTraffic(t *testing.T) {
	port := freePort(t)
	srv, err := server.New(server.Config{TCPAddr: fmt.Sprintf("127.0.0.1:%d", port), Loops: 2, NoPin: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Stop(t.Context())
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewLoopCollector(srv.Stats))
	web := httptest.NewServer(Handler(reg))
	defer web.Close()

	table, _ := slot.NewTable(2)
	keys := [2][]string{}
	for i := 0; len(keys[0]) < 7 || len(keys[1]) < 7; i++ {
		k := fmt.Sprintf("key:%d", i)
		o := table.Owner(slot.Of([]byte(k)))
		keys[o] = append(keys[o], k)
	}
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out []byte
	for o := range 2 {
		for _, k := range keys[o][:7] {
			out = resp.AppendCommand(out, []byte("SET"), []byte(k), []byte("v"))
		}
	}
	if _, err := c.Write(out); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	for i := range 14 {
		if l, err := br.ReadString('\n'); err != nil || l != "+OK\r\n" {
			t.Fatalf("reply %d: %q %v", i, l, err)
		}
	}

	body := scrapeBody(t, web.URL)
	get := func(name string, loop int) float64 {
		t.Helper()
		line := fmt.Sprintf("%s{loop=\"%d\"} ", name, loop)
		i := strings.Index(body, line)
		if i < 0 {
			t.Fatalf("scrape lacks %s:\n%s", line, body)
		}
		v, err := strconv.ParseFloat(strings.Fields(body[i+len(line):])[0], 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// The loop that accepted the connection is the one that parsed.
	home := 0
	if get("dorivo_loop_connections_accepted_total", 1) == 1 {
		home = 1
	}
	other := 1 - home
	for _, w := range []struct {
		name string
		loop int
		want float64
	}{
		{"dorivo_loop_connections_accepted_total", home, 1},
		{"dorivo_loop_connections_accepted_total", other, 0},
		{"dorivo_loop_connections", home, 1},
		{"dorivo_loop_requests_total", home, 14},
		{"dorivo_loop_requests_total", other, 0},
		{"dorivo_loop_cross_sent_total", home, 7},
		{"dorivo_loop_cross_sent_total", other, 0},
		{"dorivo_loop_cross_received_total", other, 7},
		{"dorivo_loop_executed_total", home, 7},
		{"dorivo_loop_executed_total", other, 7},
		{"dorivo_loop_datagrams_total", home, 0},
		{"dorivo_loop_nonowner_datagrams_total", other, 0},
		{"dorivo_loop_cpu", home, -1},
	} {
		if got := get(w.name, w.loop); got != w.want {
			t.Errorf("%s{loop=%d} = %v, want %v", w.name, w.loop, got, w.want)
		}
	}
	if !strings.Contains(body, "# TYPE dorivo_loop_requests_total counter") || !strings.Contains(body, "# TYPE dorivo_loop_connections gauge") {
		t.Errorf("metric types wrong:\n%s", body)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func scrapeBody(t *testing.T, url string) string {
	t.Helper()
	r, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
