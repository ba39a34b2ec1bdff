package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dorivo/dorivo/bpf"
	"github.com/dorivo/dorivo/datapath/command"
	"github.com/dorivo/dorivo/datapath/core"
	"github.com/dorivo/dorivo/datapath/server"
	"github.com/dorivo/dorivo/datapath/wire/auth"
	"github.com/dorivo/dorivo/shardstore/durable"
	"github.com/dorivo/dorivo/userspace/agentconfig"
	"github.com/dorivo/dorivo/userspace/loader"
	"github.com/dorivo/dorivo/userspace/metrics"
	"github.com/dorivo/dorivo/userspace/stats"
	"github.com/panjf2000/gnet/v2"
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
	// The loops check datagrams against the same keys XDP has (datagrams
	// may arrive on interfaces without XDP); SIGHUP swaps the table.
	var authTable atomic.Pointer[auth.Table]
	if err := loadAuth(&authTable, &l.Objects.DorivoMaps); err != nil {
		return err
	}
	var quotas atomic.Pointer[core.Quotas] // RESP quotas, the datagram quotas' numbers
	storeQuotas(&quotas, cfg)
	var staleReads atomic.Pointer[core.TenantSet]
	storeStaleReads(&staleReads, cfg)
	var names atomic.Pointer[map[uint16]string]
	setNames := func(c *agentconfig.Config) { n := c.SlotNames(); names.Store(&n) }
	setNames(cfg)
	logConfig(log, "configuration synced", cfg)

	// The datapath: one gnet engine per loop on the service ports. Its
	// slot table is the one Sync just mirrored into slot_loop, so the loop
	// the kernel steers a request to is the loop that owns its slot.
	table, err := cfg.Table()
	if err != nil {
		return err
	}
	node := command.NewNode()
	node.StartMs = time.Now().UnixMilli()
	node.SetLogger(log)
	nc := *node.Config()
	nc.ProtectedMode = o.protectedMode
	o.clients.apply(&nc)
	node.SetConfig(nc)
	if o.protectedMode && o.listen != "127.0.0.1" && o.listen != "::1" {
		log.Info("protected mode: RESP clients beyond loopback are refused until the default user has a password (or --protected-mode no)", "listen", o.listen)
	}
	scfg := server.Config{
		TCPAddr:        net.JoinHostPort(o.listen, strconv.Itoa(int(cfg.TCPPort))),
		UDPAddr:        net.JoinHostPort(o.listen, strconv.Itoa(int(cfg.UDPPort))),
		Loops:          cfg.Loops,
		Table:          table,
		Node:           node,
		MaxClients:     int(o.limits.maxClients),
		MaxQueryBuffer: int(o.limits.queryBuffer),
		MaxBulkLen:     o.limits.maxBulkLen,
		MaxMultibulk:   o.limits.maxMultibulk,
		Auth:           &authTable,
		Quotas:         &quotas,
		StaleReads:     &staleReads,
		Logger:         log,
		TimeRequests:   !o.noObserve,
	}
	steering := "kernel"
	if o.noSteer {
		// XDP and TCX stay attached; only the sk_reuseport choice is left
		// to the kernel's hash (the bench compares the two modes).
		steering = "off"
	} else {
		scfg.TCPSockets, scfg.UDPSockets = l.Objects.TcpSockets, l.Objects.UdpSockets
		scfg.Reuseport = l.Objects.ReuseportSelect
	}
	// Breakers and load shedding (shed.go): the loops take the shed set
	// from sh's board, the disk breaker watches the store's fsyncs.
	sh, err := newShedding(&l.Objects.DorivoMaps, table, o.dataDir != "", o.cluster.enabled(), log)
	if err != nil {
		return err
	}
	scfg.Shed = &sh.board
	// The store outlives the datapath: deferred first, closed last.
	var closeStore func() error
	if scfg.Store, closeStore, err = openStore(o.dataDir, cfg.Loops, o.cacheMemory, o.truncateCorrupt, sh.storeFS(testSlowFS(log)), &o.cluster, log); err != nil {
		return err
	}
	scfg.HotValueBytes = hotValueBytes(o.cacheMemory)
	if scfg.Store != nil {
		defer func() {
			if err := closeStore(); err != nil {
				log.Error("close durable store", "err", err)
			}
		}()
	}
	if o.cluster.enabled() {
		scfg.Cluster = o.cluster.respPeers(cfg.TCPPort)
		node.SetPeerSecret(o.cluster.secret)
		if len(o.cluster.secret) == 0 && (o.users.requirepass != "" || o.users.aclfile != "") {
			log.Warn("without --peer-secret-file, forwarding to other nodes fails once the default user has a password (they answer NOAUTH)")
		}
		if scfg.Cluster.PeerBreakers, err = o.cluster.peerBreakers(); err != nil {
			return err
		}
		sh.watchPeers(scfg.Cluster.PeerBreakers)
		if scfg.Cluster.ShardBreakers, err = o.cluster.shardBreakers(scfg.Store); err != nil {
			return err
		}
		sh.watchShards(scfg.Cluster.ShardBreakers, scfg.Store)
		sh.drainOn(scfg.Store)
	}
	if err := setupUsers(node, scfg.Store, o.users, o.cluster.enabled(), log); err != nil { // users.go
		return err
	}
	// Now that the BPF objects and the store hold their descriptors: room
	// for maxclients more, or a lower maxclients (rlimit.go).
	maxClients, err := adjustOpenFiles(o.limits.maxClients, cfg.Loops, log)
	if err != nil {
		return err
	}
	scfg.MaxClients = int(maxClients)
	dp, err := server.New(scfg) // loads the store into the keyspaces
	if err != nil {
		return fmt.Errorf("datapath: %w", err)
	}
	node.AddInfoSection(command.InfoSection{Name: "Limits", Lines: func() []string {
		return []string{"maxclients:" + strconv.FormatInt(maxClients, 10)}
	}})
	if o.cluster.enabled() {
		node.AddInfoSection(clusterInfo(scfg.Store))
	}
	node.AddInfoSection(command.InfoSection{Name: "Datapath", Lines: func() []string {
		return stats.LoopInfo(steering, dp.Stats())
	}})
	if err := dp.Start(); err != nil {
		return fmt.Errorf("datapath: %w", err)
	}
	// Stop the loops before the deferred detach: their sockets leave the
	// sockarrays while the programs are still there.
	stopDatapath := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := dp.Stop(ctx); err != nil {
			log.Error("stop datapath", "err", err)
		}
	}
	defer stopDatapath()
	if err := sh.start(dp); err != nil {
		return err
	}
	defer sh.stop() // before the datapath stops: it probes the loops
	log.Info("serving", "resp", "tcp://"+scfg.TCPAddr, "datagrams", "udp://"+scfg.UDPAddr, "loops", dp.Loops(), "steering", steering)

	var srv *http.Server
	if o.admin.addr != "" {
		c := metrics.NewCollector(stats.FromObjects(&l.Objects.DorivoMaps), func() map[uint16]string { return *names.Load() })
		reg := metrics.NewRegistry(c)
		reg.MustRegister(metrics.NewLoopCollector(dp.Stats))
		reg.MustRegister(metrics.NewAuthFailures(node.AuthFailures))
		reg.MustRegister(metrics.NewAcceptShed(gnet.AcceptShed)) // third_party/gnet/DORIVO.md
		if st := scfg.Store; st != nil {
			reg.MustRegister(metrics.NewStoreCollector(storeStats(st, dp), st.DiskError))
			reg.MustRegister(metrics.NewStoreObsCollector(st.SyncStats, st.RaftStatus))
			reg.MustRegister(metrics.NewRaftCollector(metrics.StoreShardStatus(st), st.Stats, o.cluster.peerStats()))
			reg.MustRegister(metrics.NewLayoutCollector(st))
		}
		var alerts http.Handler
		if !o.noObserve {
			reg.MustRegister(metrics.NewServiceCollector(dp.ServiceTimes, dp.RingDepths))
			det, stopObserve, err := observe(reg, o.dataDir, o.alertmanager, o.anomalyInterval, log)
			if err != nil {
				return err
			}
			defer stopObserve()
			alerts = det.Handler()
		}
		reg.MustRegister(metrics.NewBreakerCollector(sh.Breakers))
		mux := adminMux(metrics.Handler(reg), alerts, o.admin.pprof)
		mux.Handle("/breakers", sh.handler()) // `dorivo status` reads it (shed.go)
		if st := scfg.Store; st != nil {
			mux.Handle("/raft", raftHandler(st, o.cluster.peerStats())) // and this (raftstatus.go)
		}
		if srv, err = startAdmin(&o.admin, mux, log); err != nil {
			return err
		}
	}
	log.Info(readyMsg)

	var dead error
