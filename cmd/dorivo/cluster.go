package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/dorivo/dorivo/breaker"
	"github.com/dorivo/dorivo/datapath/command"
	"github.com/dorivo/dorivo/datapath/server"
	"github.com/dorivo/dorivo/shardstore/durable"
	"github.com/dorivo/dorivo/shardstore/replica"
	"github.com/dorivo/dorivo/shardstore/replica/transport"
)

// clusterOptions are the flags that make the agent one of three (or more)
// replicas; without --peers it is the embedded single-node agent.
type clusterOptions struct {
	nodeID                 uint64
	peerAddr               string
	peers                  map[uint64]string // raft transport addresses, by node ID
	tlsCert, tlsKey, tlsCA string
	tick                   time.Duration
	electionTicks          int
	// rejoin starts an empty --data-dir's groups rejoining (--rejoin).
	rejoin bool
	// breakerCooldown is the first open wait of the peer breakers.
	breakerCooldown time.Duration
	// breakerSlow is the peer and shard breakers' slow-call duration.
	breakerSlow time.Duration
	// secretFile holds the cluster's shared secret (--peer-secret-file),
	// secret its contents once check read them.
	secretFile string
	secret     []byte
	// transport is set by openReplica, for GET /raft and /metrics.
	transport *transport.Transport
}

func (c *clusterOptions) register(fs *flag.FlagSet) {
	fs.Uint64Var(&c.nodeID, "node-id", 0, "this node's ID in --peers (1, 2, 3, ...; unique for all time)")
	fs.StringVar(&c.peerAddr, "peer-addr", "", "HOST:PORT the peer transport listens on (default: this node's --peers address)")
	fs.Func("peers", "every node's peer transport address, ID=HOST:PORT,ID=HOST:PORT,... (the same list on every node); a node's RESP address is its HOST with --tcp-port", func(s string) error {
		p, err := parsePeers(s)
		c.peers = p
		return err
	})
	fs.StringVar(&c.tlsCert, "peer-tls-cert", "", "PEM certificate for mutual TLS between nodes (with --peer-tls-key and --peer-tls-ca)")
	fs.StringVar(&c.tlsKey, "peer-tls-key", "", "PEM private key of --peer-tls-cert")
	fs.StringVar(&c.tlsCA, "peer-tls-ca", "", "PEM CA bundle peers' certificates must be signed by")
	fs.DurationVar(&c.tick, "raft-tick", 5*time.Millisecond, "raft tick with --peers: heartbeats go every 2 ticks")
	fs.IntVar(&c.electionTicks, "election-ticks", 16, "ticks without a leader before a follower campaigns (randomized up to twice that)")
	fs.StringVar(&c.secretFile, "peer-secret-file", "", "file holding the cluster's shared secret (16+ bytes, the same on every node, not readable by others): forwarding connections authenticate with it, needed when the default user has a password")
	fs.BoolVar(&c.rejoin, "rejoin", false, "with an empty --data-dir: this node replaces one whose data was lost, so it takes no part in elections until its peers have made it a learner, caught it up and promoted it (a node that finds its store corrupt at start does this by itself)")
	fs.DurationVar(&c.breakerCooldown, "peer-breaker-cooldown", time.Second, "how long an open peer breaker refuses forwarded requests before it probes the node again (doubles while probes fail, up to 30s)")
	fs.DurationVar(&c.breakerSlow, "peer-breaker-slow", breaker.DefaultSlowCallDuration, "a forwarded request slower than this counts against its peer's and shard's breakers (half of the last 20 slow opens them; 1s or more, the forwarding timeout, leaves only failures to open them)")
}

// parsePeers parses ID=HOST:PORT,...
func parsePeers(s string) (map[uint64]string, error) {
	peers := map[uint64]string{}
	for _, item := range strings.Split(s, ",") {
		id, addr, ok := strings.Cut(strings.TrimSpace(item), "=")
		n, err := strconv.ParseUint(id, 10, 64)
		if !ok || err != nil || n == 0 {
			return nil, fmt.Errorf("%q: want ID=HOST:PORT with a positive ID", item)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("%q: %w", item, err)
		}
		if _, dup := peers[n]; dup {
			return nil, fmt.Errorf("node %d listed twice", n)
		}
		peers[n] = addr
	}
	return peers, nil
}

