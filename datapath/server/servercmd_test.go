package server

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/dorivo/dorivo/datapath/internal/difftest"
	"github.com/dorivo/dorivo/internal/redistest"
	"github.com/dorivo/dorivo/internal/testenv"
	"github.com/dorivo/dorivo/shardstore/durable"
)

// Bitmap writes go through the path SET's do: after a restart over the
// same store every SETBIT, BITFIELD and BITOP is there (read back cold:
// the loops keep 3 bytes of values each), the TTL a SETBIT kept too; BITOP
// and LCS with keys on two loops reply CROSSSLOT, as Redis Cluster does.
func TestBitmapsDurableAcrossRestart(t *testing.T) {
	ns := testenv.NewNetns(t, "bits")
	dir := t.TempDir()
	const addr = "127.0.0.1:7192"
	cfg := Config{TCPAddr: addr, Loops: 2, HotValueBytes: 6}
	n := startDurable(t, ns, dir, durable.Options{CacheBytes: 1 << 10}, cfg)
	c := dialIn(t, ns, addr, 0)
	k0, _ := keyOwnedBy(n.srv, "a", 0, 0)
	k1, _ := keyOwnedBy(n.srv, "b", 1, 0)
	expect(t, c, ":0", "SETBIT", k0, "7", "1")
	expect(t, c, ":0", "SETBIT", k0, "100", "1")
	expect(t, c, "*2|:0|:-56", "BITFIELD", k1, "SET", "u8", "0", "200", "INCRBY", "i8", "8", "-56")
	expect(t, c, "+OK", "SET", "{t}src", "abc")
	expect(t, c, ":3", "BITOP", "NOT", "{t}dst", "{t}src")
	expect(t, c, "+OK", "SET", "{t}ttl", "x", "EX", "1000")
	expect(t, c, ":0", "SETBIT", "{t}ttl", "0", "1")
	expect(t, c, "-CROSSSLOT Keys in request don't hash to the same slot", "BITOP", "AND", "d", k0, k1)
	expect(t, c, "-CROSSSLOT Keys in request don't hash to the same slot", "LCS", k0, k1)
	n.stop(t)

	n = startDurable(t, ns, dir, durable.Options{CacheBytes: 1 << 10}, cfg)
	c = dialIn(t, ns, addr, 0)
	want0 := make([]byte, 13)
	want0[0], want0[12] = 1, 8
	expect(t, c, fmt.Sprintf("$13|%s", want0), "GET", k0)
	expect(t, c, ":1", "GETBIT", k0, "100")
	expect(t, c, "*2|:200|:-56", "BITFIELD_RO", k1, "GET", "u8", "0", "GET", "i8", "8")
	expect(t, c, fmt.Sprintf("$3|%s", []byte{^byte('a'), ^byte('b'), ^byte('c')}), "GET", "{t}dst")
	expect(t, c, "$1|\xf8", "GET", "{t}ttl")
	if got := c.do("TTL", "{t}ttl"); got == ":-1" || got == ":-2" {
		t.Fatalf("TTL after SETBIT and restart = %q, want the expiry kept", got)
	}
	var fetches uint64
	for _, st := range n.srv.Stats() {
		fetches += st.Fetches
	}
	if fetches == 0 {
		t.Error("no value was read back cold")
	}
}

// infoFields parses an INFO reply ("$n|...") into its fields.
func infoFields(reply string) map[string]string {
	_, body, _ := strings.Cut(reply, "|")
	out := map[string]string{}
	for _, l := range strings.Split(body, "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && !strings.HasPrefix(l, "#") {
			out[k] = v
		}
	}
	return out
}

