package difftest

import (
	"bytes"
	"strings"

	"github.com/dorivo/dorivo/datapath/resp"
)

// described normalizes a COMMAND, COMMAND INFO or COMMAND DOCS reply:
// subcommands, and the commands of COMMAND DOCS, sorted by name. ok is
// false when the reply does not parse.
func described(st Step, b []byte) (resp.Value, bool) {
	v, rest, err := resp.ParseValue(b)
	if err != nil || len(rest) != 0 {
		return v, false
	}
	if len(st.Args) > 1 && strings.EqualFold(st.Args[1], "docs") {
		v.SortPairs()
		for i := 1; i < len(v.Elems); i += 2 {
			sortDocs(&v.Elems[i])
		}
		return v, true
	}
	for i := range v.Elems {
		sortInfo(&v.Elems[i])
	}
	return v, true
}

// sortInfo sorts a COMMAND INFO entry's subcommands by name.
func sortInfo(v *resp.Value) {
	if len(v.Elems) != 10 {
		return
	}
	subs := v.Elems[9].Elems
	for i := range subs {
		sortInfo(&subs[i])
	}
	sortBy(subs, func(s resp.Value) string {
		if len(s.Elems) == 0 {
			return ""
		}
		return s.Elems[0].Str
	})
}

// sortDocs sorts a COMMAND DOCS value's subcommands by name.
func sortDocs(v *resp.Value) {
	for i := 0; i+1 < len(v.Elems); i += 2 {
		if v.Elems[i].Str == "subcommands" {
			v.Elems[i+1].SortPairs()
		}
	}
}

func sortBy(vs []resp.Value, key func(resp.Value) string) {
	for i := 1; i < len(vs); i++ {
		for j := i; j > 0 && key(vs[j]) < key(vs[j-1]); j-- {
			vs[j], vs[j-1] = vs[j-1], vs[j]
		}
	}
}

// sameDescribed compares two normalized descriptions; with subset, every
// command Dorivo describes must be among Redis's, described the same.
func sameDescribed(st Step, redis, dorivo []byte, subset bool) bool {
	r, ok1 := described(st, redis)
	d, ok2 := described(st, dorivo)
	if !ok1 || !ok2 || r.Type != d.Type {
		return false
	}
	if !subset {
		return bytes.Equal(resp.AppendValue(nil, r, true), resp.AppendValue(nil, d, true))
	}
	step := 1
	if len(st.Args) > 1 && strings.EqualFold(st.Args[1], "docs") {
		step = 2 // name, docs
	}
	have := map[string]bool{}
	for i := 0; i+step <= len(r.Elems); i += step {
		have[string(appendElems(r.Elems[i:i+step]))] = true
	}
	if len(d.Elems) == 0 {
		return false
	}
	for i := 0; i+step <= len(d.Elems); i += step {
		if !have[string(appendElems(d.Elems[i:i+step]))] {
			return false
		}
	}
	return true
}

func appendElems(vs []resp.Value) []byte {
	var b []byte
	for _, v := range vs {
		b = resp.AppendValue(b, v, true)
	}
	return b
}
