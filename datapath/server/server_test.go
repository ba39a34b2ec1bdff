package server

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dorivo/dorivo/datapath/command"
	"github.com/dorivo/dorivo/datapath/wire"

	"github.com/dorivo/dorivo/internal/testenv"
	"golang.org/x/sys/unix"
)

// TestLoopsArePinned checks, from inside a callback on each loop's thread,
// that the thread's affinity is exactly the i-th allowed CPU, and that a TCP
// connection's callbacks run on that same pinned thread.
func TestLoopsArePinned(t *testing.T) {
	ns := testenv.NewNetns(t, "pin")
	loops := max(2, runtime.NumCPU())
	s := startIn(t, ns, Config{TCPAddr: "127.0.0.1:7101", UDPAddr: "127.0.0.1:7101", Loops: loops})
	for i := range loops {
		var set unix.CPUSet
		var err error
		if err := s.RunOnLoop(context.Background(), i, func() { err = unix.SchedGetaffinity(0, &set) }); err != nil {
			t.Fatal(err)
		}
		if err != nil {
			t.Fatalf("loop %d: sched_getaffinity: %v", i, err)
		}
		want := i % runtime.NumCPU()
		if set.Count() != 1 || !set.IsSet(want) {
			t.Errorf("loop %d: affinity has %d CPUs (CPU %d set: %v), want exactly CPU %d", i, set.Count(), want, set.IsSet(want), want)
		}
		if got := s.Stats()[i].CPU; got != want {
			t.Errorf("loop %d: Stats CPU = %d, want %d", i, got, want)
		}
	}
}

// TestPingAndBasicCommands is the smallest end-to-end check over TCP.
func TestPingAndBasicCommands(t *testing.T) {
	ns := testenv.NewNetns(t, "ping")
	s := startIn(t, ns, Config{TCPAddr: "127.0.0.1:7102", Loops: 2})
	c := dialIn(t, ns, "127.0.0.1:7102", 0)
	if got := c.do("PING"); got != "+PONG" {
		t.Fatalf("PING = %q", got)
	}
	for o := range 2 {
		k, _ := keyOwnedBy(s, "k", o, 0)
		if got := c.do("SET", k, "v"+k); got != "+OK" {
			t.Fatalf("SET %s (loop %d) = %q", k, o, got)
		}
		if got := c.do("GET", k); got != "$"+fmt.Sprint(len(k)+1)+"|v"+k {
			t.Fatalf("GET %s (loop %d) = %q", k, o, got)
		}
	}
	st := s.Stats()
	if st[0].CrossSent+st[1].CrossSent == 0 {
		t.Errorf("no request crossed loops: %+v", st)
	}
	if got := c.do("DBSIZE"); got != ":2" {
		t.Errorf("DBSIZE = %q, want :2", got)
	}
	if got := c.do("NOSUCH"); !strings.HasPrefix(got, "-ERR unknown command") {
		t.Errorf("unknown command = %q", got)
	}
	_ = time.Second
}

// TestMutationsHook: every write, over TCP on any loop or over UDP, reaches
// the Mutations hook on the loop that owns the key, as a durable record.
func TestMutationsHook(t *testing.T) {
	ns := testenv.NewNetns(t, "muts")
	var mu sync.Mutex
	var got []string
	hook := func(loop int, muts []command.Mutation) {
		mu.Lock()
		defer mu.Unlock()
		for _, m := range muts {
			got = append(got, fmt.Sprintf("%d %d %s=%s", loop, m.Op, m.Key, m.Val))
		}
	}
	s := startIn(t, ns, Config{TCPAddr: "127.0.0.1:7103", UDPAddr: "127.0.0.1:7103", Loops: 2, Mutations: hook})
	c := dialIn(t, ns, "127.0.0.1:7103", 0)
	k0, _ := keyOwnedBy(s, "m", 0, 0)
	k1, _ := keyOwnedBy(s, "m", 1, 0)
	c.do("SET", k0, "a")
	c.do("SET", k1, "b")
	c.do("INCR", k1+"n")
	c.do("DEL", k0, k1)
	u := udpDialIn(t, ns, "127.0.0.1:7103")
	u.do(wire.OpSet, "{udp}", "c")
	want := []string{
		fmt.Sprintf("0 %d %s=a", command.OpSet, k0),
		fmt.Sprintf("1 %d %s=b", command.OpSet, k1),
		fmt.Sprintf("%d %d %sn=1", s.ownerOfKey(k1+"n"), command.OpSet, k1),
		fmt.Sprintf("0 %d %s=", command.OpDel, k0),
		fmt.Sprintf("1 %d %s=", command.OpDel, k1),
		fmt.Sprintf("%d %d {udp}=c", s.ownerOfKey("{udp}"), command.OpSet),
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("mutations:\n got %q\nwant %q", got, want)
	}
}

