package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/dorivo/dorivo/userspace/anomaly"
	"github.com/dorivo/dorivo/userspace/collect"
	"github.com/prometheus/client_golang/prometheus"
)

// observe registers the node's collectors (procfs, Go runtime, perf
// counters) on reg and starts the anomaly detector over reg's series,
// sampled every interval; the detector serves GET /alerts. stop ends both.
func observe(reg *prometheus.Registry, dataDir, alertmanager string, interval time.Duration, log *slog.Logger) (det *anomaly.Detector, stop func(), err error) {
	node, err := collect.NewNode(collect.Options{DataDir: dataDir, Logger: log})
	if err != nil && dataDir != "" {
		// A data dir on tmpfs has no block device: export the rest.
		log.Warn("no disk metrics for the data dir", "data_dir", dataDir, "err", err)
		node, err = collect.NewNode(collect.Options{Logger: log})
	}
	if err != nil {
		return nil, nil, fmt.Errorf("collect: %w", err)
	}
	perf := collect.NewPerf()
	reg.MustRegister(node, collect.NewRuntime(), perf)
	host, _ := os.Hostname()
	det, err = anomaly.New(anomaly.Config{Gatherer: reg, Series: anomaly.DefaultSeries(), Logger: log,
		Alertmanager: alertmanager, Instance: host, Interval: interval})
	if err != nil {
		perf.Close()
		return nil, nil, fmt.Errorf("anomaly: %w", err)
	}
	reg.MustRegister(det)
	ctx, cancel := context.WithCancel(context.Background())
	go det.Run(ctx)
	return det, func() { cancel(); det.Close(); perf.Close() }, nil
}
