package command

import (
	"strconv"
	"strings"
)

// Config is the node's runtime configuration (CONFIG GET/SET). It is
// immutable once published; CONFIG SET publishes a changed copy.
type Config struct {
	// ProtoMaxBulkLen is proto-max-bulk-len: the largest bulk argument and
	// string value.
	ProtoMaxBulkLen int64
	// MaxmemoryPolicy is maxmemory-policy. Dorivo does not evict: it is
	// accepted and reported for clients that set it, without effect.
	MaxmemoryPolicy string
	// ProtectedMode is protected-mode: while the default user needs no
	// password, only loopback clients are served (Node.DeniesRemote).
	ProtectedMode bool

	// The parameters below are fixed when the server starts (its flags);
	// CONFIG GET reports them and CONFIG SET refuses them as immutable.
	// Port and Bind are the RESP listener's (port, bind).
	Port int
	Bind string
	// MaxClients and ClientQueryBufferLimit are maxclients and
	// client-query-buffer-limit.
	MaxClients             int
	ClientQueryBufferLimit int64
	// Durable reports a durable store: every write is synced to its log
	// before it is acknowledged (appendonly yes, appendfsync always).
	Durable bool
	// MaxMemory is maxmemory: 0, Dorivo refuses no write for memory (values
	// beyond the cache budget go cold to disk instead).
	MaxMemory int64
	// OutputLimits is client-output-buffer-limit, by class (clientlimits.go).
	OutputLimits [outputClasses]OutputLimit
	// Timeout is timeout: seconds a client may stay idle; 0: forever.
	Timeout int64
	// PauseBytes is dorivo-client-pause-bytes and OutputTotalBytes
	// dorivo-client-output-total (clientlimits.go); 0 disables either.
	PauseBytes, OutputTotalBytes int64
	// Requirepass is requirepass: default's password ("": nopass), kept
	// as set for CONFIG GET; the user table holds its SHA-256 (aclfile.go).
	Requirepass string
}

// DefaultConfig is Redis 7.0's defaults for the parameters Dorivo has.
var DefaultConfig = Config{ProtoMaxBulkLen: 512 << 20, MaxmemoryPolicy: "noeviction", ProtectedMode: true,
	Port: 6379, MaxClients: 10000, ClientQueryBufferLimit: 1 << 30,
	OutputLimits: DefaultOutputLimits, PauseBytes: DefaultPauseBytes, OutputTotalBytes: DefaultOutputTotalBytes}

// ProtectedModeDenied is Redis 7.0's reply, word for word, to a client
// that protected mode refuses; the connection is closed after it.
const ProtectedModeDenied = "DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside."

// DeniesRemote reports whether protected mode refuses a client that is
// not on the loopback interface: it is on and the default user has no
// password, as in Redis.
func (n *Node) DeniesRemote(loopback bool) bool {
	if loopback || !n.Config().ProtectedMode {
		return false
	}
	u := n.users.Load().get("default")
	return u != nil && u.NoPass
}

var maxmemoryPolicies = []string{"volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl",
	"allkeys-lru", "allkeys-lfu", "allkeys-random", "noeviction"}

type configParam struct {
	name string
	get  func(*Config) string
	// set validates and applies a value, returning Redis's error detail;
	// nil for a parameter fixed at start (immutable).
	set func(*Config, string) string
}

func fixed(name, value string) configParam {
	return configParam{name, func(*Config) string { return value }, nil}
}

var configParams = []configParam{
	{"requirepass", func(c *Config) string { return c.Requirepass }, func(c *Config, v string) string {
		c.Requirepass = v
		return ""
	}},
	{"protected-mode", func(c *Config) string { return yesNo(c.ProtectedMode) }, func(c *Config, v string) string {
		switch strings.ToLower(v) {
		case "yes":
			c.ProtectedMode = true
		case "no":
			c.ProtectedMode = false
		default:
			return "argument must be 'yes' or 'no'"
		}
		return ""
	}},
	{"maxmemory-policy", func(c *Config) string { return c.MaxmemoryPolicy }, func(c *Config, v string) string {
		for _, p := range maxmemoryPolicies {
			if strings.EqualFold(p, v) {
				c.MaxmemoryPolicy = p
				return ""
			}
		}
		return "argument(s) must be one of the following: " + strings.Join(maxmemoryPolicies, ", ")
	}},
	{"proto-max-bulk-len", func(c *Config) string { return strconv.FormatInt(c.ProtoMaxBulkLen, 10) }, func(c *Config, v string) string {
		n, ok := memToInt(v)
		if !ok {
			return "argument must be a memory value"
		}
		if n < 1<<20 {
			return "argument must be between 1048576 and 9223372036854775807 inclusive"
		}
		c.ProtoMaxBulkLen = n
		return ""
	}},
	{"port", func(c *Config) string { return strconv.Itoa(c.Port) }, nil},
	{"bind", func(c *Config) string { return c.Bind }, nil},
	{"maxclients", func(c *Config) string { return strconv.Itoa(c.MaxClients) }, nil},
	{"client-query-buffer-limit", func(c *Config) string { return strconv.FormatInt(c.ClientQueryBufferLimit, 10) }, nil},
	{"maxmemory", func(c *Config) string { return strconv.FormatInt(c.MaxMemory, 10) }, nil},
	{"appendonly", func(c *Config) string { return yesNo(c.Durable) }, nil},
	{"appendfsync", func(*Config) string { return "always" }, nil},
	fixed("save", ""),
	fixed("databases", "1"),
	fixed("cluster-enabled", "no"),
	fixed("daemonize", "no"),
	fixed("io-threads", "1"),
	fixed("hz", "10"),
}

