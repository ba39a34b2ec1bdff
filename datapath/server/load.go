package server

import (
	"context"
	"fmt"

	"golang.org/x/sys/unix"
)

// UDPSocket returns a duplicate of loop i's UDP socket descriptor, for the
// agent's load monitor to read the socket's receive queue (SO_MEMINFO)
// without touching the loop's own descriptor. The caller closes it. It is
// taken on the loop (RunOnLoop), where the descriptor lives.
func (s *Server) UDPSocket(ctx context.Context, i int) (int, error) {
	fd, err := -1, error(nil)
	if e := s.RunOnLoop(ctx, i, func() {
		if s.loops[i].udpFD < 0 {
			err = fmt.Errorf("server: loop %d has no UDP socket", i)
			return
		}
		fd, err = unix.FcntlInt(uintptr(s.loops[i].udpFD), unix.F_DUPFD_CLOEXEC, 0)
	}); e != nil {
		return -1, e
	}
	if err != nil {
		return -1, fmt.Errorf("server: dup loop %d's UDP socket: %w", i, err)
	}
	return fd, nil
}
