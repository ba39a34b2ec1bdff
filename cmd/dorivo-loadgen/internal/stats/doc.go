// Package stats records the load generator's latencies and errors and turns
// them into the final report (a table or JSON).
//
// Each connection owns a Recorder, so recording takes no lock; Recorders
// are merged once at the end. Two latencies are kept per request:
//
//   - Latency, from the request's intended send time. In open loop the
//     schedule fixes that time before the request waits for a free pipeline
//     slot, so a server stall that delays later sends is charged to them:
//     this corrects coordinated omission exactly, with no synthesis. (HdrHistogram's
//     RecordCorrectedValue would instead invent the missing samples by
//     assuming a constant expected interval, an approximation we do not
//     need because we know every request's real schedule.) In closed loop
//     there is no schedule and the intended time is the send time.
//   - Service time, from the actual send: what an uncorrected client reports.
//
// Values are microseconds from 1 µs to 60 s at 3 significant digits; larger
// values are clamped to 60 s and counted in the max.
package stats
