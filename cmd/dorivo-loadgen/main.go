package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/dorivo/dorivo/userspace/agentconfig"
	"io"
	"net"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dorivo/dorivo/cmd/dorivo-loadgen/internal/driver"
	"github.com/dorivo/dorivo/cmd/dorivo-loadgen/internal/journal"
	"github.com/dorivo/dorivo/cmd/dorivo-loadgen/internal/workload"
	"github.com/dorivo/dorivo/datapath/wire"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// Exit codes.
const (
	exitOK       = 0
	exitFailure  = 1
	exitUsage    = 2
	exitMismatch = 3
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, isTerminal(os.Stderr))
	stop()
	os.Exit(code)
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// options are the parsed flags.
type options struct {
	cfg       driver.Config
	dist      string
	json      bool
	record    string
	verify    string
	quiet     bool
	setByUser map[string]bool
}

var flagName = regexp.MustCompile(`(flag|defined:) -(\w[\w-]*)`)

func parseFlags(args []string, stdout io.Writer) (*options, error) {
	o := &options{setByUser: map[string]bool{}}
	c := &o.cfg
	w := &c.Workload
	fs := flag.NewFlagSet("dorivo-loadgen", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.Target, "target", "127.0.0.1:6379", "server address host:port")
	fs.StringVar(&c.Proto, "proto", driver.ProtoRESP, "protocol: resp (RESP2 over TCP) or udp (Dorivo datagrams)")
	fs.IntVar(&c.Conns, "conns", 4, "connections (TCP) or sockets (UDP)")
	fs.IntVar(&c.Pipeline, "pipeline", 1, "requests in flight per connection, at most")
	fs.Float64Var(&c.Rate, "rate", 0, "open loop: requests per second over all connections (0: closed loop)")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "run time")
	fs.Int64Var(&c.Requests, "requests", 0, "stop after this many requests (without --duration: no time limit)")
	fs.BoolVar(&c.ShardAware, "shard-aware", false, "TCP: bind source ports so that (port>>1) % --loops is the owner loop of the connection's keys")
	fs.IntVar(&c.Loops, "loops", 0, "the server's event loop count, for --shard-aware")
	fs.StringVar(&c.User, "user", "", "ACL user for AUTH (with --password)")
	fs.BoolVar(&c.ReadOnly, "readonly", false, "send READONLY on every TCP connection: a Dorivo replica serves its reads from its own copy, possibly stale")
	fs.StringVar(&c.Password, "password", "", "send AUTH on every TCP connection (default: $DORIVO_PASSWORD)")
	fs.DurationVar(&c.Timeout, "timeout", 2*time.Second, "dial timeout, datagram reply timeout, and the wait for replies at the end")
	fs.Var(keysValue{&c.Keys}, "tenant-key", "sign the datagrams of a tenant with its key, TENANT=HEX (32 hex digits) or TENANT=@FILE, and check its replies' MACs (repeatable; tenants are tenantN)")
	fs.IntVar(&w.Tenants, "tenants", 10, "tenants (hash tags {tenantN})")
	fs.IntVar(&w.Keyspace, "keyspace", 10000, "keys in total, split evenly over the tenants")
	fs.IntVar(&w.ValueSize, "value-size", 100, "value size in bytes")
	fs.Float64Var(&w.ReadRatio, "read-ratio", 0.5, "share of GETs, 0..1")
	fs.Float64Var(&w.MSetRatio, "mset-ratio", 0, "share of MSETs, 0..1 (SETs get the rest)")
	fs.IntVar(&w.MSetKeys, "mset-keys", 10, "key/value pairs per MSET, all of one tenant")
	fs.StringVar(&o.dist, "dist", "uniform", "key popularity: uniform or zipf")
	fs.Float64Var(&w.ZipfS, "zipf-s", 1.1, "Zipf exponent s, > 1")
	fs.Uint64Var(&w.Seed, "seed", uint64(time.Now().UnixNano()), "random seed")
	fs.BoolVar(&o.json, "json", false, "print the report as JSON")
	fs.StringVar(&o.record, "record", "", "append every acknowledged write to this file")
	fs.StringVar(&o.verify, "verify", "", "read back every write recorded in this file and report missing or wrong keys; sends no load")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress line")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fmt.Fprintln(stdout, "usage: dorivo-loadgen [flags]")
			fs.PrintDefaults()
			return nil, err
		}
		return nil, errors.New(flagName.ReplaceAllString(err.Error(), "$1 --$2"))
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q: all settings are --flags", fs.Arg(0))
	}
	fs.Visit(func(f *flag.Flag) { o.setByUser[f.Name] = true })
	return o, o.validate()
}

