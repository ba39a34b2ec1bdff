package main

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/dorivo/dorivo/datapath/command"
	"github.com/dorivo/dorivo/shardstore/durable"
)

// userOptions are the flags that set users at start: --requirepass and
// --aclfile (Redis's requirepass and aclfile).
type userOptions struct {
	requirepass string
	aclfile     string
}

// setupUsers installs the node's users before the datapath serves.
//
// Precedence: the store's users win. They are what ACL SETUSER, ACL
// DELUSER, ACL LOAD and CONFIG SET requirepass last made durable (and what
// replication carries), so a restart, clean or kill -9, gives exactly the
// users the agent had. --aclfile and --requirepass seed a store that has
// no users yet (its first start), and are written to it; later they only
// warn when they differ from the stored users (ACL LOAD applies the file on
// demand). Without a store they apply at every start, as in Redis. An
// aclfile that does not parse stops the start, as Redis aborts on it.
//
// In a cluster (replicated) the table lives in shard 0's log: only its
// leader can store a change (the loops forward ACL SETUSER and the like
// there), every replica installs the tables it applies (followUsers), and
// seeds are stored by whichever node leads shard 0 first (seedUsers).
func setupUsers(node *command.Node, st *durable.Store, o userOptions, replicated bool, log *slog.Logger) error {
	if replicated {
		followUsers(node, st, log)
	}
	node.SetACLFile(o.aclfile)
	var fileText []byte
	if o.aclfile != "" {
		b, err := os.ReadFile(o.aclfile)
		if err != nil {
			return fmt.Errorf("--aclfile: %w", err)
		}
		if err := command.ParseACLFile(b, o.aclfile); err != nil {
			return fmt.Errorf("--aclfile: %w", err)
		}
		fileText = b
	}
	if o.requirepass != "" {
		c := *node.Config()
		c.Requirepass = o.requirepass
		node.SetConfig(c)
	}
	if st != nil {
		if gen, text, ok := st.Users(); ok {
			if err := node.LoadUsers(gen, text, "stored users"); err != nil {
				return fmt.Errorf("load the stored users: %w", err)
			}
			log.Info("users loaded from the store", "generation", gen, "users", len(command.ParseUserNames(text)))
			warnSeedsDiffer(node, o, fileText, log)
			return nil
		}
	}
	switch {
	case fileText != nil:
		if err := node.LoadUsers(0, fileText, o.aclfile); err != nil {
			return fmt.Errorf("--aclfile: %w", err)
		}
		node.BumpUsers()
	case o.requirepass != "":
		node.SetRequirepass(o.requirepass)
	default:
		return nil // Redis's default user, nothing to store
	}
	if st == nil {
		return nil
	}
	if err := st.DiskError(); err != nil { // a start on a full disk serves, read-only
		log.Warn("disk full: the users from --aclfile/--requirepass are not stored; they apply until the next start", "err", err)
		return nil
	}
	if replicated {
		go seedUsers(node, st, log)
		return nil
	}
	return storeUsers(node, st)
}

// followUsers installs every user table st applies of a later generation
// than the node's, or of the same with other users: a replica learns the
// changes made through shard 0's leader, and a committed table replaces
// one this node published but did not commit (a seed, or a change whose
// leader was lost) under the same generation.
func followUsers(node *command.Node, st *durable.Store, log *slog.Logger) {
	st.SetUsersHook(func(gen uint64, text []byte) {
		if cur, curText := node.Users(); gen < cur || gen == cur && bytes.Equal(text, curText) {
			return
		}
		if err := node.LoadUsers(gen, text, "replicated users"); err != nil {
			log.Error("a replicated user table does not parse; keeping the current one", "generation", gen, "err", err)
			return
		}
		log.Info("users replicated from shard 0's log", "generation", gen, "users", len(command.ParseUserNames(text)))
	})
}

// seedUsers stores the node's seeded users once this node leads shard 0,
// unless a table is stored by then (another node's seed, or a change).
func seedUsers(node *command.Node, st *durable.Store, log *slog.Logger) {
	for {
		if _, _, ok := st.Users(); ok {
			return
		}
		if st.IsLeader(st.ShardOf(0)) {
			err := storeUsers(node, st)
			if err == nil || errors.Is(err, durable.ErrClosed) {
				return
			}
			log.Warn("storing the seeded users failed, retrying", "err", err)
		}
		if st.Closed() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// storeUsers writes the node's users to the store and waits until they
// are synced (at start, off the loops).
func storeUsers(node *command.Node, st *durable.Store) error {
	gen, text := node.Users()
	done := make(chan error, 1)
	st.ProposeUsers(gen, text, func(_ uint64, err error) { done <- err })
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("store the users: %w", err)
		}
		return nil
	case <-time.After(time.Minute):
		return errors.New("store the users: not synced after 1m")
	}
}

// warnSeedsDiffer logs when --aclfile or --requirepass say something else
// than the stored users, which won.
func warnSeedsDiffer(node *command.Node, o userOptions, fileText []byte, log *slog.Logger) {
	_, stored := node.Users()
	if fileText != nil {
		probe := command.NewNode()
		if probe.LoadUsers(0, fileText, o.aclfile) == nil {
			if _, t := probe.Users(); string(t) != string(stored) {
				log.Warn("--aclfile differs from the stored users; the stored users are kept (ACL LOAD applies the file)", "aclfile", o.aclfile)
			}
		}
	}
	if o.requirepass != "" && !node.CheckPassword("default", o.requirepass) {
		log.Warn("--requirepass is not the default user's password in the stored users; the stored users are kept (CONFIG SET requirepass changes it)")
	}
}