func (c *clusterOptions) enabled() bool { return len(c.peers) > 0 }

func (c *clusterOptions) check(dataDir string) error {
	if !c.enabled() {
		if c.nodeID != 0 || c.peerAddr != "" {
			return errors.New("--node-id and --peer-addr need --peers")
		}
		return nil
	}
	if _, ok := c.peers[c.nodeID]; !ok {
		return fmt.Errorf("--node-id %d is not in --peers", c.nodeID)
	}
	if len(c.peers) < 3 {
		return fmt.Errorf("--peers lists %d nodes: a cluster needs at least 3 (commit on a majority)", len(c.peers))
	}
	if dataDir == "" {
		return errors.New("--peers needs a --data-dir: replicas keep their log on disk")
	}
	if (c.tlsCert != "" || c.tlsKey != "" || c.tlsCA != "") && (c.tlsCert == "" || c.tlsKey == "" || c.tlsCA == "") {
		return errors.New("--peer-tls-cert, --peer-tls-key and --peer-tls-ca go together")
	}
	if c.tick <= 0 || c.electionTicks < 3 {
		return errors.New("--raft-tick must be positive and --election-ticks at least 3")
	}
	if c.breakerSlow <= 0 {
		return fmt.Errorf("--peer-breaker-slow %v: must be positive", c.breakerSlow)
	}
	return c.readSecret()
}

// readSecret reads --peer-secret-file: at least 16 bytes once trimmed, in
// a file others cannot read.
func (c *clusterOptions) readSecret() error {
	if c.secretFile == "" {
		return nil
	}
	st, err := os.Stat(c.secretFile)
	if err != nil {
		return fmt.Errorf("--peer-secret-file: %w", err)
	}
	if st.Mode().Perm()&0o004 != 0 {
		return fmt.Errorf("--peer-secret-file %s is readable by others (chmod o-r)", c.secretFile)
	}
	b, err := os.ReadFile(c.secretFile)
	if err != nil {
		return fmt.Errorf("--peer-secret-file: %w", err)
	}
	if c.secret = bytes.TrimSpace(b); len(c.secret) < 16 {
		return fmt.Errorf("--peer-secret-file %s holds %d bytes: at least 16 are needed", c.secretFile, len(c.secret))
	}
	return nil
}

// respPeers are the other nodes' RESP addresses: their peer host and this
// node's TCP port (every node serves RESP on the same port).
func (c *clusterOptions) respPeers(tcpPort uint16) *server.ClusterConfig {
	out := map[uint64]string{}
	for id, addr := range c.peers {
		host, _, _ := net.SplitHostPort(addr)
		out[id] = net.JoinHostPort(host, strconv.Itoa(int(tcpPort)))
	}
	return &server.ClusterConfig{Peers: out, PeerSecret: c.secret}
}

// peerBreakerConfig is every peer and shard breaker's: over the last 20
// forwarded requests, with at least 10, half of them failed or slower than
// --peer-breaker-slow (the brief's 50 ms) opens it; 5 probes decide whether
// it closes.
func (c *clusterOptions) peerBreakerConfig() breaker.Config {
	return breaker.Config{
		WindowType:            breaker.CountBased,
		WindowSize:            20,
		MinimumCalls:          10,
		FailureRateThreshold:  50,
		SlowCallRateThreshold: 50,
		SlowCallDuration:      c.breakerSlow,
		HalfOpenCalls:         5,
		OpenWait:              c.breakerCooldown,
		OpenWaitMultiplier:    2,
		MaxOpenWait:           30 * time.Second,
	}
}

// peerBreakers returns one breaker per other node, named peer-N.
func (c *clusterOptions) peerBreakers() (map[uint64]*breaker.Breaker, error) {
	out := map[uint64]*breaker.Breaker{}
	for id := range c.peers {
		if id == c.nodeID {
			continue
		}
		b, err := breaker.New("peer-"+strconv.FormatUint(id, 10), c.peerBreakerConfig())
		if err != nil {
			return nil, fmt.Errorf("--peer-breaker-cooldown: %w", err)
		}
		out[id] = b
	}
	return out, nil
}

