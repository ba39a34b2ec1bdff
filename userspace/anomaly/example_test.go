package anomaly_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dorivo/dorivo/userspace/anomaly"
)

// A detector over one gauge of a registry: 200 samples of 10 ms ± 1 ms,
// then 30 ms. The fourth high sample fires the alert.
func Example() {
	latency := prometheus.NewGauge(prometheus.GaugeOpts{Name: "app_latency_seconds", Help: "Latency."})
	reg := prometheus.NewRegistry()
	reg.MustRegister(latency)
	d, err := anomaly.New(anomaly.Config{
		Gatherer: reg,
		Series:   []anomaly.Series{anomaly.Gauge("latency", "app_latency_seconds", nil).With(anomaly.Above, 0, 0)},
	})
	if err != nil {
		panic(err)
	}
	reg.MustRegister(d) // dorivo_anomaly{series="latency"}
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Unix(0, 0)
	for i := range 204 {
		v := 0.010
		if i >= 200 {
			v = 0.030
		}
		latency.Set(v + rng.NormFloat64()*0.001)
		now = now.Add(5 * time.Second)
		d.Step(now)
	}
	d.Report().WriteText(os.Stdout, now)
	fmt.Println("firing since sample", d.Report().Firing[0].Since.Unix()/5)
	// Output:
	// anomalies: 1 firing
	//   latency for 0s: value 0.03004, mean 0.009977, sigma 0.0009684, z 20.7
	// firing since sample 204
}
