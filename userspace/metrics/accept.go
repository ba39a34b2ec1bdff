package metrics

import "github.com/prometheus/client_golang/prometheus"

// NewAcceptShed exports the connections the event loops accepted and
// closed at once because the process had no descriptor left (EMFILE), as
// dorivo_accept_shed_total.
func NewAcceptShed(read func() uint64) prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "dorivo_accept_shed_total",
		Help: "Connections accepted and closed at once because the process had no file descriptor left (EMFILE, ENFILE).",
	}, func() float64 { return float64(read()) })
}
