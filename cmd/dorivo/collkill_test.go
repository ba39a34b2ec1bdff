package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/dorivo/dorivo/internal/testenv"
)

const (
	collKillPort  = 16590
	collKillAdmin = "127.0.0.1:19590"
)

// killConn is a one-request-at-a-time RESP client for the kill test.
type killConn struct {
	c  net.Conn
	rd *bufio.Reader
}

func dialNs(t *testing.T, ns *testenv.Netns, addr string) *killConn {
	t.Helper()
	var c net.Conn
	var err error
	ns.Do(t, func() { c, err = net.DialTimeout("tcp", addr, 5*time.Second) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &killConn{c: c, rd: bufio.NewReader(c)}
}

// do sends args and returns the reply's first line, or "" when the
// connection failed (the agent was killed).
func (r *killConn) do(args ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	r.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := r.c.Write([]byte(b.String())); err != nil {
		return ""
	}
	line, err := r.rd.ReadString('\n')
	if err != nil {
		return ""
	}
	line = strings.TrimSuffix(line, "\r\n")
	if strings.HasPrefix(line, "$") && line != "$-1" {
		body, err := r.rd.ReadString('\n')
		if err != nil {
			return ""
		}
		return line + "|" + strings.TrimSuffix(body, "\r\n")
	}
	return line
}

// collModel is what one writer's acknowledged writes leave: hash fields,
// set members and strings, each written once, some hash fields deleted.
type collModel struct {
	fields  map[[2]string]string // {key, field} → value; "" once deleted
	members map[[2]string]bool
	strs    map[string]string
	elems   map[[2]string]bool   // list elements pushed
	scores  map[[2]string]string // sorted-set member → score
	// inFlight is the write sent when the agent died: it may or may not
	// have happened.
	inFlight [2]string
}

// TestAgentKill9KeepsCollectionWrites kills the agent under a load mixing
// hashes (HSET, HDEL), sets (SADD), lists (RPUSH), sorted sets (ZADD)
// and strings, restarts it with another
// loop count, and reads back every acknowledged write: each was in the
// store's log, as element records, before its reply.
func TestAgentKill9KeepsCollectionWrites(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "nsenter")
	bin := buildDorivo(t)
	ns := testenv.NewNetns(t, "collkill")
	dataDir := t.TempDir()
	target := fmt.Sprintf("127.0.0.1:%d", collKillPort)
	pinDir := fmt.Sprintf("/sys/fs/bpf/dorivo-test-%d-%d", os.Getpid(), pinSeq.Add(1))
	t.Cleanup(func() { _ = os.RemoveAll(pinDir) })
	args := func(loops int) []string {
		return []string{"--iface", "lo", "--loops", fmt.Sprint(loops), "--pin-dir", pinDir,
			"--tcp-port", fmt.Sprint(collKillPort), "--udp-port", fmt.Sprint(collKillPort),
			"--admin-addr", collKillAdmin, "--data-dir", dataDir}
	}
	agent := startAgent(t, bin, ns, args(2)...)
	const writers = 6
	models := make([]*collModel, writers)
	var acked atomic.Int64
	var wg sync.WaitGroup
	for g := range writers {
		m := &collModel{fields: map[[2]string]string{}, members: map[[2]string]bool{}, strs: map[string]string{},
			elems: map[[2]string]bool{}, scores: map[[2]string]string{}}
		models[g] = m
		c := dialNs(t, ns, target)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lastField [2]string
			for i := 0; ; i++ {
				h := fmt.Sprintf("{w%d}h%d", g, i%40)
				s := fmt.Sprintf("{w%d}s%d", g, i%40)
				var ok bool
				switch i % 6 {
				case 4:
					l := [2]string{fmt.Sprintf("{w%d}l%d", g, i%40), fmt.Sprintf("e%d", i)}
					m.inFlight = l
					if ok = strings.HasPrefix(c.do("RPUSH", l[0], l[1]), ":"); ok {
						m.elems[l] = true
					}
				case 5:
					z := [2]string{fmt.Sprintf("{w%d}z%d", g, i%40), fmt.Sprintf("m%d", i)}
					m.inFlight = z
					if ok = c.do("ZADD", z[0], fmt.Sprint(i), z[1]) == ":1"; ok {
						m.scores[z] = fmt.Sprint(i)
					}
				case 0:
					f := [2]string{h, fmt.Sprintf("f%d", i)}
					m.inFlight = f
					if ok = c.do("HSET", h, f[1], fmt.Sprintf("v%d", i)) == ":1"; ok {
						m.fields[f] = fmt.Sprintf("v%d", i)
						lastField = f
					}
				case 1:
					mb := [2]string{s, fmt.Sprintf("m%d", i)}
					m.inFlight = mb
					if ok = c.do("SADD", s, mb[1]) == ":1"; ok {
						m.members[mb] = true
					}
				case 2:
					k := fmt.Sprintf("{w%d}k%d", g, i)
					m.inFlight = [2]string{k}
					if ok = c.do("SET", k, fmt.Sprintf("v%d", i)) == "+OK"; ok {
						m.strs[k] = fmt.Sprintf("v%d", i)
					}
				case 3:
					m.inFlight = lastField
					if ok = c.do("HDEL", lastField[0], lastField[1]) == ":1"; ok {
						m.fields[lastField] = ""
					}
				}
				if !ok {
					return // the agent is gone
				}
				acked.Add(1)
			}
		}()
	}
	deadline := time.Now().Add(40 * time.Second)
	for acked.Load() < 3000 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := agent.stop(t, syscall.SIGKILL); err == nil {
		t.Fatal("agent exited cleanly, want killed")
	}
	wg.Wait()
	if acked.Load() < 1000 {
		t.Fatalf("only %d writes acknowledged\n%s", acked.Load(), agent.logString())
	}
	t.Logf("%d writes acknowledged before kill -9", acked.Load())

	agent = startAgent(t, bin, ns, args(1)...)
	defer agent.stop(t, syscall.SIGTERM)
	c := dialNs(t, ns, target)
	checked := 0
	for _, m := range models {
		for f, v := range m.fields {
			if f == m.inFlight {
				continue
			}
			want := "$-1"
			if v != "" {
				want = fmt.Sprintf("$%d|%s", len(v), v)
			}
			if got := c.do("HGET", f[0], f[1]); got != want {
				t.Fatalf("HGET %s %s = %q, want %q (acknowledged)", f[0], f[1], got, want)
			}
			checked++
		}
		for mb := range m.members {
			if got := c.do("SISMEMBER", mb[0], mb[1]); got != ":1" {
				t.Fatalf("SISMEMBER %s %s = %q after an acknowledged SADD", mb[0], mb[1], got)
			}
			checked++
		}
		for l := range m.elems {
			if got := c.do("LPOS", l[0], l[1]); !strings.HasPrefix(got, ":") {
				t.Fatalf("LPOS %s %s = %q after an acknowledged RPUSH", l[0], l[1], got)
			}
			checked++
		}
		for z, sc := range m.scores {
			if got := c.do("ZSCORE", z[0], z[1]); got != fmt.Sprintf("$%d|%s", len(sc), sc) {
				t.Fatalf("ZSCORE %s %s = %q, want %s", z[0], z[1], got, sc)
			}
			checked++
		}
		for k, v := range m.strs {
			if got := c.do("GET", k); got != fmt.Sprintf("$%d|%s", len(v), v) {
				t.Fatalf("GET %s = %q, want %q", k, got, v)
			}
			checked++
		}
	}
	t.Logf("%d acknowledged writes read back", checked)
}
