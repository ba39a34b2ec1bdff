// Command dumpmetrics prints, in the Prometheus text format, what the
// collect package exports on this machine (the Node collector on a data
// dir, Runtime and Perf) so that scripts can lint it with
// `promtool check metrics` and count its series.
//
//	go run ./userspace/collect/internal/dumpmetrics -data-dir /var/lib/dorivo | promtool check metrics
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/dorivo/dorivo/userspace/collect"
)

func main() {
	dataDir := flag.String("data-dir", os.TempDir(), "directory whose disk to export")
	flag.Parse()
	if err := run(*dataDir); err != nil {
		fmt.Fprintln(os.Stderr, "dumpmetrics:", err)
		os.Exit(1)
	}
}

func run(dataDir string) error {
	node, err := collect.NewNode(collect.Options{DataDir: dataDir})
	if err != nil {
		return err
	}
	perf := collect.NewPerf()
	defer perf.Close()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(node); err != nil {
		return err
	}
	reg.MustRegister(collect.NewRuntime(), perf)
	mfs, err := reg.Gather()
	if err != nil {
		return err
	}
	enc := expfmt.NewEncoder(os.Stdout, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return err
		}
	}
	return nil
}
