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
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// queueLen bounds the frames waiting per port; past it frames drop, like a
// full switch buffer.
const queueLen = 8192

type frame struct {
	due  time.Time
	data []byte
}

type port struct {
	name  string
	file  *os.File
	delay time.Duration // applied to frames this port receives from its node
	out   chan frame
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

// sleepUntil waits with the kernel's precision: Go's timers round sub-ms
// sleeps up to about 1 ms, which would double a 0.5 ms delay.
func sleepUntil(t time.Time) {
	d := time.Until(t)
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
		f := frame{due: time.Now().Add(p.delay), data: data}
		if to != nil && dst[0]&1 == 0 {
			if to != p {
				to.enqueue(f)
			}
			continue
		}
		for _, q := range r.ports { // broadcast, multicast or unknown: flood
			if q != p {
				q.enqueue(f)
			}
		}
	}
}

func (p *port) enqueue(f frame) {
	select {
	case p.out <- f:
	default: // full: drop
	}
}

func (p *port) write() {
	for f := range p.out {
		sleepUntil(f.due)
		if _, err := p.file.Write(f.data); err != nil && errors.Is(err, os.ErrClosed) {
			return
		}
	}
}

func main() {
	delay := flag.Duration("delay", 500*time.Microsecond, "delay of every frame a node sends")
	host := flag.String("host", "", "TAP for the host namespace (its frames are not delayed)")
	flag.Parse()
	if *host == "" || flag.NArg() < 1 || *delay < 0 {
		fmt.Fprintln(os.Stderr, "usage: netdelay -delay 500us -host TAP NODE_TAP...")
		os.Exit(2)
	}
	r := &relay{macs: map[[6]byte]*port{}}
	for i, name := range append([]string{*host}, flag.Args()...) {
		f, err := openTap(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, "netdelay:", err)
			os.Exit(1)
		}
		p := &port{name: name, file: f, out: make(chan frame, queueLen)}
		if i > 0 {
			p.delay = *delay
		}
		r.ports = append(r.ports, p)
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