// INFO's counters add up over every loop: commandstats' calls, failures
// and rejections, errorstats, keyspace; CONFIG RESETSTAT zeroes them. The
// memory, cpu, persistence and replication fields exporters read are
// there and well formed.
func TestInfoStatsAcrossLoops(t *testing.T) {
	s, addr := startRoot(t, Config{Loops: 3})
	c := dialRoot(t, addr)
	for i := range 30 {
		expect(t, c, "+OK", "SET", fmt.Sprintf("k%d", i), "v")
	}
	for i := range 30 {
		expect(t, c, "$1|v", "GET", fmt.Sprintf("k%d", i)) // most forwarded to another loop
	}
	expect(t, c, "-ERR wrong number of arguments for 'get' command", "GET")
	expect(t, c, "-ERR value is not an integer or out of range", "INCR", "k1")
	expect(t, c, "-ERR bit offset is not an integer or out of range", "SETBIT", "k1", "-1", "1")
	expect(t, c, "*2|$9|databases|$1|1", "CONFIG", "GET", "databases")
	k0, _ := keyOwnedBy(s, "x", 0, 0)
	k1, _ := keyOwnedBy(s, "x", 1, 0)
	expect(t, c, "-CROSSSLOT Keys in request don't hash to the same slot", "LCS", k0, k1) // the loop's own error
	crossed := 0
	for _, st := range s.Stats() {
		crossed += int(st.CrossRecv)
	}
	if crossed == 0 {
		t.Fatal("no GET ran on another loop")
	}
	f := infoFields(c.do("INFO", "all"))
	for field, want := range map[string]string{
		"cmdstat_get":            "calls=30,",
		"cmdstat_set":            "calls=30,",
		"errorstat_ERR":          "count=3",
		"cmdstat_config|get":     "calls=1,",
		"db0":                    "keys=30,expires=0,avg_ttl=0",
		"role":                   "master",
		"connected_slaves":       "0",
		"aof_enabled":            "0",
		"maxmemory":              "0",
		"tcp_port":               addr[strings.LastIndexByte(addr, ':')+1:],
		"total_error_replies":    "4",
		"errorstat_CROSSSLOT":    "count=1",
		"rdb_bgsave_in_progress": "0",
	} {
		if !strings.HasPrefix(f[field], want) {
			t.Errorf("INFO %s = %q, want %q...", field, f[field], want)
		}
	}
	for field, want := range map[string]string{
		"cmdstat_get":    "rejected_calls=1,failed_calls=0",
		"cmdstat_incr":   "rejected_calls=0,failed_calls=1",
		"cmdstat_setbit": "rejected_calls=0,failed_calls=1",
	} {
		if !strings.HasSuffix(f[field], want) {
			t.Errorf("INFO %s = %q, want ...%q", field, f[field], want)
		}
	}
	for _, field := range []string{"used_memory", "used_memory_rss", "used_memory_peak"} {
		if n, err := strconv.ParseUint(f[field], 10, 64); err != nil || n < 1<<20 {
			t.Errorf("INFO %s = %q, want a byte count", field, f[field])
		}
	}
	if h := f["used_memory_human"]; !strings.HasSuffix(h, "M") && !strings.HasSuffix(h, "K") && !strings.HasSuffix(h, "G") {
		t.Errorf("used_memory_human = %q", h)
	}
	for _, field := range []string{"used_cpu_sys", "used_cpu_user"} {
		if v, err := strconv.ParseFloat(f[field], 64); err != nil || v < 0 || !strings.Contains(f[field], ".") {
			t.Errorf("INFO %s = %q", field, f[field])
		}
	}
	if _, ok := f["cmdstat_get"]; ok && strings.Contains(c.do("INFO"), "cmdstat_") {
		t.Error("INFO without arguments includes commandstats; Redis leaves it out of the default sections")
	}
	expect(t, c, "+OK", "CONFIG", "RESETSTAT")
	f = infoFields(c.do("INFO", "commandstats", "errorstats"))
	// As in Redis, RESETSTAT's own call counts after the reset, and an
	// INFO counts once it has replied.
	if len(f) != 1 || !strings.HasPrefix(f["cmdstat_config|resetstat"], "calls=1,") {
		t.Errorf("after CONFIG RESETSTAT: %v, want only RESETSTAT's own call", f)
	}
}

// CONFIG GET * lists every parameter Dorivo knows, with the values the
// server runs with; CONFIG SET refuses the fixed ones as Redis refuses
// immutable parameters, and changes the others.
func TestConfigGetAll(t *testing.T) {
	_, addr := startRoot(t, Config{Loops: 2, MaxClients: 77})
	c := dialRoot(t, addr)
	got := map[string]string{}
	parts := strings.Split(c.do("CONFIG", "GET", "*"), "|")
	for i := 1; i+3 < len(parts); i += 4 {
		got[parts[i+1]] = parts[i+3]
	}
	_, port, _ := strings.Cut(addr, ":")
	want := map[string]string{
		"port": port, "bind": "127.0.0.1", "maxclients": "77", "client-query-buffer-limit": "1073741824",
		"proto-max-bulk-len": "536870912", "maxmemory-policy": "noeviction", "protected-mode": "yes",
		"maxmemory": "0", "appendonly": "no", "appendfsync": "always", "save": "", "databases": "1",
		"cluster-enabled": "no", "daemonize": "no", "io-threads": "1", "timeout": "0", "hz": "10",
		"client-output-buffer-limit": "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
		"dorivo-client-pause-bytes":  "1048576", "dorivo-client-output-total": "268435456",
		"requirepass": "",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("CONFIG GET *:\n got %v\nwant %v", got, want)
	}
	expect(t, c, "-ERR CONFIG SET failed (possibly related to argument 'maxclients') - can't set immutable config", "CONFIG", "SET", "maxclients", "5")
	expect(t, c, "+OK", "CONFIG", "SET", "maxmemory-policy", "allkeys-lru", "proto-max-bulk-len", "2mb")
	expect(t, c, "*4|$18|proto-max-bulk-len|$7|2097152|$16|maxmemory-policy|$11|allkeys-lru", "CONFIG", "GET", "proto-max-bulk-len", "maxmemory-policy")
}

// TestBitmapCasesCold runs the bitmap and LCS differential cases, in RESP2
// and RESP3, on three loops over a durable store that keeps 3 bytes of
// values per loop: the commands read values back from the store and write
// them through it, and the replies still match redis-server's.
func TestBitmapCasesCold(t *testing.T) {
	withValueStores(t, Config{Loops: 3}, func(t *testing.T, cfg Config) {
		if cfg.Store == nil {
			return // the memory variant runs in TestDifftestCases
		}
		s, addr := startRoot(t, cfg)
		difftest.Run(t, redistest.Start(t).Addr, addr, difftest.WithRESP3(difftest.BitmapCases))
		var fetches uint64
		for _, st := range s.Stats() {
			fetches += st.Fetches
		}
		if fetches < 50 {
			t.Errorf("%d values fetched back: they did not go cold", fetches)
		}
	})
}
