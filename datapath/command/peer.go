package command

import (
	"crypto/subtle"
	"sync"
	"sync/atomic"
)

// Peer authentication. In a cluster a node forwards requests to the
// shard's leader over a RESP connection of its own, and the leader runs
// them with full rights (the forwarding node checked the client's). When
// the default user has a password, that connection authenticates as
// PeerUser with the cluster's shared secret (Node.SetPeerSecret, the
// agent's --peer-secret-file): AUTH dorivo-peer SECRET. PeerUser is not in
// the user table; without a secret it does not exist.

// PeerUser is the user a peer node's forwarding connection authenticates as.
const PeerUser = "dorivo-peer"

// peerUser has every right: what a forwarded request may do was checked on
// the node that forwarded it. Built on first use, once every init has
// filled the command table that +@all covers.
var peerUser = sync.OnceValue(func() *User {
	u := &User{Name: PeerUser, On: true, AllKeys: true, AllChannels: true}
	u.apply("+@all")
	return u
})

// peerSecret is the cluster's shared secret (nil: no peer user).
type peerSecret struct{ p atomic.Pointer[[]byte] }

// SetPeerSecret sets the secret peers authenticate with as PeerUser; an
// empty one removes the peer user.
func (n *Node) SetPeerSecret(secret []byte) {
	s := append([]byte(nil), secret...)
	n.peer.p.Store(&s)
}

func (n *Node) peerSecret() []byte {
	if p := n.peer.p.Load(); p != nil {
		return *p
	}
	return nil
}

// authenticatePeer makes the session PeerUser when pass is the peer secret.
func (s *Session) authenticatePeer(pass []byte) bool {
	sec := s.Node.peerSecret()
	if len(sec) == 0 || subtle.ConstantTimeCompare(pass, sec) != 1 {
		return false
	}
	s.user, s.usersSeen, s.peerAuth, s.authenticated = PeerUser, nil, true, true
	return true
}
