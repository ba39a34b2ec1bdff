package resp

import "testing"

func TestValueRoundTrip(t *testing.T) {
	in := "*4\r\n%2\r\n$1\r\na\r\n~2\r\n+x\r\n:1\r\n$1\r\nb\r\n_\r\n,1.5\r\n#t\r\n=7\r\ntxt:abc\r\n"
	v, rest, err := ParseValue([]byte(in + "+next\r\n"))
	if err != nil || string(rest) != "+next\r\n" {
		t.Fatalf("ParseValue: %v, rest %q", err, rest)
	}
	if got := string(AppendValue(nil, v, true)); got != in {
		t.Errorf("RESP3: %q, want %q", got, in)
	}
	want2 := "*4\r\n*4\r\n$1\r\na\r\n*2\r\n+x\r\n:1\r\n$1\r\nb\r\n$-1\r\n$3\r\n1.5\r\n:1\r\n$3\r\nabc\r\n"
	if got := string(AppendValue(nil, v, false)); got != want2 {
		t.Errorf("RESP2: %q, want %q", got, want2)
	}
	for _, bad := range []string{"*2\r\n:1\r\n", "$5\r\nab\r\n", "?x\r\n", "*x\r\n"} {
		if _, _, err := ParseValue([]byte(bad)); err == nil {
			t.Errorf("ParseValue(%q): no error", bad)
		}
	}
}
