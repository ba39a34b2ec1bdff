package command

import (
	"hash/maphash"
	"strings"
	"sync/atomic"

	"github.com/dorivo/dorivo/shardstore/keyspace"
)

// Node is the state every loop of one agent shares: users, configuration
// and client ids. Loops read it without locks: each part is an immutable
// snapshot behind an atomic pointer, replaced whole (copy on write) by the
// rare commands that change it (ACL SETUSER, CONFIG SET).
type Node struct {
	users   atomic.Pointer[userTable]
	config  atomic.Pointer[Config]
	nextID  atomic.Int64
	clients atomic.Int64
	// infoSections are the host's extra INFO sections (infohook.go).
	infoSections atomic.Pointer[[]InfoSection]
	// totals sums the key counts of all loops (SetKeyspaceTotals).
	totals atomic.Pointer[func() KeyspaceTotals]
	// clientsInfo adds lines to INFO's Clients section (SetClientsInfo).
	clientsInfo atomic.Pointer[func() []string]
	// pause is CLIENT PAUSE's (conn_client.go).
	pause pause
	// aclLog is ACL LOG, auth the failed authentications (acllog.go).
	aclLog atomic.Pointer[aclLog]
	auth   authGuard
	// aclFile is the aclfile of ACL LOAD and ACL SAVE (aclfile.go).
	aclFile atomic.Pointer[string]
	// StartMs is the node's start time, for INFO.
	StartMs int64

	// statSets are the loops' command counters (stats.go); defaultStats
	// serves sessions no loop gave a set of their own.
	statSets     atomic.Pointer[[]*CmdStats]
	defaultStats *CmdStats
	errStats     atomic.Pointer[map[string]*atomic.Uint64]
	errOverflow  atomic.Uint64
	// expiredBase is expired_keys at the last CONFIG RESETSTAT.
	expiredBase atomic.Uint64
	// connections counts sessions ever opened (total_connections_received).
	connections atomic.Uint64
	// peer is the secret of PeerUser (peer.go).
	peer peerSecret
}

// NewNode returns a node with Redis's default user (on, nopass, all keys,
// all commands) and the default configuration.
func NewNode() *Node {
	n := &Node{}
	n.auth.seed = maphash.MakeSeed()
	n.users.Store(defaultUsers())
	cfg := DefaultConfig
	n.config.Store(&cfg)
	empty := map[string]*atomic.Uint64{}
	n.errStats.Store(&empty)
	n.defaultStats = n.NewCmdStats()
	return n
}

// SetConfig publishes c as the configuration, e.g. the agent's start-up
// flags; CONFIG SET changes it later.
func (n *Node) SetConfig(c Config) { n.config.Store(&c) }

// Config returns the current configuration. It must not be modified.
func (n *Node) Config() *Config { return n.config.Load() }

// DatagramUser is the user a datagram of tenant tag runs as: the ACL user
// named like the tenant when there is one, else the default user.
func (n *Node) DatagramUser(tag []byte) string {
	if u := n.users.Load().users[string(tag)]; u != nil {
		return u.Name
	}
	return "default"
}

// UserTag returns the one hash tag all of user's keys must have, when its
// key patterns confine it to a single tag (each starts with the same
// literal "{tag}"): a server can then serve the user's connections on the
// loop owning that tag's slot. ok is false for any other user.
func (n *Node) UserTag(user string) (tag string, ok bool) {
	u := n.users.Load().users[user]
	if u == nil || u.AllKeys || len(u.KeyPatterns) == 0 {
		return "", false
	}
	for _, p := range u.KeyPatterns {
		end := strings.IndexByte(p, '}')
		if len(p) < 3 || p[0] != '{' || end < 2 || strings.ContainsAny(p[1:end], "*?[\\") {
			return "", false
		}
		if t := p[1:end]; tag == "" {
			tag = t
		} else if t != tag {
			return "", false
		}
	}
	return tag, true
}

// Clients returns the number of open sessions.
func (n *Node) Clients() int64 { return n.clients.Load() }

