package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dorivo/dorivo/datapath/resp"
	"github.com/dorivo/dorivo/datapath/wire"
	"github.com/dorivo/dorivo/internal/testenv"
	"github.com/dorivo/dorivo/shardstore/slot"
)

const (
	serveUDPPort = 16479
	serveTCPPort = 16480
	serveLoops   = 2
	serveTenants = 20
)

// TestAgentServesOnVeth runs the real agent serving on a veth end in a test
// namespace and talks to it from the other namespace: datagrams (SET, GET,
// GET of a missing key) must get the right replies, redis-cli must work over
// RESP (and see what UDP wrote), and the per-loop counters in /metrics and
// INFO must move exactly as the traffic says.
//
// It runs twice. Steered: every datagram lands on the loop that owns its
// slot (per-loop datagram counts equal the owners' shares, the non-owner
// counter stays 0), and a TCP connection from a source port with
// slot.PortOwner(port, loops) == owner crosses no loop while one aimed at the other loop
// sends every request across. With --no-steer (the reuseport program not
// attached) datagrams from fresh sockets land by hash, so some arrive at a
// non-owner: the non-owner counter must move, which is what makes the
// steered zero mean something.
func TestAgentServesOnVeth(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireCommand(t, "nsenter")
	testenv.RequireCommand(t, "redis-cli")
	bin := buildDorivo(t)

	srv := testenv.NewNetns(t, "srv")
	cli := testenv.NewNetns(t, "cli")
	testenv.VethPair(t, srv, "sv0", srvAddr+"/24", cli, "sv1", cliAddr+"/24")
	cli.Run(t, "ip", "neigh", "replace", srvAddr, "lladdr", macOf(t, srv, "sv0"), "dev", "sv1", "nud", "permanent")
	srv.Run(t, "ip", "neigh", "replace", cliAddr, "lladdr", macOf(t, cli, "sv1"), "dev", "sv0", "nud", "permanent")

	table, err := slot.NewTable(serveLoops)
	if err != nil {
		t.Fatal(err)
	}
	owner := func(tag string) int { return table.Owner(slot.OfTag([]byte(tag))) }
	// Tenants of each loop: the test needs both loops to own some.
	byLoop := make([][]string, serveLoops)
	for i := range serveTenants {
		tag := fmt.Sprintf("t%d", i)
		byLoop[owner(tag)] = append(byLoop[owner(tag)], tag)
	}
	for o, tags := range byLoop {
		if len(tags) == 0 {
			t.Fatalf("no tenant of %d is owned by loop %d", serveTenants, o)
		}
	}
	nextPort := 40000 // shard-aware client ports, never reused (TIME_WAIT)

	for _, steer := range []bool{true, false} {
		name := map[bool]string{true: "steered", false: "no-steer"}[steer]
		t.Run(name, func(t *testing.T) {
			pinDir := fmt.Sprintf("/sys/fs/bpf/dorivo-test-%d-%d", os.Getpid(), pinSeq.Add(1))
			t.Cleanup(func() { _ = os.RemoveAll(pinDir) })
			args := []string{"--iface", "sv0", "--listen", srvAddr, "--protected-mode", "no", // clients come over the veth
				"--udp-port", fmt.Sprint(serveUDPPort), "--tcp-port", fmt.Sprint(serveTCPPort),
				"--loops", fmt.Sprint(serveLoops), "--pin-dir", pinDir, "--admin-addr", adminAddr}
			for i := range serveTenants { // signed datagrams, verified in XDP and in the loops
				args = append(args, "--tenant-key", fmt.Sprintf("t%d=%s", i, serveKeyHex))
			}
			if !steer {
				args = append(args, "--no-steer")
			}
			agent := startAgent(t, bin, srv, args...)
			defer func() {
				if t.Failed() {
					t.Logf("agent log:\n%s", agent.logString())
				}
			}()
			loopMetrics := func() map[string]float64 {
				t.Helper()
				body, err := scrape(t, srv)
				if err != nil {
					t.Fatalf("scrape /metrics: %v", err)
				}
				return parseLoopMetrics(body)
			}

			// Datagrams: each from a fresh socket (a fresh source port),
			// so that without steering the kernel's hash spreads them.
			wantDatagrams := make([]float64, serveLoops)
			var uerr error
			cli.Do(t, func() {
				for i := range serveTenants {
					tag := fmt.Sprintf("t%d", i)
					key, val := "{"+tag+"}:k", "v"+tag+name
					for _, step := range []struct {
						op         wire.Opcode
						key, value string
						status     wire.Status
						body       string
					}{
						{wire.OpSet, key, val, wire.StatusOK, ""},
						{wire.OpGet, key, "", wire.StatusOK, val},
						{wire.OpGet, "{" + tag + "}:missing", "", wire.StatusNotFound, ""},
					} {
						rep, err := datagramRoundTrip(uint32(100+i), step.op, step.key, step.value)
						if err != nil {
							uerr = fmt.Errorf("%v %s: %w", step.op, step.key, err)
							return
						}
						if rep.Status != step.status || (step.op == wire.OpGet && string(rep.Body) != step.body) {
							uerr = fmt.Errorf("%v %s: reply %v %q, want %v %q", step.op, step.key, rep.Status, rep.Body, step.status, step.body)
							return
						}
						wantDatagrams[owner(tag)]++
					}
				}
			})
			if uerr != nil {
				t.Fatal(uerr)
			}

			// RESP through the veth with Debian's redis-cli; it reads what
			// the datagrams wrote, and MSET/MGET span both loops.
			rc := func(args ...string) string {
				return strings.TrimSpace(cli.Run(t, append([]string{"redis-cli", "-h", srvAddr, "-p", fmt.Sprint(serveTCPPort)}, args...)...))
			}
			if got := rc("PING"); got != "PONG" {
				t.Errorf("redis-cli PING = %q", got)
			}
			if got := rc("GET", "{t3}:k"); got != "vt3"+name {
				t.Errorf("redis-cli GET of a key set over UDP = %q, want %q", got, "vt3"+name)
			}
			a, b := "{"+byLoop[0][0]+"}:m", "{"+byLoop[1][0]+"}:m"
			if got := rc("MSET", a, "1", b, "2"); got != "OK" {
				t.Errorf("redis-cli MSET = %q", got)
			}
			if got := rc("MGET", a, b, "{nosuch}:m"); got != "1\n2\n" && got != "1\n2" {
				t.Errorf("redis-cli MGET = %q, want 1, 2 and nil", got)
			}

			// TCP: per loop, one connection from a port aimed at the
			// owner and one aimed at the other loop, each sending n GETs of keys
			// that loop owns.
			const n = 10
			before := loopMetrics()
			type conn struct{ loop, arrives int }
			var conns []conn
			var terr error
			cli.Do(t, func() {
				for o := range serveLoops {
					for _, aim := range []int{o, (o + 1) % serveLoops} {
						p, ok := slot.PortFor(uint16(nextPort), aim, serveLoops)
						if !ok {
							terr = fmt.Errorf("no source port for loop %d from %d", aim, nextPort)
							return
						}
						port := int(p)
						nextPort = port + 1
						if err := respGets(port, byLoop[o], n, name); err != nil {
							terr = fmt.Errorf("loop %d keys from port %d: %w", o, port, err)
							return
						}
						conns = append(conns, conn{o, aim})
					}
				}
			})
			if terr != nil {
				t.Fatal(terr)
			}
			after := loopMetrics()
			delta := func(metric string, loop int) float64 {
				k := fmt.Sprintf("%s{loop=%q}", metric, strconv.Itoa(loop))
				return after[k] - before[k]
			}
			sum := func(m map[string]float64, metric string) (s float64) {
				for l := range serveLoops {
					s += m[fmt.Sprintf("%s{loop=%q}", metric, strconv.Itoa(l))]
				}
				return s
			}
			if got := sum(after, "dorivo_loop_requests_total") - sum(before, "dorivo_loop_requests_total"); got != float64(n*len(conns)) {
				t.Errorf("requests over all loops moved by %v, want %d", got, n*len(conns))
			}
			if steer {
				// Each loop parsed the requests of the connections
				// delivered to it by source port, and sent across exactly those
				// of the connection whose keys it does not own.
				for l := range serveLoops {
					var reqs, cross float64
					for _, c := range conns {
						if c.arrives == l {
							reqs += n
							if c.loop != l {
								cross += n
							}
						}
					}
					if got := delta("dorivo_loop_requests_total", l); got != reqs {
						t.Errorf("loop %d: requests moved by %v, want %v", l, got, reqs)
					}
					if got := delta("dorivo_loop_cross_sent_total", l); got != cross {
						t.Errorf("loop %d: cross-loop sends moved by %v, want %v", l, got, cross)
					}
				}
			}

			// Datagram counters: exact per loop when steered; without
			// steering the total is exact and some must cross.
			var nonOwner float64
			for l := range serveLoops {
				got := after[fmt.Sprintf("dorivo_loop_datagrams_total{loop=%q}", strconv.Itoa(l))]
				if steer && got != wantDatagrams[l] {
					t.Errorf("loop %d received %v datagrams, want %v (the ones for its slots)", l, got, wantDatagrams[l])
				}
				nonOwner += after[fmt.Sprintf("dorivo_loop_nonowner_datagrams_total{loop=%q}", strconv.Itoa(l))]
			}
			t.Logf("datagrams per loop %v (owners' shares %v), non-owner %v; TCP cross-loop sends %v",
				[]float64{after[`dorivo_loop_datagrams_total{loop="0"}`], after[`dorivo_loop_datagrams_total{loop="1"}`]},
				wantDatagrams, nonOwner, sum(after, "dorivo_loop_cross_sent_total")-sum(before, "dorivo_loop_cross_sent_total"))
			if got, want := sum(after, "dorivo_loop_datagrams_total"), float64(3*serveTenants); got != want {
				t.Errorf("datagrams over all loops = %v, want %v", got, want)
			}
			if steer && nonOwner != 0 {
				t.Errorf("steered: %v datagrams reached a non-owner loop, want 0", nonOwner)
			}
			if !steer && nonOwner == 0 {
				t.Errorf("--no-steer: no datagram of %d from fresh ports reached a non-owner loop: is the program still steering?", 3*serveTenants)
			}

			// INFO shows the same counters.
			info := rc("INFO", "datapath")
			for _, want := range []string{
				"loops:" + strconv.Itoa(serveLoops),
				"steering:" + map[bool]string{true: "kernel", false: "off"}[steer],
				fmt.Sprintf("total_datagrams:%d", 3*serveTenants),
				fmt.Sprintf("total_nonowner_datagrams:%.0f", nonOwner),
				fmt.Sprintf("loop0_datagrams:%.0f", after[`dorivo_loop_datagrams_total{loop="0"}`]),
			} {
				if !strings.Contains(info, want+"\r\n") && !strings.Contains(info, want+"\n") {
					t.Errorf("INFO datapath lacks %q:\n%s", want, info)
				}
			}

			if err := agent.stop(t, syscall.SIGTERM); err != nil {
				t.Fatalf("agent exit after SIGTERM: %v", err)
			}
			if _, err := os.Stat(pinDir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("pin dir after SIGTERM: %v", err)
			}
			// The loops closed their sockets: nothing answers any more.
			out, err := exec.Command("nsenter", "--net=/var/run/netns/"+cli.Name,
				"redis-cli", "-h", srvAddr, "-p", fmt.Sprint(serveTCPPort), "PING").CombinedOutput()
			if err == nil && strings.Contains(string(out), "PONG") {
				t.Errorf("redis-cli PING after stop answered %q", out)
			}
		})
	}
}

