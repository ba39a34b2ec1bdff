package command

//go:generate go run ./internal/gencmdinfo -o cmdinfo_gen.go

import (
	"strings"
	"sync"

	"github.com/dorivo/dorivo/datapath/resp"
)

// cmdDesc is Redis's description of one command or subcommand, written
// out once in each protocol ([0] RESP2, [1] RESP3).
type cmdDesc struct {
	name string
	info [2][]byte // its COMMAND INFO entry
	docs [2][]byte // its COMMAND DOCS value, nil when Redis has none
}

var (
	descsOnce sync.Once
	descs     map[string]*cmdDesc // by full lowercase name ("client|id")
)

// describe returns Redis's description of fullname, case-insensitively,
// when it is a command Dorivo implements or one of its subcommands.
func describe(fullname string) *cmdDesc {
	descsOnce.Do(loadDescs)
	fullname = strings.ToLower(fullname)
	if top, _, _ := strings.Cut(fullname, "|"); table[top] == nil {
		return nil // described ahead of its implementation
	}
	return descs[fullname]
}

// loadDescs parses the generated replies of cmdinfo_gen.go.
func loadDescs() {
	descs = map[string]*cmdDesc{}
	for name, raw := range redisInfo {
		info := mustParse(name, raw)
		docs := mustParse(name, redisDocs[name])
		addDesc(name, info, docs)
		subDocs, _ := docs.Lookup("subcommands")
		for _, sub := range info.Elems[9].Elems {
			sd, _ := subDocs.Lookup(sub.Elems[0].Str)
			addDesc(sub.Elems[0].Str, sub, sd)
		}
	}
}

func addDesc(name string, info, docs resp.Value) {
	d := &cmdDesc{name: name}
	for i, resp3 := range []bool{false, true} {
		d.info[i] = resp.AppendValue(nil, info, resp3)
		if docs.Type != 0 {
			d.docs[i] = resp.AppendValue(nil, docs, resp3)
		}
	}
	descs[name] = d
}

func mustParse(name, raw string) resp.Value {
	v, rest, err := resp.ParseValue([]byte(raw))
	if err != nil || len(rest) != 0 {
		panic("cmdinfo_gen.go: the reply of " + name + " does not parse")
	}
	return v
}
