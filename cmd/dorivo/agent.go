package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dorivo/dorivo/userspace/agentconfig"
	"github.com/dorivo/dorivo/userspace/loader"
	"github.com/dorivo/dorivo/userspace/metrics"
	"github.com/dorivo/dorivo/userspace/stats"
)

// readyMsg is logged once the programs are attached, the maps synced and
// the admin server listening; scripts and tests wait for it.
const readyMsg = "dorivo agent ready"

func runAgent(args []string, stderr io.Writer) error {
	o, err := parseAgentFlags(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	// Fail before touching anything when we cannot work at all.
	if err := loader.CheckPrivileges(); err != nil {
		return err
	}
	cfg, err := o.config()
	if err != nil {
		return err
	}

	// Signals first: a SIGTERM during start-up must still clean up.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)

	l, err := loader.Load(loader.Options{PinDir: o.pinDir, Logf: func(f string, a ...any) { log.Info(fmt.Sprintf(f, a...)) }})
	if err != nil {
		return err
	}
	// Close on every path out: a normal stop detaches and unpins (see
	// userspace/loader's doc for why a crash does not).
	defer func() {
		if err := l.Close(); err != nil {
			log.Error("detach and unpin", "err", err)
			return
		}
		log.Info("detached and unpinned", "pin_dir", o.pinDir)
	}()

	a, err := l.Attach(o.iface)
	if err != nil {
		return err
	}
	log.Info("attached", "iface", a.Iface, "ifindex", a.Ifindex, "xdp_mode", loader.ModeName(a.XDPMode), "reused_links", a.Reused, "pin_dir", o.pinDir)

	if err := agentconfig.Sync(&l.Objects.DorivoMaps, cfg); err != nil {
		return fmt.Errorf("sync configuration into maps: %w", err)
	}
	var names atomic.Pointer[map[uint16]string]
	setNames := func(c *agentconfig.Config) { n := c.SlotNames(); names.Store(&n) }
	setNames(cfg)
	logConfig(log, "configuration synced", cfg)

	// The datapath (datapath/) will start here: its loops register their
	// listeners in l.Objects.UdpSockets/TcpSockets and attach
	// l.Objects.ReuseportSelect with SO_ATTACH_REUSEPORT_EBPF.

	var srv *http.Server
	if o.adminAddr != "" {
		ln, err := net.Listen("tcp", o.adminAddr)
		if err != nil {
			return fmt.Errorf("--admin-addr %s: %w", o.adminAddr, err)
		}
		c := metrics.NewCollector(stats.FromObjects(&l.Objects.DorivoMaps), func() map[uint16]string { return *names.Load() })
		mux := http.NewServeMux()
		mux.Handle("/metrics", metrics.Handler(metrics.NewRegistry(c)))
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
		srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("admin server", "err", err)
			}
		}()
		log.Info("serving metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	}
	log.Info(readyMsg)

	for sig := range sigs {
		if sig == syscall.SIGHUP {
			// A bad file keeps the running configuration: the agent
			// must not drop quotas because of a typo.
			next, err := o.config()
			if err == nil {
				err = agentconfig.Sync(&l.Objects.DorivoMaps, next)
			}
			if err != nil {
				log.Error("reload refused, keeping the running configuration", "err", err)
				continue
			}
			setNames(next)
			logConfig(log, "configuration reloaded", next)
			continue
		}
		log.Info("stopping", "signal", sig.String())
		break
	}
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
	return nil
}

func logConfig(log *slog.Logger, msg string, c *agentconfig.Config) {
	log.Info(msg, "udp_port", c.UDPPort, "tcp_port", c.TCPPort, "loops", c.Loops,
		"quotas", len(c.Quotas), "allow", len(c.Allow), "tenants", len(c.SlotNames()))
}
