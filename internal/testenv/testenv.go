package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// InCI reports whether the tests run under CI (CI=true).
func InCI() bool { return os.Getenv("CI") == "true" }

// RequireRoot skips t when not root, or fails it under CI.
func RequireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if InCI() {
		tb.Fatal("test needs root, and CI=true forbids skipping")
	}
	tb.Skip("test needs root")
}

// RequireCommand skips when name is not on PATH, or fails under CI.
func RequireCommand(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if InCI() {
		tb.Fatalf("test needs %s on PATH, and CI=true forbids skipping (scripts/install-deps.sh installs it)", name)
	}
	tb.Skipf("test needs %s on PATH", name)
	return ""
}

var nsSeq atomic.Uint32

// Netns is a named network namespace (ip netns) owned by a test.
type Netns struct {
	Name   string
	handle netns.NsHandle
}

// NewNetns creates a fresh network namespace with loopback up and removes
// it when the test ends, pass or fail. The name carries prefix, the pid and
// a sequence number so that parallel tests and runs never collide.
func NewNetns(tb testing.TB, prefix string) *Netns {
	tb.Helper()
	RequireRoot(tb)
	name := fmt.Sprintf("dorivo-%s-%d-%d", prefix, os.Getpid(), nsSeq.Add(1))
	Run(tb, "ip", "netns", "add", name)
	tb.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	h, err := netns.GetFromName(name)
	if err != nil {
		tb.Fatalf("open netns %s: %v", name, err)
	}
	tb.Cleanup(func() { h.Close() })
	n := &Netns{Name: name, handle: h}
	n.Run(tb, "ip", "link", "set", "lo", "up")
	return n
}

// Handle returns the namespace's fd handle.
func (n *Netns) Handle() netns.NsHandle { return n.handle }

// Run runs a command inside the namespace and fails the test on error.
func (n *Netns) Run(tb testing.TB, args ...string) string {
	tb.Helper()
	return Run(tb, append([]string{"ip", "netns", "exec", n.Name}, args...)...)
}

// Do runs fn on a locked OS thread that has entered the namespace. Sockets
// and BPF attachments made inside fn belong to the namespace; goroutines
// that fn starts do not inherit it.
func (n *Netns) Do(tb testing.TB, fn func()) {
	tb.Helper()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// The thread is left locked and so dies with the goroutine: it is
		// never handed back to the scheduler inside the wrong namespace.
		if err := netns.Set(n.handle); err != nil {
			done <- fmt.Errorf("enter netns %s: %w", n.Name, err)
			return
		}
		defer func() { done <- nil }()
		fn()
	}()
	if err := <-done; err != nil {
		tb.Fatal(err)
	}
}

// Run runs a command and fails the test with its output on error.
func Run(tb testing.TB, args ...string) string {
	tb.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		tb.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// VethPair creates a veth pair with one end in each namespace and addresses
// a (in na) and b (in nb), both /24 (IPv4) or /64 (IPv6), and brings both up.
// Deleting either namespace removes the pair.
func VethPair(tb testing.TB, na *Netns, ifa, a string, nb *Netns, ifb, b string) {
	tb.Helper()
	Run(tb, "ip", "link", "add", ifa, "netns", na.Name, "type", "veth", "peer", "name", ifb, "netns", nb.Name)
	na.Run(tb, "ip", "addr", "add", a, "dev", ifa)
	nb.Run(tb, "ip", "addr", "add", b, "dev", ifb)
	na.Run(tb, "ip", "link", "set", ifa, "up")
	nb.Run(tb, "ip", "link", "set", ifb, "up")
}

// WaitFor polls cond until it holds. The 20-second deadline only keeps a
// broken component from hanging the run; it asserts nothing about speed.
func WaitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// SyncBuffer is a log sink that goroutines may write while a test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
