package stats

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/dorivo/dorivo/cmd/dorivo-loadgen/internal/workload"
)

const (
	lowestMicros  = 1
	highestMicros = 60_000_000
	sigFigs       = 3
)

// NewHistogram returns an empty latency histogram in microseconds.
func NewHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(lowestMicros, highestMicros, sigFigs)
}

func recordMicros(h *hdrhistogram.Histogram, d time.Duration) {
	us := d.Microseconds()
	us = max(us, lowestMicros)
	us = min(us, highestMicros)
	_ = h.RecordValue(us) // in range by the clamps above
}

// Live holds counters the progress line reads while the run goes on.
type Live struct {
	Done   atomic.Int64
	Errors atomic.Int64
}

// Recorder collects one connection's results. Not safe for concurrent use.
type Recorder struct {
	live  *Live
	ops   [workload.NumOps]opRecord
	stray map[string]int64
	conn  map[string]int64
}

type opRecord struct {
	latency, service *hdrhistogram.Histogram
	misses           int64
	errors           map[string]int64
}

// NewRecorder returns a Recorder that also counts into live.
func NewRecorder(live *Live) *Recorder {
	r := &Recorder{live: live, stray: map[string]int64{}, conn: map[string]int64{}}
	for i := range r.ops {
		r.ops[i] = opRecord{latency: NewHistogram(), service: NewHistogram(), errors: map[string]int64{}}
	}
	return r
}

// OK records a successful request: latency from the intended send time,
// service time from the actual send.
func (r *Recorder) OK(op workload.Op, latency, service time.Duration) {
	recordMicros(r.ops[op].latency, latency)
	recordMicros(r.ops[op].service, service)
	r.live.Done.Add(1)
}

// Miss records a successful GET of a missing key (also counted by OK).
func (r *Recorder) Miss(op workload.Op) { r.ops[op].misses++ }

// Error records a failed request under kind, e.g. "ERR" or "timeout".
func (r *Recorder) Error(op workload.Op, kind string) {
	r.ops[op].errors[kind]++
	r.live.Errors.Add(1)
}

// Stray records an error that belongs to no request, e.g. a datagram reply
// that arrived after its request timed out.
func (r *Recorder) Stray(kind string) {
	r.stray[kind]++
	r.live.Errors.Add(1)
}

// ConnFailed records that the connection (or datagram socket) failed, by
// kind, e.g. "connection reset". Call it once per connection: the requests
// the failure cost are recorded with Error as well.
func (r *Recorder) ConnFailed(kind string) {
	r.conn[kind]++
	r.live.Errors.Add(1)
}

// OpReport is one operation's line of the report.
type OpReport struct {
	Op         string           `json:"op"`
	Requests   int64            `json:"requests"`
	Throughput float64          `json:"throughput_rps"`
	Latency    Quantiles        `json:"latency_ms"`
	Service    Quantiles        `json:"service_time_ms"`
	Misses     int64            `json:"misses"`
	Errors     int64            `json:"errors"`
	ErrorKinds map[string]int64 `json:"error_kinds,omitempty"`

	// The merged histograms, for tests and further analysis.
	LatencyHist *hdrhistogram.Histogram `json:"-"`
	ServiceHist *hdrhistogram.Histogram `json:"-"`
}

// Quantiles are latencies in milliseconds.
type Quantiles struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
}

func quantiles(h *hdrhistogram.Histogram) Quantiles {
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Quantiles{
		P50:  ms(h.ValueAtQuantile(50)),
		P90:  ms(h.ValueAtQuantile(90)),
		P99:  ms(h.ValueAtQuantile(99)),
		P999: ms(h.ValueAtQuantile(99.9)),
		Max:  ms(h.Max()),
	}
}

// Report is the whole run's result.
type Report struct {
	Target   string     `json:"target"`
	Proto    string     `json:"proto"`
	Mode     string     `json:"mode"` // "closed" or "open"
	RateRPS  float64    `json:"rate_rps,omitempty"`
	Conns    int        `json:"conns"`
	Pipeline int        `json:"pipeline"`
	Elapsed  float64    `json:"elapsed_s"`
	Ops      []OpReport `json:"ops"`   // operations that were sent, in Op order
	Total    OpReport   `json:"total"` // all operations together
	// Stray errors belong to no request (late or unmatched replies).
	Stray map[string]int64 `json:"stray_errors,omitempty"`
	// ConnErrors counts failed connections (TCP) or sockets that saw an
	// error (UDP, e.g. ICMP port unreachable), by kind. Any makes the
	// run a failure.
	ConnErrors map[string]int64 `json:"connection_errors,omitempty"`
}

// ConnFailures is the number of failed connections.
func (r *Report) ConnFailures() int64 {
	var n int64
	for _, v := range r.ConnErrors {
		n += v
	}
	return n
}

