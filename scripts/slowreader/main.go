// Command slowreader measures what one client that pipelines GETs of a
// large value and never reads costs a RESP server: the server's RSS (and
// Go heap, from a /metrics URL) while it runs and after it closed, and
// the PING latency other clients see meanwhile. scripts/bench-slow-reader.sh
// runs it against Dorivo and redis-server in one run.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:6379", "server address")
	pid := flag.Int("pid", 0, "server process, for its RSS")
	metrics := flag.String("metrics", "", "server /metrics URL, for go_memstats_heap_inuse_bytes")
	size := flag.Int("value", 100<<10, "value size in bytes")
	dur := flag.Duration("dur", 10*time.Second, "how long the slow client sends")
	pingers := flag.Int("pingers", 4, "other clients sending PING")
	maxRSS := flag.Int64("max-rss", 4<<30, "stop sending when the server's RSS passes this")
	name := flag.String("name", "server", "label for the report")
	flag.Parse()

	c, err := net.Dial("tcp", *addr)
	check(err)
	big := strings.Repeat("v", *size)
	fmt.Fprintf(c, "*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$%d\r\n%s\r\n", len(big), big)
	line, err := bufio.NewReader(c).ReadString('\n')
	check(err)
	if line != "+OK\r\n" {
		check(fmt.Errorf("SET: %q", line))
	}
	rss0, heap0 := rss(*pid), heap(*metrics)

	var stop atomic.Bool
	var sent atomic.Int64
	slow, err := net.Dial("tcp", *addr)
	check(err)
	go func() { // the slow client: GETs, never a read
		req := []byte(strings.Repeat("*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n", 64))
		for !stop.Load() {
			_ = slow.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			if n, err := slow.Write(req); err != nil && !isTimeout(err) {
				return
			} else {
				sent.Add(int64(n / 22))
			}
		}
	}()
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	for range *pingers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := net.Dial("tcp", *addr)
			check(err)
			r := bufio.NewReader(p)
			for !stop.Load() {
				t := time.Now()
				_, _ = io.WriteString(p, "PING\r\n")
				if _, err := r.ReadString('\n'); err != nil {
					return
				}
				d := time.Since(t)
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
				time.Sleep(time.Millisecond)
			}
		}()
	}
	var peakRSS, peakHeap int64
	end := time.Now().Add(*dur)
	for time.Now().Before(end) {
		time.Sleep(250 * time.Millisecond)
		peakRSS, peakHeap = max(peakRSS, rss(*pid)), max(peakHeap, heap(*metrics))
		if peakRSS > *maxRSS {
			fmt.Fprintf(os.Stderr, "%s: RSS passed %d bytes after %v; stopping early\n", *name, *maxRSS, *dur-time.Until(end))
			break
		}
	}
	stop.Store(true)
	wg.Wait()
	slow.Close()
	time.Sleep(2 * time.Second)
	rssAfter, heapAfter := rss(*pid), heap(*metrics)
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(float64(len(lat))*p))]
	}
	mb := func(b int64) string { return strconv.FormatFloat(float64(b)/(1<<20), 'f', 1, 64) + "MB" }
	fmt.Printf("%s: GETs sent %d; RSS %s -> peak %s -> %s after close; heap %s -> peak %s -> %s; PING n=%d p50=%v p99=%v max=%v\n",
		*name, sent.Load(), mb(rss0), mb(peakRSS), mb(rssAfter), mb(heap0), mb(peakHeap), mb(heapAfter),
		len(lat), pct(0.5), pct(0.99), pct(1))
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// rss is VmRSS of pid in bytes (0 without pid).
func rss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n << 10
		}
	}
	return 0
}

// heap is go_memstats_heap_inuse_bytes from url (0 without one).
func heap(url string) int64 {
	if url == "" {
		return 0
	}
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_memstats_heap_inuse_bytes "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return int64(f)
		}
	}
	return 0
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "slowreader:", err)
		os.Exit(1)
	}
}
