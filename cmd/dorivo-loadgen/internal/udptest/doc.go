// Package udptest is an in-process responder for Dorivo's datagram
// protocol, backed by a map and built on datapath/wire, for the load
// generator's tests until they can start the real agent. It can ignore a
// share of requests, as a lossy network would, to exercise timeouts.
package udptest
