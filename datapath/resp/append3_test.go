package resp

import "testing"

func TestAppendRESP3(t *testing.T) {
	for _, tc := range []struct {
		name  string
		got   []byte
		resp2 string
		resp3 string
		got3  []byte
	}{
		{"map", AppendMap(nil, 2, false), "*4\r\n", "%2\r\n", AppendMap(nil, 2, true)},
		{"set", AppendSet(nil, 3, false), "*3\r\n", "~3\r\n", AppendSet(nil, 3, true)},
		{"push", AppendPush(nil, 3, false), "*3\r\n", ">3\r\n", AppendPush(nil, 3, true)},
		{"double", AppendDouble(nil, "1.5", false), "$3\r\n1.5\r\n", ",1.5\r\n", AppendDouble(nil, "1.5", true)},
		{"nil", AppendNil(nil, false), "$-1\r\n", "_\r\n", AppendNil(nil, true)},
		{"nilarray", AppendNilArray(nil, false), "*-1\r\n", "_\r\n", AppendNilArray(nil, true)},
		{"true", AppendBool(nil, true, false), ":1\r\n", "#t\r\n", AppendBool(nil, true, true)},
		{"false", AppendBool(nil, false, false), ":0\r\n", "#f\r\n", AppendBool(nil, false, true)},
		{"verbatim", AppendVerbatim(nil, "a", false), "$1\r\na\r\n", "=5\r\ntxt:a\r\n", AppendVerbatim(nil, "a", true)},
	} {
		if string(tc.got) != tc.resp2 || string(tc.got3) != tc.resp3 {
			t.Errorf("%s: RESP2 %q (want %q), RESP3 %q (want %q)", tc.name, tc.got, tc.resp2, tc.got3, tc.resp3)
		}
	}
}