// shardBreakers returns one breaker per shard of st, named shard-N, with
// the peer breakers' settings: each guards the requests forwarded to its
// shard's leader.
func (c *clusterOptions) shardBreakers(st *durable.Store) ([]*breaker.Breaker, error) {
	out := make([]*breaker.Breaker, st.Shards())
	for i := range out {
		b, err := breaker.New("shard-"+strconv.Itoa(i), c.peerBreakerConfig())
		if err != nil {
			return nil, fmt.Errorf("--peer-breaker-cooldown: %w", err)
		}
		out[i] = b
	}
	return out, nil
}

// openReplica opens the store as this node's replica of every shard:
// 3 shards per loop, so that each loop leads one shard per node when all
// are up (durable.Options.Peers spreads the preferred leaders).
func (c *clusterOptions) openReplica(dir string, opts durable.Options, log *slog.Logger) (*replica.Node, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("--data-dir: %w", err)
	}
	listen := c.peerAddr
	if listen == "" {
		listen = c.peers[c.nodeID]
	}
	var topts []transport.Option
	if c.tlsCert != "" {
		topts = append(topts, transport.WithTLSFiles(c.tlsCert, c.tlsKey, c.tlsCA))
	}
	opts.TickInterval, opts.ElectionTicks, opts.HeartbeatTicks = c.tick, c.electionTicks, 2
	opts.Rejoin = c.rejoin
	n, err := replica.Start(replica.Config{
		NodeID: c.nodeID, ListenAddr: listen, Peers: c.peers, Dir: dir, Store: opts, Transport: topts, Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	c.transport = n.Transport
	log.Info("replica open", "node", c.nodeID, "peer_addr", listen, "peers", len(c.peers), "shards", n.Store.Shards())
	return n, nil
}

// clusterInfo is INFO's Cluster section: this node and the cluster layout
// it applied, then one line per shard with its slots, preferred leader,
// leader, term, commit and applied indexes; on the
// leader each follower's lag in entries; on a follower its replica's lag,
// what a READONLY read may miss: replica_lag entries known committed and
// not applied here (the leader may have committed more since it last
// said), and leader_heard_ms since the leader's last message.
func clusterInfo(st *durable.Store) command.InfoSection {
	return command.InfoSection{Name: "Cluster", Lines: func() []string {
		lines := []string{"node_id:" + strconv.FormatUint(st.NodeID(), 10), "shards:" + strconv.Itoa(st.Shards())}
		l := st.Layout()
		lines = append(lines, "layout_version:"+strconv.FormatUint(l.GetVersion(), 10),
			"layout_leader:"+strconv.FormatUint(st.LayoutStatus().Leader, 10))
		if err := st.LayoutError(); err != nil {
			lines = append(lines, "layout_error:"+strings.ReplaceAll(err.Error(), "\n", " "))
		}
		for i := range st.Shards() {
			s := st.Status(uint32(i))
			first, last := st.Slots(uint32(i))
			pref := uint64(0)
			if l != nil && i < len(l.Shards) {
				pref = l.Shards[i].Preferred
			}
			line := fmt.Sprintf("shard%d:slots=%d-%d,preferred=%d,leader=%d,term=%d,state=%s,commit=%d,applied=%d",
				i, first, last, pref, s.Leader, s.Term, s.State, s.Commit, s.Applied)
			for _, f := range s.Followers {
				line += fmt.Sprintf(",lag%d=%d", f.ID, f.Lag)
			}
			if s.Leader != st.NodeID() {
				heard := int64(-1)
				if !s.LeaderHeard.IsZero() {
					heard = time.Since(s.LeaderHeard).Milliseconds()
				}
				line += fmt.Sprintf(",replica_lag=%d,leader_heard_ms=%d", s.Commit-min(s.Commit, s.Applied), heard)
			}
			lines = append(lines, line)
		}
		return lines
	}}
}
