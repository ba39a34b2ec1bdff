package metrics

import "github.com/prometheus/client_golang/prometheus"

// NewAuthFailures exports the node's failed RESP authentications (AUTH and
// HELLO AUTH with a wrong user or password) as dorivo_auth_failures_total.
func NewAuthFailures(read func() uint64) prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "dorivo_auth_failures_total",
		Help: "Failed RESP authentications (AUTH, HELLO AUTH): wrong password, unknown or disabled user.",
	}, func() float64 { return float64(read()) })
}
