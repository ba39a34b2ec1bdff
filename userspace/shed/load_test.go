package shed

import (
	"context"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dorivo/dorivo/datapath/core"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// A loop whose UDP receive queue fills past its bound is overloaded: its
// slots are shed with the hold as the retry-after, another loop's are not,
// and once the queue is read empty it recovers after the hold.
func TestLoadMonitorQueue(t *testing.T) {
	rx, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	if err := rx.SetReadBuffer(64 << 10); err != nil {
		t.Fatal(err)
	}
	raw, err := rx.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var rxFD int
	raw.Control(func(fd uintptr) { rxFD, err = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) })
	if err != nil {
		t.Fatal(err)
	}
	table, _ := slot.NewTable(2)
	var board core.ShedBoard
	mir, err := NewMirror(Options{Board: &board, Table: table, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const hold = 100 * time.Millisecond
	lm, err := NewLoadMonitor(ctx, mir, LoadOptions{Loops: 2, Hold: hold, Logger: quiet(),
		Socket: func(_ context.Context, i int) (int, error) {
			if i == 0 {
				return rxFD, nil
			}
			return -1, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer lm.Close()

	lm.sample(ctx, 0)
	if l := lm.Loads()[0]; l.Overloaded || l.Queue != 0 {
		t.Fatalf("idle socket: %+v", l)
	}
	tx, err := net.DialUDP("udp", nil, rx.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	for range 2000 { // bounded: far more than 64 KiB of receive buffer holds
		tx.Write(make([]byte, 100))
	}
	lm.sample(ctx, 0)
	lm.sample(ctx, 1)
	loads := lm.Loads()
	if !loads[0].Overloaded || loads[0].Queue <= 0.5 || loads[1].Overloaded {
		t.Fatalf("full queue on loop 0: %+v", loads)
	}
	mir.Sync()
	set := board.Current()
	if set == nil {
		t.Fatal("nothing shed for an overloaded loop")
	}
	for s, o := range table {
		e := set[s]
		if (e.Reasons == core.ShedOverload && e.RetryAfterMs == uint16(hold/time.Millisecond)) != (o == 0) {
			t.Fatalf("slot %d of loop %d: %+v", s, o, e)
		}
	}
	// Read it empty: still shed until the hold has passed, then recovered.
	buf := make([]byte, 200)
	rx.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	for {
		if _, err := rx.Read(buf); err != nil {
			break
		}
	}
	lm.sample(ctx, 0)
	if l := lm.Loads()[0]; !l.Overloaded || l.Queue != 0 {
		t.Fatalf("empty queue within the hold: %+v", l)
	}
	time.Sleep(hold)
	lm.sample(ctx, 0)
	if l := lm.Loads()[0]; l.Overloaded || l.Sheds != 1 {
		t.Fatalf("after the hold: %+v", l)
	}
	mir.Sync()
	if board.Current() != nil {
		t.Fatal("a recovered loop's slots are still shed")
	}
}

// Probes that do not come back within MaxLatency, LatencySamples times in
// a row, count as overload; fewer do not.
func TestLoadMonitorLatency(t *testing.T) {
	table, _ := slot.NewTable(1)
	mir, _ := NewMirror(Options{Table: table, Logger: quiet()})
	block := make(chan struct{})
	lm, err := NewLoadMonitor(context.Background(), mir, LoadOptions{Loops: 1, MaxLatency: 10 * time.Millisecond, Logger: quiet(),
		Probe: func(ctx context.Context, _ int) error {
			select {
			case <-block:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	for n := range 3 {
		if l := lm.Loads()[0]; l.Overloaded {
			t.Fatalf("overloaded after %d slow samples of 3: %+v", n, l)
		}
		lm.sample(context.Background(), 0)
	}
	if l := lm.Loads()[0]; !l.Overloaded || l.Latency != 10*time.Millisecond {
		t.Fatalf("stuck loop: %+v", l)
	}
	close(block)
	if len(mir.Shed()) != 0 {
		t.Fatal("shed before the mirror synced")
	}
	mir.Sync()
	if len(mir.Shed()) != slot.Count {
		t.Fatalf("%d slots shed for the only loop, want all", len(mir.Shed()))
	}
}
