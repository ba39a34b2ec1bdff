// Command netdelay is the switch of scripts/cluster.sh: this kernel has no tc
// netem (CONFIG_NET_SCH_NETEM is off, and there is no fq or etf qdisc to pace
// by timestamp), so the cluster's nodes are joined by TAP devices that this
// process switches in user space, delaying every frame a node sends.
//
//	netdelay -delay 500us -host dorivo-br0 dv1 dv2 dv3
//
// It creates one TAP per name (the script moves the node ones into their
// namespaces), learns MAC addresses like a bridge, and forwards each frame
// that came from a node port after -delay; frames from the -host port go at
// once. So a round trip between two nodes takes 2×delay more, and between the
// host and a node 1×delay. It prints "ready" once the TAPs exist and runs
// until SIGTERM or SIGINT; the TAPs vanish with it.
//
// With -control SOCK it also serves a unix socket, one text line per command
// and one line back, that adds faults to a port at runtime, both ways (the
// frames it sends and those sent to it), on top of the base delay:
//
//	set dv2 delay=100ms loss=100   extra delay, random loss in percent (either key alone keeps the other)
//	clear dv2                      back to the base delay, no loss
//	show dv2                       "dv2 delay=100ms loss=100 lost_in=N lost_out=N"
//
// set and clear answer like show; a bad line gets "error: ...". The same
// binary is the client: netdelay -control SOCK -ctl 'set dv2 delay=100ms'.
package main

import (
	"bufio"
	"container/heap"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// queueLen bounds the frames waiting per port; past it frames drop, like a
// full switch buffer.
const queueLen = 8192

type frame struct {
	due  time.Time
	seq  uint64 // arrival order, for equal due times
	data []byte
}

// frameHeap orders a port's waiting frames by due time: a frame from a
// fast port need not wait behind one from a slowed port.
type frameHeap []frame

func (h frameHeap) Len() int { return len(h) }
func (h frameHeap) Less(i, j int) bool {
	return h[i].due.Before(h[j].due) || h[i].due.Equal(h[j].due) && h[i].seq < h[j].seq
}
func (h frameHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *frameHeap) Push(x any)   { *h = append(*h, x.(frame)) }
func (h *frameHeap) Pop() any {
	old := *h
	f := old[len(old)-1]
	*h = old[:len(old)-1]
	return f
}

type port struct {
	name  string
	file  *os.File
	delay time.Duration // base, applied to frames this port receives from its node

	extra   atomic.Int64 // runtime extra delay in ns, both ways
	loss    atomic.Int32 // runtime loss in percent, both ways
	lostIn  atomic.Uint64
	lostOut atomic.Uint64

	mu    sync.Mutex
	queue frameHeap // frames to write to this port
	seq   uint64
	wake  chan struct{} // a frame was queued
}

type relay struct {
	ports []*port
	mu    sync.Mutex
	macs  map[[6]byte]*port
}

func openTap(name string) (*os.File, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tap %q: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("create tap %q: %w", name, err)
	}
	return os.NewFile(uintptr(fd), name), nil // non-blocking: Go's poller reads it
}

// sleepFor waits with the kernel's precision: Go's timers round sub-ms
// sleeps up to about 1 ms, which would double a 0.5 ms delay.
func sleepFor(d time.Duration) {
	if d <= 0 {
		return
	}
	ts := unix.NsecToTimespec(d.Nanoseconds())
	for {
		var rem unix.Timespec
		err := unix.Nanosleep(&ts, &rem)
		if err != unix.EINTR {
			return
		}
		ts = rem
	}
}

func (r *relay) read(p *port) {
	buf := make([]byte, 65536)
	last := map[*port]time.Time{} // due time of the last frame queued to each port
	for {
		n, err := p.file.Read(buf)
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				fmt.Fprintf(os.Stderr, "netdelay: read %s: %v\n", p.name, err)
			}
			return
		}
		if n < 14 {
			continue
		}
		data := append([]byte(nil), buf[:n]...)
		var dst, src [6]byte
		copy(dst[:], data[0:6])
		copy(src[:], data[6:12])
		r.mu.Lock()
		r.macs[src] = p
		to := r.macs[dst]
		r.mu.Unlock()
		now := time.Now()
		if to != nil && dst[0]&1 == 0 {
			if to != p {
				forward(p, to, data, now, last)
			}
			continue
		}
		for _, q := range r.ports { // broadcast, multicast or unknown: flood
			if q != p {
				forward(p, q, data, now, last)
			}
		}
	}
}

// lose draws a random loss at pct percent.
func lose(pct int32) bool { return pct > 0 && rand.Int32N(100) < pct }

// forward queues a frame from p to to, unless the loss of either drops it.
// Its due time counts p's base delay and both ports' extra delays, and
// never comes before the last frame from p to to: a shortened delay does
// not let frames overtake those already queued.
func forward(p, to *port, data []byte, now time.Time, last map[*port]time.Time) {
	if lose(p.loss.Load()) {
		p.lostOut.Add(1)
		return
	}
	if lose(to.loss.Load()) {
		to.lostIn.Add(1)
		return
	}
	due := now.Add(p.delay + time.Duration(p.extra.Load()+to.extra.Load()))
	if prev := last[to]; due.Before(prev) {
		due = prev
	}
	last[to] = due
	to.enqueue(due, data)
}