// TestStartFailsCleanly: a port held by a socket without SO_REUSEPORT makes
// Start fail with the bind error; the server can be built again afterwards.
func TestStartFailsCleanly(t *testing.T) {
	ns := testenv.NewNetns(t, "busy")
	var ln net.Listener
	var err error
	ns.Do(t, func() { ln, err = net.Listen("tcp", "127.0.0.1:7104") })
	if err != nil {
		t.Fatal(err)
	}
	ns.Do(t, func() {
		var s *Server
		if s, err = New(Config{TCPAddr: "127.0.0.1:7104", Loops: 2}); err == nil {
			err = s.Start()
		}
	})
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("Start on a busy port: %v, want address already in use", err)
	}
	ln.Close()
	s := startIn(t, ns, Config{TCPAddr: "127.0.0.1:7104", Loops: 2})
	if got := dialIn(t, ns, "127.0.0.1:7104", 0).do("PING"); got != "+PONG" {
		t.Fatalf("PING after a failed start = %q", got)
	}
	if s.Err() != nil {
		t.Fatalf("Err = %v", s.Err())
	}
	for _, bad := range []Config{{}, {TCPAddr: "127.0.0.1:0"}, {TCPAddr: ":1", Loops: 300}} {
		if _, err := New(bad); err == nil {
			t.Errorf("New(%+v) succeeded", bad)
		}
	}
}

// TestLoopsPinWithinAffinityMask: loops pin to the CPUs of the process's
// affinity mask (narrowed by taskset or a cpuset cgroup), not to 0..n-1.
func TestLoopsPinWithinAffinityMask(t *testing.T) {
	last := processCPUs[len(processCPUs)-1]
	if last < 1 {
		t.Skip("needs a CPU other than 0 to narrow the mask to")
	}
	// allowedCPUs reads the mask it is called under.
	var got []int
	var err error
	testenv.NewNetns(t, "pinmask").Do(t, func() { // a locked thread that dies with the goroutine: the mask does not leak
		var only unix.CPUSet
		only.Set(last)
		if err = unix.SchedSetaffinity(0, &only); err == nil {
			got, err = allowedCPUs()
		}
	})
	if err != nil || len(got) != 1 || got[0] != last {
		t.Fatalf("allowedCPUs under mask {%d} = %v, %v", last, got, err)
	}

	// The loops pin within the mask New found.
	ns := testenv.NewNetns(t, "pinmask2")
	var s *Server
	ns.Do(t, func() {
		if s, err = New(Config{TCPAddr: "127.0.0.1:7109", Loops: 2}); err == nil {
			s.cpus = []int{last}
			err = s.Start()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	for i := range 2 {
		var set unix.CPUSet
		var gerr error
		if err := s.RunOnLoop(context.Background(), i, func() { gerr = unix.SchedGetaffinity(0, &set) }); err != nil {
			t.Fatal(err)
		}
		if gerr != nil {
			t.Fatalf("loop %d: sched_getaffinity: %v", i, gerr)
		}
		if set.Count() != 1 || !set.IsSet(last) {
			t.Errorf("loop %d: affinity has %d CPUs (CPU %d set: %v), want only CPU %d of the mask", i, set.Count(), last, set.IsSet(last), last)
		}
	}
}
