package command

import "github.com/dorivo/dorivo/shardstore/keyspace"

// InfoSection is a section that the host of the datapath appends to INFO,
// after Redis's own sections. The command package knows the keyspace of one
// loop only; counters that belong to the server around it (per-loop
// requests, cross-loop traffic, drops) are the server's or the agent's, and
// reach INFO through this hook instead of making command depend on them.
type InfoSection struct {
	// Name is the section's title ("Datapath" prints "# Datapath"); INFO
	// NAME selects it case-insensitively, as for Redis's sections.
	Name string
	// Lines returns the section's "field:value" lines. It runs on an event
	// loop for every INFO that includes the section, so it must be cheap
	// and must not block (read atomics, never take a lock a loop holds).
	Lines func() []string
}

// AddInfoSection appends s to every INFO reply of sessions on this node.
// Call it before serving; sections are kept in the order added.
func (n *Node) AddInfoSection(s InfoSection) {
	for {
		old := n.infoSections.Load()
		var next []InfoSection
		if old != nil {
			next = append(next, *old...)
		}
		next = append(next, s)
		if n.infoSections.CompareAndSwap(old, &next) {
			return
		}
	}
}

// InfoSections returns the sections added with AddInfoSection.
func (n *Node) InfoSections() []InfoSection {
	if p := n.infoSections.Load(); p != nil {
		return *p
	}
	return nil
}

// SetClientsInfo adds f's "field:value" lines to INFO's Clients section,
// after connected_clients: a server's counts over all its loops (output
// buffers, paused clients). f runs on a loop and must not block.
func (n *Node) SetClientsInfo(f func() []string) { n.clientsInfo.Store(&f) }

func (n *Node) clientsLines() []string {
	if f := n.clientsInfo.Load(); f != nil {
		return (*f)()
	}
	return nil
}

// KeyspaceTotals are a node's key counts over all its loops.
type KeyspaceTotals struct {
	Keys, Volatile, Expired uint64
}

// SetKeyspaceTotals makes INFO's keyspace and expired_keys report f's
// counts, which a server sums over all its loops; without it INFO counts
// the keyspace of the loop that runs it.
func (n *Node) SetKeyspaceTotals(f func() KeyspaceTotals) { n.totals.Store(&f) }

// keyspaceTotals returns the node's totals, or ks's alone.
func (n *Node) keyspaceTotals(ks *keyspace.Keyspace) KeyspaceTotals {
	if f := n.totals.Load(); f != nil {
		return (*f)()
	}
	return KeyspaceTotals{Keys: uint64(ks.Len()), Volatile: uint64(ks.VolatileLen()), Expired: ks.Expired}
}