// datagramRoundTrip sends one request from a fresh socket and waits for
// its reply.
// serveKeyHex is the datagram key of every tenant of the serve test.
const serveKeyHex = "0f0e0d0c0b0a09080706050403020100"

// datagramRoundTrip sends one signed datagram and returns its reply, whose
// MAC it checks.
func datagramRoundTrip(id uint32, op wire.Opcode, key, value string) (*wire.Reply, error) {
	k, err := wire.ParseKey(serveKeyHex)
	if err != nil {
		return nil, err
	}
	req, err := wire.AppendSignedRequest(nil, &wire.Request{ID: id, Op: op, Key: []byte(key), Value: []byte(value)}, k, time.Now().UnixNano())
	if err != nil {
		return nil, err
	}
	c, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.ParseIP(cliAddr)}, &net.UDPAddr{IP: net.ParseIP(srvAddr), Port: serveUDPPort})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if _, err := c.Write(req); err != nil {
		return nil, err
	}
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, wire.MaxDatagram)
	nr, err := c.Read(buf)
	if err != nil {
		return nil, fmt.Errorf("no reply: %w", err)
	}
	var rep wire.Reply
	if err := wire.ParseReply(buf[:nr], &rep); err != nil {
		return nil, err
	}
	if !rep.Signed || !wire.Verify(buf[:nr], k) || rep.RequestMAC != binary.LittleEndian.Uint64(req[len(req)-8:]) {
		return nil, fmt.Errorf("reply not signed under the tenant's key for this request")
	}
	if rep.ID != id || rep.Op != op {
		return nil, fmt.Errorf("reply id %d op %v, want %d %v", rep.ID, rep.Op, id, op)
	}
	rep.Body = bytes.Clone(rep.Body)
	return &rep, nil
}

