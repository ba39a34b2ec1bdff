package metrics

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dorivo/dorivo/userspace/stats"
)

var (
	xdpPackets = prometheus.NewDesc("dorivo_xdp_packets_total",
		"Packets seen by the XDP program, by verdict reason (enum xdp_reason).", []string{"reason"}, nil)
	xdpBytes = prometheus.NewDesc("dorivo_xdp_bytes_total",
		"Bytes seen by the XDP program, by verdict reason (enum xdp_reason).", []string{"reason"}, nil)
	tcPackets = prometheus.NewDesc("dorivo_tc_packets_total",
		"Service packets seen by the TCX programs, by direction and protocol.", []string{"direction", "proto"}, nil)
	tcBytes = prometheus.NewDesc("dorivo_tc_bytes_total",
		"Service bytes seen by the TCX programs, by direction and protocol.", []string{"direction", "proto"}, nil)
	rpSelections = prometheus.NewDesc("dorivo_reuseport_selections_total",
		"sk_reuseport decisions, by protocol and result (selected, miss, malformed).", []string{"proto", "result"}, nil)
	tenantPackets = prometheus.NewDesc("dorivo_tenant_packets_total",
		"Valid datagrams per tenant hash slot (slots with traffic only).", []string{"slot"}, nil)
	tenantBytes = prometheus.NewDesc("dorivo_tenant_bytes_total",
		"Bytes of valid datagrams per tenant hash slot (slots with traffic only).", []string{"slot"}, nil)
	tenantQuotaDrops = prometheus.NewDesc("dorivo_tenant_quota_drops_total",
		"Datagrams dropped by the tenant's token bucket, per hash slot.", []string{"slot"}, nil)
	tenantInfo = prometheus.NewDesc("dorivo_tenant_info",
		"Always 1: names the tenant tag of a slot the configuration knows (join on slot).", []string{"slot", "tenant"}, nil)
	attachMode = prometheus.NewDesc("dorivo_xdp_attach_mode",
		"Always 1: how the XDP program is attached (native, generic, none) and to which ifindex.", []string{"mode", "ifindex"}, nil)
)

// Collector reads the BPF maps at every scrape.
type Collector struct {
	maps  stats.Maps
	names func() map[uint16]string
}

// NewCollector collects from maps. names, called at each scrape, returns
// the tenant tags the configuration currently knows by slot (nil: none).
func NewCollector(maps stats.Maps, names func() map[uint16]string) *Collector {
	if names == nil {
		names = func() map[uint16]string { return nil }
	}
	return &Collector{maps: maps, names: names}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{xdpPackets, xdpBytes, tcPackets, tcBytes, rpSelections,
		tenantPackets, tenantBytes, tenantQuotaDrops, tenantInfo, attachMode} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. A failed map read is reported as
// a scrape error rather than as silently missing series.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s, err := stats.Read(c.maps, c.names())
	if err != nil {
		ch <- prometheus.NewInvalidMetric(xdpPackets, err)
		return
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for _, x := range s.XDP {
		counter(xdpPackets, x.Packets, x.Reason)
		counter(xdpBytes, x.Bytes, x.Reason)
	}
	for _, t := range s.TC {
		counter(tcPackets, t.Packets, t.Direction, t.Proto)
		counter(tcBytes, t.Bytes, t.Direction, t.Proto)
	}
	for _, r := range s.Reuseport {
		counter(rpSelections, r.Count, r.Proto, r.Result)
	}
	for _, t := range s.Tenants {
		slot := strconv.Itoa(int(t.Slot))
		counter(tenantPackets, t.Packets, slot)
		counter(tenantBytes, t.Bytes, slot)
		counter(tenantQuotaDrops, t.QuotaDrops, slot)
	}
	for slot, name := range c.names() {
		ch <- prometheus.MustNewConstMetric(tenantInfo, prometheus.GaugeValue, 1, strconv.Itoa(int(slot)), name)
	}
	ch <- prometheus.MustNewConstMetric(attachMode, prometheus.GaugeValue, 1, s.XDPMode, strconv.Itoa(int(s.Ifindex)))
}

// NewRegistry returns a registry with the BPF collector and the standard
// Go runtime (including GC pause histograms) and process collectors.
func NewRegistry(c *Collector) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(c,
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsGC, collectors.MetricsScheduler)),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// Handler serves reg in the Prometheus exposition format.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}
