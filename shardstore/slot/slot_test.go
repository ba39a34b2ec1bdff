package slot

import "testing"

// Vectors from the Redis Cluster specification and `redis-cli cluster keyslot`.
func TestOfMatchesRedisCluster(t *testing.T) {
	for _, tc := range []struct {
		key  string
		want uint16
	}{
		{"123456789", 12739}, // CRC16-XMODEM check value 0x31C3 mod 16384
		{"foo", 12182},
		{"bar", 5061},
		{"{user1000}.following", 3443},
		{"{user1000}.followers", 3443},
		{"user1000", 3443},
		{"foo{}{bar}", Of([]byte("foo{}{bar}"))},
		{"foo{{bar}}zap", Of([]byte("{bar"))},
		{"foo{bar}{zap}", Of([]byte("bar"))},
		{"", 0},
	} {
		if got := Of([]byte(tc.key)); got != tc.want {
			t.Errorf("Of(%q) = %d, want %d", tc.key, got, tc.want)
		}
	}
	if got := CRC16([]byte("123456789")); got != 0x31C3 {
		t.Fatalf("CRC16 check value = %#x, want 0x31c3", got)
	}
}

func TestTag(t *testing.T) {
	for _, tc := range []struct{ key, tag string }{
		{"{acme}.x", "acme"},
		{"x{acme}y{b}", "acme"},
		{"{}acme", "{}acme"},
		{"{acme", "{acme"},
		{"acme}", "acme}"},
		{"a{b{c}d", "b{c"},
	} {
		if got := string(Tag([]byte(tc.key))); got != tc.tag {
			t.Errorf("Tag(%q) = %q, want %q", tc.key, got, tc.tag)
		}
	}
}

func TestTableSplitsEvenly(t *testing.T) {
	for _, loops := range []int{1, 2, 3, 7, 256} {
		tb, err := NewTable(loops)
		if err != nil {
			t.Fatal(err)
		}
		per := make([]int, loops)
		prev := 0
		for s := range Count {
			o := tb.Owner(uint16(s))
			if o < prev || o >= loops {
				t.Fatalf("loops=%d: slot %d owner %d not monotonic in [0,%d)", loops, s, o, loops)
			}
			prev = o
			per[o]++
		}
		for i, n := range per {
			if n < Count/loops || n > Count/loops+1 {
				t.Errorf("loops=%d: loop %d owns %d slots", loops, i, n)
			}
		}
	}
	if _, err := NewTable(0); err == nil {
		t.Error("NewTable(0) succeeded")
	}
	if _, err := NewTable(MaxLoops + 1); err == nil {
		t.Error("NewTable(MaxLoops+1) succeeded")
	}
}
