package command

import (
	"strings"
	"testing"
)

// FuzzClientArgs: the parsers of client-output-buffer-limit and of CLIENT
// KILL and LIST arguments take any bytes a client sends without
// panicking, and a limit they accept prints back to what it parses to.
func FuzzClientArgs(f *testing.F) {
	for _, s := range []string{"normal 0 0 0", "replica 1mb 2kb 3 pubsub 4 5 6", "normal 1 2", "master 1 2 3",
		"ID 3 SKIPME no", "TYPE normal ADDR 1.2.3.4:5", "USER default LADDR x", "1.2.3.4:5", "ID", "normal 9223372036854775807gb 0 0"} {
		f.Add(s)
	}
	n := NewNode()
	s := NewSession(n)
	f.Fuzz(func(t *testing.T, in string) {
		l := DefaultOutputLimits
		if msg := ParseOutputLimits(&l, in); msg == "" {
			again := DefaultOutputLimits
			if msg := ParseOutputLimits(&again, formatOutputLimits(&l)); msg != "" || again != l {
				t.Fatalf("%q: printed %q parses to %+v (%q), want %+v", in, formatOutputLimits(&l), again, msg, l)
			}
		}
		args := [][]byte{[]byte("CLIENT"), []byte("KILL")}
		for _, w := range strings.Fields(in) {
			args = append(args, []byte(w))
		}
		ParseClientKill(s, args)
		args[1] = []byte("LIST")
		ParseClientList(args)
	})
}
