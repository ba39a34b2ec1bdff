// Package journal is the load generator's record of acknowledged writes.
//
// Every write the server acknowledged is appended as one line,
// "OP<TAB>key<TAB>value", to a file opened for appending and written
// through a buffer flushed when the run ends. Load replays the file and
// keeps, for each key, the last acknowledged value: that is what the store
// must return afterwards. It only holds because the load generator never
// lets two connections write the same key while recording (see
// workload.Scope), so acknowledgement order per key is apply order.
//
// Keys and values the load generator makes contain no tab or newline; Log
// refuses any that do, so that every line parses back.
package journal