// memToInt parses a memory value like Redis's memtoull: digits with an
// optional case-insensitive unit (b, k, kb, m, mb, g, gb).
func memToInt(s string) (int64, bool) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	mul := int64(1)
	switch strings.ToLower(s[i:]) {
	case "", "b":
	case "k":
		mul = 1000
	case "kb":
		mul = 1024
	case "m":
		mul = 1000 * 1000
	case "mb":
		mul = 1024 * 1024
	case "g":
		mul = 1000 * 1000 * 1000
	case "gb":
		mul = 1024 * 1024 * 1024
	default:
		return 0, false
	}
	if i == 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil || n > (1<<63-1)/mul {
		return 0, false
	}
	return n * mul, true
}

func configGetCmd(c *call) {
	cfg := c.s.Node.Config()
	// Like Redis, a name without glob characters is echoed as given (its
	// case preserved); the order of several matches is unspecified.
	var out []string
	seen := map[string]bool{}
	for _, pat := range c.args[2:] {
		glob := strings.ContainsAny(string(pat), "[*?")
		for _, p := range configParams {
			if seen[p.name] {
				continue
			}
			if glob && Match(pat, []byte(p.name), true) || !glob && strings.EqualFold(string(pat), p.name) {
				seen[p.name] = true
				name := p.name
				if !glob {
					name = string(pat)
				}
				out = append(out, name, p.get(cfg))
			}
		}
	}
	c.mapLen(len(out) / 2)
	for _, s := range out {
		c.bulkStr(s)
	}
}

// configSetCmd is Redis 7.0's configSetCommand: every name is looked up
// first, and the first unknown, immutable or repeated one fails the
// command, named as given; then the values are applied in order, all or
// none.
func configSetCmd(c *call) {
	if len(c.args)%2 != 0 {
		c.err(errSyntax)
		return
	}
	params := make([]*configParam, 0, (len(c.args)-2)/2)
	invalid := ""
	for i := 2; i < len(c.args); i += 2 {
		p := lookupParam(string(c.args[i]))
		switch {
		case invalid != "":
		case p == nil:
			invalid = "ERR Unknown option or number of arguments for CONFIG SET - '" + string(cstr(c.args[i])) + "'"
		case p.set == nil:
			invalid = "ERR CONFIG SET failed (possibly related to argument '" + string(cstr(c.args[i])) + "') - can't set immutable config"
		case slicesContains(params, p):
			invalid = "ERR CONFIG SET failed (possibly related to argument '" + string(cstr(c.args[i])) + "') - duplicate parameter"
		}
		params = append(params, p)
	}
	if invalid != "" {
		c.err(invalid)
		return
	}
	n := c.s.Node
	var seen map[string]bool
	for {
		old := n.config.Load()
		cfg := *old
		seen = map[string]bool{}
		for i, p := range params {
			seen[p.name] = true
			if msg := p.set(&cfg, string(c.args[3+2*i])); msg != "" {
				c.err("ERR CONFIG SET failed (possibly related to argument '" + p.name + "') - " + msg)
				return
			}
		}
		if n.config.CompareAndSwap(old, &cfg) {
			break
		}
	}
	if seen["requirepass"] {
		c.mut(usersMutation(n.SetRequirepass(n.Config().Requirepass)))
	}
	c.ok()
}

func lookupParam(name string) *configParam {
	for j := range configParams {
		if strings.EqualFold(configParams[j].name, name) {
			return &configParams[j]
		}
	}
	return nil
}

func slicesContains(ps []*configParam, p *configParam) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

// configResetstatCmd is CONFIG RESETSTAT: INFO's command and error
// counters and expired_keys start again from zero.
func configResetstatCmd(c *call) {
	c.s.Node.resetStats(c.s.Node.keyspaceTotals(c.ks).Expired)
	c.ok()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
