package command

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/dorivo/dorivo/shardstore/keyspace"
)

// FuzzBitCommands runs random bitmap and LCS commands, with arguments
// drawn from the input (offsets, widths, values, options, garbage), on
// one keyspace: no command may panic, each reply must be one well-formed
// reply, and replaying the mutation records on a second keyspace must
// give the same values (the writes are recorded as they were applied).
func FuzzBitCommands(f *testing.F) {
	f.Add([]byte("\x00\x01\x07\x01\x05\x02\x03\x00\x10"))
	f.Add([]byte("\x05\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b"))
	f.Add([]byte("\x04\x03\x01\x02\x06\x07\x08\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		next := func() int {
			if len(data) == 0 {
				return 0
			}
			b := data[0]
			data = data[1:]
			return int(b)
		}
		keys := []string{"{k}a", "{k}b", "{k}c"}
		key := func() string { return keys[next()%len(keys)] }
		num := func() string {
			switch next() % 6 {
			case 0:
				return strconv.Itoa(-next())
			case 1:
				return strconv.Itoa(next() * next())
			case 2:
				return "#" + strconv.Itoa(next())
			case 3:
				return "x"
			case 4:
				return "9223372036854775807"
			}
			return strconv.Itoa(next())
		}
		typ := func() string {
			return [...]string{"u", "i", "U", "x"}[next()%4] + strconv.Itoa(next()%70)
		}
		n := NewNode()
		cfg := *n.Config()
		cfg.ProtoMaxBulkLen = 1 << 20 // LCS tables of 1 MiB at most: fast runs
		n.SetConfig(cfg)
		s, live, replay := NewSession(n), keyspace.New(), keyspace.New()
		for range 24 {
			if len(data) == 0 {
				break
			}
			var args []string
			switch next() % 8 {
			case 0:
				args = []string{"SETBIT", key(), num(), num()}
			case 1:
				args = []string{"GETBIT", key(), num()}
			case 2:
				args = []string{"BITCOUNT", key(), num(), num(), [...]string{"BIT", "BYTE", "x"}[next()%3]}[:2+next()%4]
			case 3:
				args = []string{"BITPOS", key(), num(), num(), num(), [...]string{"BIT", "BYTE", "x"}[next()%3]}[:3+next()%4]
			case 4:
				args = []string{"BITOP", [...]string{"AND", "OR", "XOR", "NOT"}[next()%4], key(), key(), key()}[:3+next()%3]
			case 5:
				args = []string{"BITFIELD", key()}
				for range next() % 4 {
					switch next() % 4 {
					case 0:
						args = append(args, "GET", typ(), num())
					case 1:
						args = append(args, "SET", typ(), num(), num())
					case 2:
						args = append(args, "INCRBY", typ(), num(), num())
					default:
						args = append(args, "OVERFLOW", [...]string{"WRAP", "SAT", "FAIL", "x"}[next()%4])
					}
				}
			case 6:
				args = []string{"LCS", key(), key(), "IDX", "MINMATCHLEN", num(), "WITHMATCHLEN"}[:3+next()%5]
			default:
				args = []string{"SET", key(), strings.Repeat(string(rune('a'+next()%3)), next()%9)}
			}
			bargs := make([][]byte, len(args))
			for i, a := range args {
				bargs[i] = []byte(a)
			}
			rep, muts := Exec(s, live, bargs, 1000, nil, nil)
			if l, err := replyLen(rep); err != nil || l != len(rep) {
				t.Fatalf("%q: reply %q malformed (%d, %v)", args, rep, l, err)
			}
			for _, m := range muts {
				Apply(replay, m)
			}
		}
		if a, b := dumpKeys(live), dumpKeys(replay); a != b {
			t.Fatalf("live %s, replayed %s", a, b)
		}
	})
}

func dumpKeys(ks *keyspace.Keyspace) string {
	var out []string
	ks.Each(func(k, v []byte, exp int64) { out = append(out, fmt.Sprintf("%q=%q@%d", k, v, exp)) })
	sort.Strings(out)
	return strings.Join(out, " ")
}
