package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// minReservedFDs is Redis's CONFIG_MIN_RESERVED_FDS: descriptors kept
// beyond one per client for everything else (listeners, files, logs).
const minReservedFDs = 32

// fdsPerLoop is what each event loop opens once it starts, after
// adjustOpenFiles has counted: its TCP and UDP sockets and their dups for
// the sockarrays, its epoll and eventfd, the bootstrap connection (6-7
// measured with 2 loops; TestAgentFitsMaxclientsToLowFDLimit checks the sum).
const fdsPerLoop = 8

// nrOpenPath holds the kernel's ceiling for RLIMIT_NOFILE (fs.nr_open).
const nrOpenPath = "/proc/sys/fs/nr_open"

// fdLimits is what adjustOpenFiles found and did.
type fdLimits struct {
	before, after uint64 // soft RLIMIT_NOFILE at entry and on return
	need          uint64 // descriptors maxclients needs
	maxClients    int64  // maxclients that fits in after
	err           error  // why the limit could not reach need, if it did not
}

// adjustOpenFiles is Redis's adjustOpenFilesLimit for the agent: it raises
// RLIMIT_NOFILE so that maxClients connections fit beside the descriptors
// already open (BPF objects, the store, the runtime's), those the loops
// will open (fdsPerLoop each) and minReservedFDs, as far as the system
// allows: the soft limit up to the hard one, and,
// with CAP_SYS_RESOURCE (root), the hard limit up to fs.nr_open. When even
// that is too few it lowers maxclients to fit and logs Redis's three
// warnings; with no room for one client it fails.
func adjustOpenFiles(maxClients int64, loops int, log *slog.Logger) (int64, error) {
	inUse, err := openFDs()
	if err != nil {
		return 0, err
	}
	l, err := fitOpenFiles(maxClients, inUse+uint64(loops)*fdsPerLoop+minReservedFDs)
	if err != nil {
		return 0, err
	}
	switch {
	case l.maxClients < maxClients:
		log.Warn(fmt.Sprintf("You requested maxclients of %d requiring at least %d max file descriptors.", maxClients, l.need))
		log.Warn(fmt.Sprintf("Server can't set maximum open files to %d because of OS error: %s.", l.need, errText(l.err)))
		log.Warn(fmt.Sprintf("Current maximum open files is %d. maxclients has been reduced to %d to compensate for low ulimit. If you need higher maxclients increase 'ulimit -n'.", l.after, l.maxClients),
			"fds_in_use", inUse)
	case l.after != l.before:
		log.Info(fmt.Sprintf("Increased maximum number of open files to %d (it was originally set to %d).", l.after, l.before))
	}
	return l.maxClients, nil
}

// fitOpenFiles does adjustOpenFiles's work for reserve descriptors
// besides the clients', without logging.
func fitOpenFiles(maxClients int64, reserve uint64) (*fdLimits, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return nil, fmt.Errorf("getrlimit(RLIMIT_NOFILE): %w", err)
	}
	l := &fdLimits{before: lim.Cur, after: lim.Cur, need: uint64(maxClients) + reserve, maxClients: maxClients}
	if lim.Cur >= l.need {
		return l, nil
	}
	// Enough for every client, raising the hard limit too if needed (root).
	if l.err = setNoFile(l.need, max(lim.Max, l.need)); l.err == nil {
		l.after = l.need
		return l, nil
	}
	// As far as the system allows: the hard limit up to fs.nr_open with
	// CAP_SYS_RESOURCE, else the soft limit up to the hard one.
	if nrOpen, err := readNrOpen(); err == nil && nrOpen > lim.Max && setNoFile(nrOpen, nrOpen) == nil {
		l.after = nrOpen
	} else if lim.Max > lim.Cur && setNoFile(lim.Max, lim.Max) == nil {
		l.after = lim.Max
	}
	if l.after <= reserve {
		return nil, fmt.Errorf("Your current 'ulimit -n' of %d is not enough for the server to start. Please increase your open file limit to at least %d. Exiting.", l.after, l.need)
	}
	l.maxClients = min(maxClients, int64(l.after-reserve))
	return l, nil
}

func setNoFile(cur, max uint64) error {
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: cur, Max: max})
}

func readNrOpen() (uint64, error) {
	b, err := os.ReadFile(nrOpenPath)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
}

// openFDs counts this process's open descriptors.
func openFDs() (uint64, error) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0, fmt.Errorf("count open descriptors: %w", err)
	}
	return uint64(len(ents)) - 1, nil // less the directory's own
}

// errText is strerror(3)'s text for an errno, as Redis logs it.
func errText(err error) string {
	var en syscall.Errno
	if errors.As(err, &en) {
		s := en.Error()
		return strings.ToUpper(s[:1]) + s[1:]
	}
	if err == nil {
		return "unknown error"
	}
	return err.Error()
}
