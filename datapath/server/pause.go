package server

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/dorivo/dorivo/datapath/core"
	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// Paused clients (datapath/core, clients.go): a client whose unsent
// replies passed its bound runs no request until it reads, and its socket
// is not read either, so what it keeps sending waits in the kernel's
// receive buffer and TCP flow control slows it down: it costs no memory
// here. gnet has no call to stop reading a connection, so the shell
// changes the connection's events in gnet's epoll set itself: EPOLLOUT
// only (while gnet has output for it), which gnet's writer keeps; once
// gnet has written everything it asks for EPOLLIN again (ModRead), and
// the next read lets the core resume the client. gnet also re-arms
// EPOLLIN when a write of a late reply would block; then at most one
// read's worth is taken before OnTraffic stops reading again.

// unsentOf is what gnet still holds for c.
func unsentOf(c *core.Conn) int { return c.Shell.(gnet.Conn).OutboundBuffered() }

// setReading turns reading of gc on or off in the loop's epoll set; the
// epoll descriptor is found once, the first time it is needed.
func (l *loop) setReading(gc gnet.Conn, on bool) {
	fd := gc.Fd()
	if l.epfd == -1 {
		epfd, err := epollOf(fd)
		if err != nil {
			l.srv.cfg.Logger.Warn("server: cannot pause reading a client; it is paused from running requests only", "loop", l.idx, "err", err)
			l.epfd = -2 // do not look again
		} else {
			l.epfd = epfd
		}
	}
	if l.epfd < 0 {
		return
	}
	var ev uint32
	if on {
		ev = unix.EPOLLIN | unix.EPOLLPRI
	}
	if gc.OutboundBuffered() > 0 {
		ev |= unix.EPOLLOUT
	}
	_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, fd, &unix.EpollEvent{Fd: int32(fd), Events: ev})
}

// pauseState applies the core's pause of c to its socket after a write.
func (l *loop) pauseState(c *core.Conn, gc gnet.Conn) {
	switch p := c.Paused(); {
	case p:
		l.readOff[c] = struct{}{}
		l.setReading(gc, false)
	case !p && len(l.readOff) > 0:
		if _, off := l.readOff[c]; off {
			delete(l.readOff, c)
			l.setReading(gc, true)
		}
	}
}

// epollOf finds the epoll descriptor of this process that watches fd: the
// one of fd's gnet loop (each loop has its own, and a connection is in
// one), from /proc/self/fdinfo.
func epollOf(fd int) (int, error) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1, fmt.Errorf("find epoll of fd %d: %w", fd, err)
	}
	want := strconv.Itoa(fd)
	for _, e := range ents {
		if link, err := os.Readlink("/proc/self/fd/" + e.Name()); err != nil || link != "anon_inode:[eventpoll]" {
			continue
		}
		info, err := os.ReadFile("/proc/self/fdinfo/" + e.Name())
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(info), "\n") {
			if f := strings.Fields(line); len(f) > 1 && f[0] == "tfd:" && f[1] == want {
				return strconv.Atoi(e.Name())
			}
		}
	}
	return -1, fmt.Errorf("find epoll of fd %d: no epoll descriptor watches it", fd)
}
