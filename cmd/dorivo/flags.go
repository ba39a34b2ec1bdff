package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/dorivo/dorivo/userspace/agentconfig"
	"github.com/dorivo/dorivo/userspace/loader"
)

// portValue is a flag.Value that accepts 1..65535 only.
type portValue struct{ p *uint16 }

func (v portValue) String() string {
	if v.p == nil {
		return ""
	}
	return strconv.Itoa(int(*v.p))
}

func (v portValue) Set(s string) error {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return fmt.Errorf("must be a port number 1..65535")
	}
	*v.p = uint16(n)
	return nil
}

// rangeValue is a flag.Value for an integer within [min, max].
type rangeValue struct {
	v        *int64
	min, max int64
}

func (v rangeValue) String() string {
	if v.v == nil {
		return ""
	}
	return strconv.FormatInt(*v.v, 10)
}

func (v rangeValue) Set(s string) error {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < v.min || n > v.max {
		return fmt.Errorf("must be an integer %d..%d", v.min, v.max)
	}
	*v.v = n
	return nil
}

// memoryValue is a flag.Value for a size in bytes written as Redis writes
// its memory settings: a plain number, or one with a unit, k/m/g meaning
// 1000-based and kb/mb/gb 1024-based, case-insensitive.
type memoryValue struct{ v *int64 }

func (v memoryValue) String() string {
	if v.v == nil {
		return ""
	}
	return strconv.FormatInt(*v.v, 10)
}