// respGets connects from local port port and sends n pipelined GETs of the
// tenants' "k" keys (written over UDP before), checking every reply.
func respGets(port int, tags []string, n int, suffix string) error {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(cliAddr), Port: port}, Timeout: 3 * time.Second}
	c, err := d.Dial("tcp4", net.JoinHostPort(srvAddr, fmt.Sprint(serveTCPPort)))
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	var out []byte
	for i := range n {
		out = resp.AppendCommand(out, []byte("GET"), []byte("{"+tags[i%len(tags)]+"}:k"))
	}
	if _, err := c.Write(out); err != nil {
		return err
	}
	br := bufio.NewReader(c)
	for i := range n {
		want := "v" + tags[i%len(tags)] + suffix
		line, err := br.ReadString('\n')
		if err != nil {
			return fmt.Errorf("reply %d: %w", i, err)
		}
		if line != fmt.Sprintf("$%d\r\n", len(want)) {
			return fmt.Errorf("reply %d: %q, want a bulk of %d bytes", i, line, len(want))
		}
		body := make([]byte, len(want)+2)
		if _, err := io.ReadFull(br, body); err != nil {
			return fmt.Errorf("reply %d: %w", i, err)
		}
		if string(body) != want+"\r\n" {
			return fmt.Errorf("reply %d: %q, want %q", i, body, want)
		}
	}
	return nil
}

// parseLoopMetrics returns the dorivo_loop_* samples of a scrape, keyed by
// `name{loop="i"}`.
func parseLoopMetrics(body string) map[string]float64 {
	m := map[string]float64{}
	for _, l := range strings.Split(body, "\n") {
		if !strings.HasPrefix(l, "dorivo_loop_") {
			continue
		}
		k, v, ok := strings.Cut(l, " ")
		if !ok {
			continue
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			m[k] = f
		}
	}
	return m
}
