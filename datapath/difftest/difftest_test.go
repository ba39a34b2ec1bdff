package difftest

import "testing"

// TestAgainstRedis compares Dorivo's executor, behind the stand-in server,
// with redis-server.
func TestAgainstRedis(t *testing.T) {
	redis := StartRedis(t)
	dorivo := Serve(t)
	Run(t, redis, dorivo.Addr, Cases)
}
