// Dorivo patch to gnet v2.9.7 (see DORIVO.md).

//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package gnet

import (
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/panjf2000/gnet/v2/pkg/socket"
)

// accept(2) failing with EMFILE or ENFILE (no descriptor left) ended the
// event loop with ErrAcceptSocket, and with it the server. Instead, as
// libuv and nginx do, the process keeps one spare descriptor: on EMFILE a
// loop closes the spare, accepts the pending connection into the freed
// slot and closes it at once (the client sees the connection closed, not
// a hang), then takes the spare back. Without that, level-triggered epoll
// would report the listener readable forever while the connection waits
// in the backlog. The spare is one for the process, behind an RWMutex:
// every accept holds it for reading (an atomic add, no wait), the shedding
// loop for writing (four system calls), so no other loop's accept can take
// the freed slot before the shedding loop does, which left that loop
// spinning without a spare (tried: one spare per loop). Each shed connection counts in
// AcceptShed; a warning is logged once a second at most. What this cannot
// cover: another goroutine of the process taking the freed slot between
// the close and the accept (the loop then retries on the next event).

var (
	spareMu       sync.RWMutex
	spareFD       = -1
	acceptShed    atomic.Uint64
	acceptShedLog atomic.Int64 // unix seconds of the last warning
)

// AcceptShed returns how many connections the event loops accepted and
// closed at once because the process had no descriptor left.
func AcceptShed() uint64 { return acceptShed.Load() }

// acceptLocked is socket.Accept with the spare's read lock held.
func acceptLocked(fd int) (int, unix.Sockaddr, error) {
	spareMu.RLock()
	defer spareMu.RUnlock()
	return socket.Accept(fd)
}

// reserveFD opens the process's spare descriptor, if there is none.
func reserveFD() {
	spareMu.Lock()
	defer spareMu.Unlock()
	reserveLocked()
}

func reserveLocked() {
	if spareFD >= 0 {
		return
	}
	if fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0); err == nil {
		spareFD = fd
	}
}

// shedAccept handles accept(2) on listener lfd failing with cause
// (EMFILE, ENFILE): the pending connection is accepted into the spare
// descriptor's slot and closed.
func (el *eventloop) shedAccept(lfd int, cause error) {
	spareMu.Lock()
	if spareFD >= 0 {
		_ = unix.Close(spareFD)
		spareFD = -1
	}
	nfd, _, err := unix.Accept4(lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
	if err == nil {
		_ = unix.Close(nfd)
	}
	reserveLocked()
	spareMu.Unlock()
	if err != nil {
		return // EAGAIN: another loop took it; EMFILE: the slot was taken, retried on the next event
	}
	n := acceptShed.Add(1)
	now := time.Now().Unix()
	if last := acceptShedLog.Load(); now > last && acceptShedLog.CompareAndSwap(last, now) {
		el.getLogger().Warnf("accept() failed (%v): connection closed at once to keep serving; %d shed so far", cause, n)
	}
}
