// Package resp is the RESP2 wire codec of the TCP datapath: a parser for
// client requests and appenders for replies.
//
// Parsing is zero-copy: Parse returns argument slices that alias the input
// buffer, so an event loop can parse, execute and discard a request without
// allocating. Replies are appended to a caller-provided []byte for the same
// reason.
//
// Parsing is linear in the input. Each line is scanned once per parse, up
// to its own end. A connection keeps a Reader, which resumes a request
// split across reads where it stopped instead of parsing it again from its
// start: it takes the part that arrived (the caller discards those bytes),
// and reads a big argument into one buffer sized from its declared length.
//
// The parser mirrors Redis 7.0's processMultibulkBuffer and
// processInlineBuffer (src/networking.c) byte for byte, including their
// quirks, because clients and tests compare error replies exactly:
//
//   - a request starting with '*' is a multibulk; anything else is an inline
//     command split like sdssplitargs (quotes, \xHH and \n-style escapes);
//   - header lines are found by searching for '\r' as strchr does, so a NUL
//     byte before the '\r' hides it;
//   - the two bytes after a bulk payload are skipped, not checked;
//   - *0, *-1 and empty inline lines are consumed and yield no command.
//
// The limits (proto-max-bulk-len, the 64 KiB inline and header limit,
// client-query-buffer-limit) are in Limits.
package resp
