package command

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
)

// The table entries must agree with Redis's descriptions of the same
// commands (cmdinfo_gen.go): arity, key positions, flags and ACL
// categories. The entries drive Dorivo (routing, ACL rules, ACL CAT); the
// descriptions are what COMMAND INFO replies.
// noMultiOnPurpose are refused inside MULTI unlike in Redis: Dorivo reads
// and writes the aclfile off the event loop (acl.go).
var noMultiOnPurpose = map[string]bool{"acl|load": true, "acl|save": true}

func TestEntriesMatchRedisInfo(t *testing.T) {
	for _, cmd := range cmds {
		d := describe(cmd.Name)
		if d == nil {
			t.Errorf("%s: no description in cmdinfo_gen.go: run go generate ./datapath/command", cmd.Name)
			continue
		}
		v := mustParse(cmd.Name, string(d.info[1]))
		num := func(i int) int { n, _ := strconv.Atoi(v.Elems[i].Str); return n }
		if got, want := fmt.Sprint(cmd.Arity, cmd.First, cmd.Last, cmd.Step), fmt.Sprint(num(1), num(3), num(4), num(5)); got != want {
			t.Errorf("%s: arity first last step %s, Redis %s", cmd.Name, got, want)
		}
		var redisFlags []string
		for _, f := range v.Elems[2].Elems {
			if slices.ContainsFunc(flagNames, func(n struct {
				f    Flags
				name string
			}) bool {
				return n.name == f.Str
			}) {
				redisFlags = append(redisFlags, f.Str)
			}
		}
		var flags []string
		for _, f := range flagNames {
			if cmd.Flags&f.f != 0 {
				flags = append(flags, f.name)
			}
		}
		slices.Sort(flags)
		slices.Sort(redisFlags)
		if !slices.Equal(flags, redisFlags) && !noMultiOnPurpose[cmd.Name] {
			t.Errorf("%s: flags %v, Redis %v", cmd.Name, flags, redisFlags)
		}
		var cats, redisCats []string
		for _, c := range categoryNames {
			if cmd.Cats&c.c != 0 {
				cats = append(cats, "@"+c.name)
			}
		}
		for _, c := range v.Elems[6].Elems {
			redisCats = append(redisCats, c.Str)
		}
		if !slices.Equal(cats, redisCats) {
			t.Errorf("%s: categories %v, Redis %v", cmd.Name, cats, redisCats)
		}
	}
}