func (p *port) enqueue(due time.Time, data []byte) {
	p.mu.Lock()
	if len(p.queue) < queueLen { // full: drop
		p.seq++
		heap.Push(&p.queue, frame{due: due, seq: p.seq, data: data})
	}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// next waits for the earliest queued frame to fall due and takes it. Long
// waits sleep on a timer a new earlier frame can cut short; the last stretch
// sleeps in the kernel, in steps short enough to see a new earlier frame.
func (p *port) next() frame {
	for {
		p.mu.Lock()
		if len(p.queue) == 0 {
			p.mu.Unlock()
			<-p.wake
			continue
		}
		wait := time.Until(p.queue[0].due)
		if wait <= 0 {
			f := heap.Pop(&p.queue).(frame)
			p.mu.Unlock()
			return f
		}
		p.mu.Unlock()
		if wait > 2*time.Millisecond {
			t := time.NewTimer(wait - time.Millisecond)
			select {
			case <-t.C:
			case <-p.wake:
				t.Stop()
			}
			continue
		}
		sleepFor(min(wait, 250*time.Microsecond))
	}
}

func (p *port) write() {
	for {
		f := p.next()
		if _, err := p.file.Write(f.data); err != nil && errors.Is(err, os.ErrClosed) {
			return
		}
	}
}

func main() {
	delay := flag.Duration("delay", 500*time.Microsecond, "delay of every frame a node sends")
	host := flag.String("host", "", "TAP for the host namespace (its frames are not delayed)")
	control := flag.String("control", "", "unix socket for runtime faults (set, clear, show)")
	ctl := flag.String("ctl", "", "send this line to the -control socket, print the reply and exit")
	flag.Parse()
	if *ctl != "" {
		os.Exit(client(*control, *ctl))
	}
	if *host == "" || flag.NArg() < 1 || *delay < 0 {
		fmt.Fprintln(os.Stderr, "usage: netdelay -delay 500us -host TAP [-control SOCK] NODE_TAP...")
		os.Exit(2)
	}
	r := &relay{macs: map[[6]byte]*port{}}
	for i, name := range append([]string{*host}, flag.Args()...) {
		f, err := openTap(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, "netdelay:", err)
			os.Exit(1)
		}
		p := &port{name: name, file: f, wake: make(chan struct{}, 1)}
		if i > 0 {
			p.delay = *delay
		}
		r.ports = append(r.ports, p)
	}
	if *control != "" {
		ln, err := net.Listen("unix", *control)
		if err != nil {
			fmt.Fprintln(os.Stderr, "netdelay: control socket:", err)
			os.Exit(1)
		}
		defer ln.Close() // removes the socket file
		go r.serve(ln)
	}
	for _, p := range r.ports {
		go r.read(p)
		go p.write()
	}
	fmt.Println("ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	for _, p := range r.ports {
		p.file.Close()
	}
}

// serve answers control connections, one reply line per command line.
func (r *relay) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			sc := bufio.NewScanner(c)
			for sc.Scan() {
				if _, err := fmt.Fprintln(c, r.command(sc.Text())); err != nil {
					return
				}
			}
		}()
	}
}

// command runs one control line and returns its reply.
func (r *relay) command(line string) string {
	words := strings.Fields(line)
	if len(words) < 2 {
		return "error: want set PORT [delay=DUR] [loss=PCT], clear PORT or show PORT"
	}
	var p *port
	for _, q := range r.ports {
		if q.name == words[1] {
			p = q
		}
	}
	if p == nil {
		return fmt.Sprintf("error: no port %q", words[1])
	}
	switch {
	case words[0] == "set" && len(words) > 2:
		extra, loss, err := parseSet(words[2:], time.Duration(p.extra.Load()), int(p.loss.Load()))
		if err != nil {
			return "error: " + err.Error()
		}
		p.extra.Store(int64(extra))
		p.loss.Store(int32(loss))
	case words[0] == "clear" && len(words) == 2:
		p.extra.Store(0)
		p.loss.Store(0)
	case words[0] == "show" && len(words) == 2:
	default:
		return fmt.Sprintf("error: unknown command %q", line)
	}
	return fmt.Sprintf("%s delay=%v loss=%d lost_in=%d lost_out=%d", p.name,
		time.Duration(p.extra.Load()), p.loss.Load(), p.lostIn.Load(), p.lostOut.Load())
}

// parseSet reads delay=DUR and loss=PCT words over the current values.
func parseSet(words []string, extra time.Duration, loss int) (time.Duration, int, error) {
	for _, w := range words {
		key, val, _ := strings.Cut(w, "=")
		var err error
		switch key {
		case "delay":
			extra, err = time.ParseDuration(val)
			if err == nil && (extra < 0 || extra > time.Minute) {
				err = fmt.Errorf("delay %v out of 0..1m", extra)
			}
		case "loss":
			loss, err = strconv.Atoi(strings.TrimSuffix(val, "%"))
			if err == nil && (loss < 0 || loss > 100) {
				err = fmt.Errorf("loss %d out of 0..100", loss)
			}
		default:
			err = fmt.Errorf("unknown key %q, want delay= or loss=", key)
		}
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", w, err)
		}
	}
	return extra, loss, nil
}

// client sends line to the control socket and prints the reply.
func client(sock, line string) int {
	c, err := net.DialTimeout("unix", sock, 5*time.Second)
	if err != nil {
		fmt.Fprintln(os.Stderr, "netdelay: control socket:", err)
		return 1
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintln(c, line); err != nil {
		fmt.Fprintln(os.Stderr, "netdelay: send to control socket:", err)
		return 1
	}
	reply, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		fmt.Fprintln(os.Stderr, "netdelay: reply from control socket:", err)
		return 1
	}
	reply = strings.TrimSpace(reply)
	if strings.HasPrefix(reply, "error:") {
		fmt.Fprintln(os.Stderr, "netdelay:", reply)
		return 1
	}
	fmt.Println(reply)
	return 0
}