// ConnSummary names the failures' kinds with their counts, most first,
// e.g. "connection reset: 2, timeout: 1".
func (r *Report) ConnSummary() string {
	kinds := slices.Collect(maps.Keys(r.ConnErrors))
	sort.Slice(kinds, func(i, j int) bool {
		a, b := r.ConnErrors[kinds[i]], r.ConnErrors[kinds[j]]
		return a > b || a == b && kinds[i] < kinds[j]
	})
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%s: %d", k, r.ConnErrors[k])
	}
	return strings.Join(parts, ", ")
}

// Build merges recs into a Report over elapsed; meta supplies the run's
// description fields.
func Build(meta Report, recs []*Recorder, elapsed time.Duration) Report {
	rep := meta
	rep.Elapsed = elapsed.Seconds()
	total := OpReport{Op: "ALL", LatencyHist: NewHistogram(), ServiceHist: NewHistogram(), ErrorKinds: map[string]int64{}}
	for op := range workload.NumOps {
		o := OpReport{Op: op.String(), LatencyHist: NewHistogram(), ServiceHist: NewHistogram(), ErrorKinds: map[string]int64{}}
		for _, r := range recs {
			rec := &r.ops[op]
			o.LatencyHist.Merge(rec.latency)
			o.ServiceHist.Merge(rec.service)
			o.Misses += rec.misses
			for k, n := range rec.errors {
				o.ErrorKinds[k] += n
				o.Errors += n
			}
		}
		o.Requests = o.LatencyHist.TotalCount()
		if o.Requests+o.Errors == 0 {
			continue
		}
		total.LatencyHist.Merge(o.LatencyHist)
		total.ServiceHist.Merge(o.ServiceHist)
		total.Misses += o.Misses
		total.Errors += o.Errors
		for k, n := range o.ErrorKinds {
			total.ErrorKinds[k] += n
		}
		rep.Ops = append(rep.Ops, o.finish(elapsed))
	}
	for _, r := range recs {
		for k, n := range r.stray {
			if rep.Stray == nil {
				rep.Stray = map[string]int64{}
			}
			rep.Stray[k] += n
		}
		for k, n := range r.conn {
			if rep.ConnErrors == nil {
				rep.ConnErrors = map[string]int64{}
			}
			rep.ConnErrors[k] += n
		}
	}
	total.Requests = total.LatencyHist.TotalCount()
	rep.Total = total.finish(elapsed)
	return rep
}

func (o OpReport) finish(elapsed time.Duration) OpReport {
	if s := elapsed.Seconds(); s > 0 {
		o.Throughput = float64(o.Requests) / s
	}
	o.Latency = quantiles(o.LatencyHist)
	o.Service = quantiles(o.ServiceHist)
	if len(o.ErrorKinds) == 0 {
		o.ErrorKinds = nil
	}
	return o
}

func writeRows(w io.Writer, ops []OpReport, total OpReport, q func(OpReport) Quantiles) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "op\trequests\treq/s\tp50 ms\tp90 ms\tp99 ms\tp99.9 ms\tmax ms\tmisses\terrors\t")
	for _, o := range append(ops, total) {
		l := q(o)
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%d\t%d\t\n",
			o.Op, o.Requests, o.Throughput, l.P50, l.P90, l.P99, l.P999, l.Max, o.Misses, o.Errors)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write JSON report: %w", err)
	}
	return nil
}

// WriteTable writes the report as aligned text: requests counted are the
// successful ones; errors and their kinds follow the table.
func (r *Report) WriteTable(w io.Writer) error {
	mode := "closed loop"
	if r.Mode == "open" {
		mode = fmt.Sprintf("open loop at %.0f req/s (latency from intended send time)", r.RateRPS)
	}
	fmt.Fprintf(w, "%s %s, %s, %d conns, pipeline %d, %.2fs\n", r.Proto, r.Target, mode, r.Conns, r.Pipeline, r.Elapsed)
	if err := writeRows(w, r.Ops, r.Total, func(o OpReport) Quantiles { return o.Latency }); err != nil {
		return err
	}
	if r.Mode == "open" {
		fmt.Fprintln(w, "service time, from the actual send (what an uncorrected client would report):")
		if err := writeRows(w, r.Ops, r.Total, func(o OpReport) Quantiles { return o.Service }); err != nil {
			return err
		}
	}
	for _, o := range r.Ops {
		kinds := slices.Collect(maps.Keys(o.ErrorKinds))
		sort.Strings(kinds)
		for _, k := range kinds {
			fmt.Fprintf(w, "error %s %s: %d\n", o.Op, k, o.ErrorKinds[k])
		}
	}
	kinds := slices.Collect(maps.Keys(r.Stray))
	sort.Strings(kinds)
	for _, k := range kinds {
		fmt.Fprintf(w, "stray %s: %d\n", k, r.Stray[k])
	}
	kinds = slices.Collect(maps.Keys(r.ConnErrors))
	sort.Strings(kinds)
	for _, k := range kinds {
		fmt.Fprintf(w, "connection error %s: %d\n", k, r.ConnErrors[k])
	}
	return nil
}