// Session is one client connection's state: its id and name, its user,
// its transaction (MULTI queue, WATCHed keys). A session is used by one
// goroutine at a time.
type Session struct {
	Node *Node
	// ID is the client id (CLIENT ID), unique on the node.
	ID int64
	// Name is the client name (CLIENT SETNAME).
	Name []byte
	// Addr is the peer address, for CLIENT INFO.
	Addr string
	// Closing is set by QUIT: the server closes the connection after
	// writing the reply.
	Closing bool
	closed  bool

	user          string
	authenticated bool
	usersSeen     *userTable // the table userSeen was looked up in
	userSeen      *User

	internal bool // NewInternalSession: not counted as a client

	// resp3 is set by HELLO 3: replies use RESP3's types (resp.AppendMap,
	// AppendSet, AppendDouble, AppendNil, ...).
	resp3 bool

	// stats counts the session's commands (stats.go); ticks numbers them,
	// to time one in timeSample.
	stats *CmdStats
	ticks uint64

	multi    bool
	multiErr bool // a command was rejected while queueing: EXEC aborts
	queue    []Req
	watcher  keyspace.Watcher
	watched  []watchedKey

	// block is set by a blocking command that found nothing to pop
	// (blocking.go); the server takes it with TakeBlock.
	block *Block

	c call
	// job is the off-loop work the last command left (aclfile.go).
	job Job
	// authFails counts this connection's failed authentications in a row;
	// replyDelayMs is the hold of the last reply (acllog.go).
	authFails    uint64
	replyDelayMs int64
	// inExec is set while EXEC runs the queued commands.
	inExec bool
	// replicaReads is set by READONLY (cluster.go); peerAuth once the
	// connection authenticated as PeerUser (peer.go).
	replicaReads, peerAuth bool
}

type watchedKey struct {
	ks  *keyspace.Keyspace
	key []byte
}

// NewSession opens a session on node. It starts authenticated as the
// default user when that user needs no password, as in Redis.
func NewSession(n *Node) *Session {
	s := newSession(n)
	s.ID = n.nextID.Add(1)
	n.clients.Add(1)
	n.connections.Add(1)
	return s
}

// NewInternalSession opens a session a server runs other connections'
// requests with (e.g. requests forwarded between event loops). It is not a
// client: it takes no client id and INFO's connected_clients leaves it out.
func NewInternalSession(n *Node) *Session {
	s := newSession(n)
	s.internal = true
	return s
}

// ActAs makes an internal session run the next requests as user, already
// authenticated: the connection that sent them authenticated as that user on
// its own loop. Its permissions and key patterns apply as on that loop.
func (s *Session) ActAs(user string) {
	if !s.internal {
		panic("command: ActAs on a client session")
	}
	if s.user != user || s.peerAuth {
		s.user, s.usersSeen, s.userSeen, s.peerAuth = user, nil, nil, false
	}
	s.authenticated = true
}

func newSession(n *Node) *Session {
	s := &Session{Node: n, user: "default", stats: n.defaultStats}
	if u := n.users.Load().get("default"); u != nil && u.On && u.NoPass {
		s.authenticated = true
	}
	return s
}

// Close releases the session's watches. The server calls it once, when the
// connection closes, on the loop that owns the watched keys.
func (s *Session) Close() {
	if s.closed {
		return
	}
	s.closed = true
	s.unwatchAll()
	s.queue = nil
	s.multi = false
	if !s.internal {
		s.Node.clients.Add(-1)
	}
}

// User returns the name of the session's user.
func (s *Session) User() string { return s.user }

// Authenticated reports whether the session may run commands.
func (s *Session) Authenticated() bool { return s.authenticated }

// InMulti reports whether the session is queueing a transaction.
func (s *Session) InMulti() bool { return s.multi }

func (s *Session) unwatchAll() {
	for _, w := range s.watched {
		w.ks.Unwatch(w.key, &s.watcher)
	}
	s.watched = s.watched[:0]
}

func (s *Session) discard() {
	s.multi, s.multiErr = false, false
	clear(s.queue)
	s.queue = s.queue[:0]
	s.unwatchAll()
	s.watcher.Dirty = false
}

// RESP3 reports whether the connection chose RESP3 with HELLO 3.
func (s *Session) RESP3() bool { return s.resp3 }

// SpeakRESP3 makes an internal session reply in RESP3 (v) or RESP2: a
// loop running another connection's request replies in that connection's
// protocol.
func (s *Session) SpeakRESP3(v bool) {
	if !s.internal {
		panic("command: SpeakRESP3 on a client session")
	}
	s.resp3 = v
}