wait:
	for {
		var sig os.Signal
		select {
		case sig = <-sigs:
		case <-dp.Died():
			// A dead loop leaves its slots unserved: better to exit and be
			// restarted than to answer some keys and time out on others.
			dead = fmt.Errorf("datapath died: %w", dp.Err())
			log.Error("datapath died, stopping", "err", dp.Err())
			break wait
		}
		if sig == syscall.SIGHUP {
			// A bad file keeps the running configuration: the agent
			// must not drop quotas because of a typo, nor open every
			// door by emptying the allow list (CheckReload).
			next, err := o.config()
			if err == nil {
				err = agentconfig.CheckReload(cfg, next)
			}
			if err == nil {
				err = agentconfig.Sync(&l.Objects.DorivoMaps, next)
			}
			if err == nil {
				err = loadAuth(&authTable, &l.Objects.DorivoMaps)
			}
			if err != nil {
				log.Error("reload refused, keeping the running configuration", "err", err)
				continue
			}
			log.Info("configuration reloaded", "config", *next, "changes", agentconfig.Changes(cfg, next))
			cfg = next
			setNames(next)
			storeQuotas(&quotas, next)
			storeStaleReads(&staleReads, next)
			continue
		}
		log.Info("stopping", "signal", sig.String())
		break
	}
	sh.stop()
	stopDatapath()
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
	return dead
}

func logConfig(log *slog.Logger, msg string, c *agentconfig.Config) {
	log.Info(msg, "udp_port", c.UDPPort, "tcp_port", c.TCPPort, "loops", c.Loops,
		"quotas", len(c.Quotas), "allow", len(c.Allow), "tenants", len(c.SlotNames()))
}

// loadAuth publishes the datagram keys and policy Sync wrote into the maps
// as the table the loops check datagrams with.
func loadAuth(p *atomic.Pointer[auth.Table], m *bpf.DorivoMaps) error {
	t, err := agentconfig.LoadAuthTable(m)
	if err != nil {
		return fmt.Errorf("datagram auth table: %w", err)
	}
	p.Store(t)
	return nil
}

// storeStats are the store's counters with the loops' own refusals (a
// full disk refuses writes before they reach the store) in Rejected.
func storeStats(st *durable.Store, dp *server.Server) func() durable.Stats {
	return func() durable.Stats {
		s := st.Stats()
		for _, ls := range dp.Stats() {
			s.Rejected += ls.WritesRefused
		}
		return s
	}
}
