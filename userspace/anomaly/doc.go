// Package anomaly watches a few key series of the agent's own registry and
// alerts when one leaves its recent history (research/obs.md §5).
//
// Every Interval (5 s) the Detector gathers the registry once and turns
// each Series into one sample: a gauge's value, a counter's per-second
// rate (an interval across a reset is skipped), a ratio of two rates (mean
// latency from _sum/_count), or a quantile of a histogram's observations
// in the interval. Each sample is scored against a sliding window of the
// series' previous samples (exact mean and variance by Welford's update,
// add and remove) before it joins the window. After MinSamples, K
// consecutive samples beyond Fire (3) sigma fire an alert; the first
// within Clear (2) sigma clears it. A sample joins the window clamped to
// the 3-sigma band, so a spike does not blind the series for an hour while
// a lasting shift is still learned and the alert clears on its own.
// Sigma has per-series floors, so a constant series never divides by zero
// and a near-constant one does not alert on noise nobody cares about.
//
// A sliding window rather than an EWMA: the baseline is exactly "the last
// hour", the false-alarm rate of Gaussian noise is the textbook one (which
// the tests check), and 720 float64s per series is 5.6 KiB.
//
// An alert is the gauge dorivo_anomaly{series} (1 while firing), a slog
// line when it fires and clears, an entry in GET /alerts (JSON, which
// Fetch reads for dorivo status), and optionally a push to an
// Alertmanager's POST /api/v2/alerts.
package anomaly
