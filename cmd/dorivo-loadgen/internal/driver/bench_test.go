package driver

import (
	"context"
	"testing"

	"github.com/dorivo/dorivo/cmd/dorivo-loadgen/internal/udptest"
	"github.com/dorivo/dorivo/internal/redistest"
)

// BenchmarkClosedLoopRESP measures the load generator's own cost per
// request against redis-server (pipeline 16, 2 connections): on a shared
// machine the client must stay well below the server's cost per request.
func BenchmarkClosedLoopRESP(b *testing.B) {
	addr := redistest.Start(b).Addr
	for _, read := range []float64{0, 1} {
		name := "SET"
		if read == 1 {
			name = "GET"
		}
		b.Run(name, func(b *testing.B) {
			cfg := baseConfig(ProtoRESP, addr)
			cfg.Pipeline, cfg.Duration, cfg.Requests = 16, 0, int64(b.N)
			cfg.Workload.ReadRatio = read
			b.ReportAllocs()
			b.ResetTimer()
			rep, err := Run(context.Background(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			if rep.Total.Errors != 0 {
				b.Fatalf("errors %v", rep.Total.ErrorKinds)
			}
		})
	}
}

// BenchmarkClosedLoopUDP is the same over datagrams to the in-test
// responder.
func BenchmarkClosedLoopUDP(b *testing.B) {
	srv := udptest.Start(b, 0)
	cfg := baseConfig(ProtoUDP, srv.Addr)
	cfg.Pipeline, cfg.Duration, cfg.Requests = 16, 0, int64(b.N)
	b.ReportAllocs()
	b.ResetTimer()
	if _, err := Run(context.Background(), cfg); err != nil {
		b.Fatal(err)
	}
}
