package difftest

// Client limits and timeout: CONFIG GET/SET of client-output-buffer-limit
// and timeout, their errors, and their values put back.
func init() {
	cobl := "client-output-buffer-limit"
	Cases = append(Cases, Case{"client output buffer limit and timeout", []Step{
		X("CONFIG", "GET", cobl), X("CONFIG", "SET", cobl, "normal 1 2"), X("CONFIG", "SET", cobl, "foo 1 2 3"),
		X("CONFIG", "SET", cobl, "master 1 2 3"), X("CONFIG", "SET", cobl, "normal 1x 2 3"), X("CONFIG", "SET", cobl, "normal 1 2 -3"),
		X("CONFIG", "SET", cobl, "NORMAL 1mb 2kb 3"), X("CONFIG", "GET", cobl),
		X("CONFIG", "SET", cobl, "replica 1 2 3 pubsub 4 5 6"), X("CONFIG", "GET", cobl), X("CONFIG", "SET", cobl, ""),
		X("CONFIG", "SET", cobl, "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"), X("CONFIG", "GET", cobl),
		X("CONFIG", "GET", "timeout"), X("CONFIG", "SET", "timeout", "-1"), X("CONFIG", "SET", "timeout", "abc"),
		X("CONFIG", "SET", "timeout", "2147483648"), X("CONFIG", "SET", "timeout", "300"), X("CONFIG", "GET", "timeout"),
		X("CONFIG", "SET", "timeout", "0"), X("CONFIG", "GET", "timeout"),
	}})
}
