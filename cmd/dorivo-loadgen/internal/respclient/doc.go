// Package respclient is the client side of RESP2 for the load generator:
// commands are encoded with datapath/resp's appenders (the same code the
// server uses for replies, so both ends share one encoder), and replies are
// read here by a small Reader that reuses its buffers, so reading a reply
// does not allocate on the load path.
//
// The Reader reads bytes from the network, so it is fuzzed: it must reject
// any malformed or oversized reply with an error, never panic or buffer
// without bound.
package respclient