func (o *options) validate() error {
	c := &o.cfg
	w := &c.Workload
	if c.Proto != driver.ProtoRESP && c.Proto != driver.ProtoUDP {
		return fmt.Errorf("--proto %q: want resp or udp", c.Proto)
	}
	if _, port, err := net.SplitHostPort(c.Target); err != nil || port == "" {
		return fmt.Errorf("--target %q: want host:port", c.Target)
	}
	switch o.dist {
	case "uniform":
		w.Dist = workload.Uniform
	case "zipf":
		w.Dist = workload.Zipf
	default:
		return fmt.Errorf("--dist %q: want uniform or zipf", o.dist)
	}
	if c.Password == "" {
		c.Password = os.Getenv("DORIVO_PASSWORD")
	}
	if c.User != "" && c.Password == "" {
		return errors.New("--user needs --password (or $DORIVO_PASSWORD)")
	}
	if c.Password != "" && c.Proto == driver.ProtoUDP {
		return errors.New("--password: the datagram protocol has no AUTH; the kernel's source ACL guards it")
	}
	if o.record != "" && o.verify != "" {
		return errors.New("--record and --verify: a run either records or verifies")
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("--timeout %v: want > 0", c.Timeout)
	}
	if o.verify != "" {
		return nil // the load flags do not apply
	}
	if o.setByUser["requests"] && !o.setByUser["duration"] {
		c.Duration = 0
	}
	switch {
	case c.Conns < 1 || c.Conns > 10000:
		return fmt.Errorf("--conns %d: want 1..10000", c.Conns)
	case c.Pipeline < 1 || c.Pipeline > 100000:
		return fmt.Errorf("--pipeline %d: want 1..100000", c.Pipeline)
	case c.Rate < 0:
		return fmt.Errorf("--rate %v: want >= 0 (0: closed loop)", c.Rate)
	case c.Duration < 0:
		return fmt.Errorf("--duration %v: want >= 0", c.Duration)
	case c.Requests < 0:
		return fmt.Errorf("--requests %d: want >= 0", c.Requests)
	case c.Duration == 0 && c.Requests == 0:
		return errors.New("--duration and --requests are both 0: the run would never end")
	case w.Tenants < 1:
		return fmt.Errorf("--tenants %d: want at least 1", w.Tenants)
	case w.Keyspace < w.Tenants:
		return fmt.Errorf("--keyspace %d: want at least one key per tenant (--tenants %d)", w.Keyspace, w.Tenants)
	case w.ValueSize < 0 || w.ValueSize > 512<<20:
		return fmt.Errorf("--value-size %d: want 0..%d", w.ValueSize, 512<<20)
	case w.ReadRatio < 0 || w.ReadRatio > 1:
		return fmt.Errorf("--read-ratio %v: want 0..1", w.ReadRatio)
	case w.MSetRatio < 0 || w.MSetRatio > 1:
		return fmt.Errorf("--mset-ratio %v: want 0..1", w.MSetRatio)
	case w.ReadRatio+w.MSetRatio > 1+1e-9:
		return fmt.Errorf("--read-ratio %v plus --mset-ratio %v exceed 1", w.ReadRatio, w.MSetRatio)
	case w.MSetKeys < 1:
		return fmt.Errorf("--mset-keys %d: want at least 1", w.MSetKeys)
	case w.Dist == workload.Zipf && !(w.ZipfS > 1):
		return fmt.Errorf("--zipf-s %v: want > 1", w.ZipfS)
	}
	if c.Proto == driver.ProtoUDP {
		switch {
		case w.MSetRatio > 0:
			return fmt.Errorf("--mset-ratio %v: the datagram protocol has no MSET, use --proto resp", w.MSetRatio)
		case w.ValueSize > wire.MaxValueLen:
			return fmt.Errorf("--value-size %d: datagrams carry at most %d-byte values, use --proto resp", w.ValueSize, wire.MaxValueLen)
		case c.ShardAware:
			return errors.New("--shard-aware: applies to --proto resp only; the kernel steers every datagram by its tag")
		}
	}
	if c.ShardAware {
		if c.Loops < 1 || c.Loops > slot.MaxLoops {
			return fmt.Errorf("--loops %d: --shard-aware needs the server's loop count, 1..%d", c.Loops, slot.MaxLoops)
		}
	}
	if err := w.Validate(); err != nil {
		return fmt.Errorf("workload: %w", err)
	}
	c.DisjointWrites = o.record != ""
	plans, err := driver.Plan(c)
	if err != nil {
		return fmt.Errorf("--conns %d: %w", c.Conns, err)
	}
	for i, p := range plans {
		if _, err := workload.NewPicker(w, p.Scope, uint64(i)); err != nil {
			return fmt.Errorf("--keyspace %d with --conns %d: %w", w.Keyspace, c.Conns, err)
		}
	}
	return nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, tty bool) int {
	o, err := parseFlags(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "dorivo-loadgen: %v\n", err)
		return exitUsage
	}
	if o.verify != "" {
		return runVerify(ctx, o, stdout, stderr)
	}
	if o.record != "" {
		j, err := journal.Create(o.record)
		if err != nil {
			fmt.Fprintf(stderr, "dorivo-loadgen: --record: %v\n", err)
			return exitUsage
		}
		o.cfg.Journal = j
	}
	if !o.quiet {
		o.cfg.Progress, o.cfg.ProgressTTY = stderr, tty
	}
	rep, err := driver.Run(ctx, &o.cfg)
	if o.cfg.Journal != nil {
		if cerr := o.cfg.Journal.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "dorivo-loadgen: %v\n", err)
		return exitFailure
	}
	if o.json {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteTable(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "dorivo-loadgen: %v\n", err)
		return exitFailure
	}
	// A lost connection makes the figures a partial run's: never exit 0.
	if n := rep.ConnFailures(); n > 0 {
		fmt.Fprintf(stderr, "dorivo-loadgen: %d %s failed during the run (%s); the report counts the requests they lost\n",
			n, plural(n, "connection", "connections"), rep.ConnSummary())
		return exitFailure
	}
	return exitOK
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// maxListed bounds the keys the text report lists per problem kind; JSON
// lists all.
const maxListed = 100

