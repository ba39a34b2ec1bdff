// Package difftest runs the same command sequences against a real
// redis-server and against a Dorivo server and requires byte-identical
// replies, over raw RESP on net.Conn so that nothing normalises them.
//
// Run takes two addresses, so it can be pointed at any Dorivo server: the
// gnet datapath server, or Serve, a deliberately simple stand-in kept for
// these tests (one goroutine per connection, one keyspace under a mutex)
// which exercises the codec and the executor exactly as the real server
// does, without its event loops.
//
// WithRESP3 runs cases again on connections switched to RESP3 (HELLO 3);
// Compare runs every case both ways.
//
// StartRedis starts a private redis-server for a test.
package difftest