func (v memoryValue) Set(s string) error {
	units := []struct {
		suffix string
		mul    int64
	}{{"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30}, {"k", 1e3}, {"m", 1e6}, {"g", 1e9}, {"b", 1}}
	num, mul := strings.ToLower(s), int64(1)
	for _, u := range units {
		if strings.HasSuffix(num, u.suffix) {
			num, mul = strings.TrimSuffix(num, u.suffix), u.mul
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mul {
		return fmt.Errorf("must be a size such as 536870912, 512mb or 4gb")
	}
	*v.v = n * mul
	return nil
}

// yesNoValue is a flag.Value for Redis's yes/no settings.
type yesNoValue struct{ v *bool }

func (v yesNoValue) String() string {
	if v.v == nil || *v.v {
		return "yes"
	}
	return "no"
}

func (v yesNoValue) Set(s string) error {
	switch strings.ToLower(s) {
	case "yes":
		*v.v = true
	case "no":
		*v.v = false
	default:
		return fmt.Errorf("must be yes or no")
	}
	return nil
}

// limits are the datapath's client limits, with Redis 7.0's defaults.
type limits struct {
	maxClients   int64 // maxclients
	queryBuffer  int64 // client-query-buffer-limit, bytes
	maxBulkLen   int64 // proto-max-bulk-len, bytes
	maxMultibulk int64 // elements of one request (Redis: INT_MAX)
}

// listValue is a repeatable flag whose items are checked by parse.
type listValue[T any] struct {
	items *[]T
	parse func(string) (T, error)
}

func (v listValue[T]) String() string {
	if v.items == nil {
		return ""
	}
	var s []string
	for _, it := range *v.items {
		s = append(s, fmt.Sprint(it))
	}
	return strings.Join(s, ",")
}

func (v listValue[T]) Set(s string) error {
	it, err := v.parse(s)
	if err != nil {
		return err
	}
	*v.items = append(*v.items, it)
	return nil
}

// agentOptions are the parsed `dorivo agent` flags.
type agentOptions struct {
	iface      string
	pinDir     string
	admin      adminOptions // admin.go
	configFile string
	// listen is the address the datapath binds its TCP and UDP ports on;
	// noSteer leaves sk_reuseport_select unattached.
	listen  string
	noSteer bool
	// dataDir holds the durable store (store.go); empty: memory only.
	dataDir string
	// cacheMemory bounds the memory of values with a store (store.go);
	// 0: no bound.
	cacheMemory int64
	limits      limits
	clients     clientOptions // clients.go
	// protectedMode is protected-mode: refuse clients beyond loopback
	// while the default user has no password.
	protectedMode bool
	// truncateCorrupt cuts the store's log at synced corruption instead of
	// refusing to start.
	truncateCorrupt bool
	// users are --requirepass and --aclfile (users.go).
	users userOptions
	// alertmanager is where anomaly alerts are pushed ("" nowhere).
	alertmanager string
	// cluster makes the agent one replica of a cluster (cluster.go).
	cluster clusterOptions
	// noObserve turns the observability stack off (node collectors,
	// anomaly detection, request timing): the benchmark's baseline.
	noObserve bool
	// anomalyInterval is the detector's sampling period.
	anomalyInterval time.Duration
	// cfg holds the flag part of the configuration; the file part is
	// merged in by (*agentOptions).config, at start and on SIGHUP.
	cfg agentconfig.Config
}

func parseAgentFlags(args []string, stderr io.Writer) (*agentOptions, error) {
	o := &agentOptions{
		cfg:         agentconfig.Config{UDPPort: 6379, TCPPort: 6379, Loops: runtime.NumCPU()},
		cacheMemory: defaultCacheMemory, protectedMode: true, clients: defaultClientOptions(),
		limits: limits{maxClients: 10000, queryBuffer: 1 << 30, maxBulkLen: 512 << 20, maxMultibulk: math.MaxInt32},
	}
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.StringVar(&o.iface, "iface", "lo", "interface to attach the XDP and TCX programs to")
	fs.Var(portValue{&o.cfg.UDPPort}, "udp-port", "UDP service port (datagram protocol)")
	fs.Var(portValue{&o.cfg.TCPPort}, "tcp-port", "TCP service port (RESP)")
	fs.IntVar(&o.cfg.Loops, "loops", o.cfg.Loops, "event loops the slots are split over (1..256)")
	fs.StringVar(&o.listen, "listen", "127.0.0.1", "IP address the datapath serves RESP and datagrams on (0.0.0.0 or :: for every interface)")
	fs.BoolVar(&o.noSteer, "no-steer", false, "do not attach the sk_reuseport program: requests land on loops by the kernel's hash and cross loops (XDP/TCX stay attached)")
	fs.StringVar(&o.dataDir, "data-dir", defaultDataDir, "directory of the durable store (writes are acknowledged once fsynced there); empty keeps data in memory only")
	fs.Var(memoryValue{&o.cacheMemory}, "cache-memory", "memory for values with --data-dir, e.g. 512mb or 4gb: half for the event loops, a quarter each for the read cache and pebble's block cache; other values stay on disk only, keys and expiries stay in memory (0: keep every value in memory)")
	fs.Var(yesNoValue{&o.protectedMode}, "protected-mode", "yes or no: while the default user has no password, refuse RESP clients that are not on loopback with Redis's DENIED reply (CONFIG SET protected-mode changes it)")
	fs.BoolVar(&o.truncateCorrupt, "truncate-corrupt-log", false, "start even when synced records of the store's log are corrupt: cut the log there and report how many entries were dropped (without it the start stops, naming the file and offset)")
	fs.Var(rangeValue{&o.limits.maxClients, 1, 1 << 20}, "maxclients", "most simultaneous RESP clients; more get \"-ERR max number of clients reached\"")
	fs.Var(rangeValue{&o.limits.queryBuffer, 1 << 20, math.MaxInt64}, "client-query-buffer-limit", "bytes an incomplete request may buffer before the client is closed")
	fs.Var(rangeValue{&o.limits.maxBulkLen, 1 << 20, math.MaxInt64}, "proto-max-bulk-len", "largest bulk argument in bytes (CONFIG SET proto-max-bulk-len changes it at run time)")
	fs.Var(rangeValue{&o.limits.maxMultibulk, 1, math.MaxInt32}, "max-multibulk-len", "most elements in one request; more is \"Protocol error: invalid multibulk length\"")
	o.clients.register(fs)
	fs.StringVar(&o.pinDir, "pin-dir", loader.DefaultPinDir, "bpffs directory for the pinned maps and links")
	fs.StringVar(&o.admin.addr, "admin-addr", "127.0.0.1:9379", "address of the admin HTTP server (/metrics); empty disables it")
	fs.BoolVar(&o.admin.pprof, "pprof", false, "serve Go's profiler on the admin server under /debug/pprof/")
	fs.StringVar(&o.admin.tokenFile, "admin-token-file", "", "file holding a bearer token the admin server requires (Authorization: Bearer TOKEN) on every path but /healthz")
	fs.StringVar(&o.admin.tlsCert, "admin-tls-cert", "", "PEM certificate (chain) for HTTPS on the admin server, with --admin-tls-key")
	fs.StringVar(&o.admin.tlsKey, "admin-tls-key", "", "PEM private key of --admin-tls-cert")
	fs.StringVar(&o.admin.clientCA, "admin-client-ca", "", "PEM CA bundle: the admin server requires a client certificate signed by it (mTLS; needs --admin-tls-cert)")
	fs.StringVar(&o.configFile, "config", "", "JSON file with tenants, quotas and allow prefixes, re-read on SIGHUP")
	fs.Var(listValue[agentconfig.Quota]{&o.cfg.Quotas, agentconfig.ParseQuota}, "quota", "tenant token bucket TENANT=RATE[:BURST] in requests/s: datagrams, and RESP requests of the tenant's users, each have one (repeatable)")
	fs.Var(listValue[netip.Prefix]{&o.cfg.Allow, agentconfig.ParseAllow}, "allow", "admit UDP datagrams only from this CIDR (repeatable; none admits all)")
	fs.Var(listValue[string]{&o.cfg.Tenants, func(s string) (string, error) { return s, agentconfig.CheckTag(s) }}, "tenant", "name a tenant tag for status and metrics (repeatable)")
	fs.Var(listValue[agentconfig.TenantKey]{&o.cfg.Keys, agentconfig.ParseTenantKey}, "tenant-key", "a tenant's datagram key TENANT=HEX (32 hex digits) or TENANT=@FILE; its datagrams must then be signed (repeatable)")
	fs.Var(listValue[string]{&o.cfg.StaleReads, func(s string) (string, error) { return s, agentconfig.CheckTag(s) }}, "stale-reads", "in a cluster, a tenant (a user's key tag, or its name: default) whose reads fall back to this node's replica, possibly stale, when their shard's leader cannot be asked (repeatable)")
	fs.Var(listValue[string]{&o.cfg.UnsignedTenants, func(s string) (string, error) { return s, agentconfig.CheckTag(s) }}, "unsigned-tenant", "a tenant that may send unsigned datagrams; their replies are never longer than the request (repeatable)")
	fs.BoolVar(&o.cfg.AllowUnsigned, "allow-unsigned", false, "let every tenant without a key send unsigned datagrams (by default they are dropped in XDP)")
	fs.DurationVar(&o.cfg.KeyOverlap, "key-overlap", 0, "how long a rotated tenant key keeps verifying after SIGHUP (0: 1m)")
	fs.DurationVar(&o.cfg.ReplayWindow, "replay-window", 0, "how far a signed datagram's timestamp may be from the agent's clock (0: 5s)")
	fs.StringVar(&o.users.requirepass, "requirepass", "", "the default user's password, as Redis's requirepass (CONFIG SET requirepass changes it); seeds a store without users, see README")
	fs.StringVar(&o.users.aclfile, "aclfile", "", "users file in Redis's aclfile format (user NAME on #SHA256 ~PATTERN &* +@all), for ACL LOAD and ACL SAVE; seeds a store without users, see README")
	fs.StringVar(&o.alertmanager, "alertmanager-url", "", "Prometheus Alertmanager to push anomaly alerts to (its v2 API), e.g. http://127.0.0.1:9093")
	o.cluster.register(fs)
	fs.BoolVar(&o.noObserve, "no-observe", false, "turn off node, runtime and perf collectors, anomaly detection and request timing (/metrics keeps the BPF, loop and store counters)")
	fs.DurationVar(&o.anomalyInterval, "anomaly-interval", 5*time.Second, "how often the anomaly detector samples its series")
	if err := parse(fs, args, stderr); err != nil {
		return nil, err
	}
	if err := o.cluster.check(o.dataDir); err != nil {
		fmt.Fprintf(stderr, "dorivo agent: %v\n", err)
		return nil, errUsage
	}
	if o.iface == "" {
		fmt.Fprintln(stderr, "dorivo agent: --iface must name an interface")
		return nil, errUsage
	}
	if _, err := netip.ParseAddr(o.listen); err != nil {
		fmt.Fprintf(stderr, "dorivo agent: --listen %q must be an IP address (127.0.0.1, 0.0.0.0, ::)\n", o.listen)
		return nil, errUsage
	}
	if o.anomalyInterval <= 0 {
		fmt.Fprintln(stderr, "dorivo agent: --anomaly-interval must be positive")
		return nil, errUsage
	}
	if o.pinDir == "" {
		fmt.Fprintln(stderr, "dorivo agent: --pin-dir must not be empty")
		return nil, errUsage
	}
	if o.users.requirepass != "" && o.users.aclfile != "" {
		fmt.Fprintln(stderr, "dorivo agent: --requirepass and --aclfile exclude each other: give the default user its password in the aclfile")
		return nil, errUsage
	}
	if err := o.admin.check(); err != nil {
		fmt.Fprintf(stderr, "dorivo agent: %v\n", err)
		return nil, errUsage
	}
	if _, err := o.config(); err != nil {
		fmt.Fprintf(stderr, "dorivo agent: %v\n", err)
		return nil, errUsage
	}
	return o, nil
}

// config returns the flags' configuration merged with the current
// contents of --config, validated.
func (o *agentOptions) config() (*agentconfig.Config, error) {
	c := o.cfg
	if o.configFile != "" {
		f, err := agentconfig.LoadFile(o.configFile)
		if err != nil {
			return nil, fmt.Errorf("--config: %w", err)
		}
		if c, err = c.WithFile(f); err != nil {
			return nil, fmt.Errorf("--config: %w", err)
		}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}