func runVerify(ctx context.Context, o *options, stdout, stderr io.Writer) int {
	exp, err := journal.Load(o.verify)
	if err != nil {
		fmt.Fprintf(stderr, "dorivo-loadgen: --verify: %v\n", err)
		return exitUsage
	}
	res, err := driver.Verify(ctx, &o.cfg, exp)
	if err != nil {
		fmt.Fprintf(stderr, "dorivo-loadgen: %v\n", err)
		return exitFailure
	}
	if o.json {
		if err := writeJSON(stdout, res); err != nil {
			fmt.Fprintf(stderr, "dorivo-loadgen: %v\n", err)
			return exitFailure
		}
	} else {
		fmt.Fprintf(stdout, "verify %s: %d acknowledged writes, %d keys: %d missing, %d wrong\n",
			o.verify, res.Writes, res.Keys, len(res.Missing), len(res.Wrong))
		for i, k := range res.Missing {
			if i == maxListed {
				fmt.Fprintf(stdout, "... and %d more missing\n", len(res.Missing)-maxListed)
				break
			}
			fmt.Fprintf(stdout, "missing %s\n", k)
		}
		for i, m := range res.Wrong {
			if i == maxListed {
				fmt.Fprintf(stdout, "... and %d more wrong\n", len(res.Wrong)-maxListed)
				break
			}
			fmt.Fprintf(stdout, "wrong %s: want %q, got %q\n", m.Key, m.Want, m.Got)
		}
	}
	if !res.OK() {
		return exitMismatch
	}
	return exitOK
}

// keysValue is the repeatable --tenant-key flag.
type keysValue struct{ m *map[string]wire.Key }

func (v keysValue) String() string {
	if v.m == nil {
		return ""
	}
	var names []string
	for t := range *v.m {
		names = append(names, t+"=[redacted]")
	}
	return strings.Join(names, ",")
}

func (v keysValue) Set(s string) error {
	k, err := agentconfig.ParseTenantKey(s)
	if err != nil {
		return err
	}
	if *v.m == nil {
		*v.m = map[string]wire.Key{}
	}
	(*v.m)[k.Tenant] = k.Key
	return nil
}
