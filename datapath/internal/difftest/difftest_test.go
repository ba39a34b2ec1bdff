package difftest

import (
	"fmt"
	"github.com/dorivo/dorivo/internal/redistest"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/dorivo/dorivo/internal/testenv"
	"github.com/dorivo/dorivo/shardstore/collection"
	"github.com/dorivo/dorivo/shardstore/keyspace"
)

// TestAgainstRedis compares Dorivo's executor, behind the stand-in server,
// with redis-server, and after every case checks that the mutation records
// the executor emitted rebuild the same keyspace.
func TestAgainstRedis(t *testing.T) {
	redis := redistest.Start(t).Addr
	dorivo := Serve(t)
	for _, c := range WithRESP3(Cases) {
		Run(t, redis, dorivo.Addr, []Case{c})
		now := time.Now().UnixMilli()
		dorivo.WithKeyspace(func(live, replayed *keyspace.Keyspace) {
			if dorivo.ReplayErr != nil {
				t.Fatalf("case %q: records do not load back: %v", c.Name, dorivo.ReplayErr)
			}
			if a, b := dump(live, now), dump(replayed, now); a != b {
				t.Errorf("case %q: live and replayed keyspaces differ\nlive:     %.500s\nreplayed: %.500s", c.Name, a, b)
			}
		})
	}
}

func dump(ks *keyspace.Keyspace, now int64) string {
	var out []string
	ks.Each(func(k, v []byte, exp int64) {
		if exp == 0 || exp > now {
			desc := fmt.Sprintf("%q", v)
			if co := ks.CollAny(k); co != nil {
				desc = fmt.Sprintf("%s%v", co.Kind(), collContents(co))
			}
			out = append(out, fmt.Sprintf("%q=%s@%d", k, desc, exp))
		}
	})
	sort.Strings(out)
	return strings.Join(out, " ")
}

// TestRedisCli checks that redis-cli works against Dorivo, startup
// handshake included.
func TestRedisCli(t *testing.T) {
	cli := testenv.RequireCommand(t, "redis-cli")
	dorivo := Serve(t)
	host, port, _ := strings.Cut(dorivo.Addr, ":")
	cmd := exec.Command(cli, "-h", host, "-p", port)
	cmd.Stdin = strings.NewReader("SET greeting hello\nGET greeting\nINCR n\nMGET greeting n nope\nTTL n\nGET\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli: %v\n%s", err, out)
	}
	want := "OK\nhello\n1\nhello\n1\n\n-1\nERR wrong number of arguments for 'get' command\n\n"
	if string(out) != want {
		t.Fatalf("redis-cli output %q, want %q", out, want)
	}
}

// TestCompare runs the one-call entry point the datapath server uses.
func TestCompare(t *testing.T) {
	Compare(t, Serve(t).Addr)
}

// collContents lists a collection's elements canonically.
func collContents(co *keyspace.Coll) []string {
	var out []string
	switch v := co.V.(type) {
	case *collection.Hash:
		for f, x := range v.All() {
			out = append(out, f+"="+x)
		}
	case *collection.Set:
		out = v.Members()
	case *collection.ZSet:
		for _, e := range v.All() {
			out = append(out, e.Member+"="+collection.FormatScore(e.Score))
		}
	case *collection.List:
		return v.All()
	}
	sort.Strings(out)
	return out
}
