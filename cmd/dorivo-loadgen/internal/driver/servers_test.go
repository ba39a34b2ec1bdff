package driver

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dorivo/dorivo/datapath/resp"
)

// stallServer is a minimal RESP server for SET and GET that, once, sleeps
// stall before answering its stallAt-th command: a server hiccup such as a
// GC pause or an fsync.
func stallServer(t testing.TB, stallAt int64, stall time.Duration) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	var served atomic.Int64
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				buf := make([]byte, 0, 64<<10)
				var args [][]byte
				var out []byte
				for {
					n, err := c.Read(buf[len(buf):cap(buf)])
					if err != nil {
						return
					}
					buf = buf[:len(buf)+n]
					out = out[:0]
					for {
						var used int
						args, used, err = resp.Parse(buf, args, resp.DefaultLimits)
						if err != nil {
							return
						}
						if used == 0 {
							break
						}
						buf = buf[:copy(buf, buf[used:])]
						if len(args) == 0 {
							continue
						}
						if served.Add(1) == stallAt {
							if len(out) > 0 {
								_, _ = c.Write(out)
								out = out[:0]
							}
							time.Sleep(stall)
						}
						if string(args[0]) == "GET" {
							out = resp.AppendNull(out)
						} else {
							out = resp.AppendOK(out)
						}
					}
					if _, err := c.Write(out); err != nil {
						return
					}
				}
			})
		}
	})
	return l.Addr().String()
}
