package command

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// Durable users. The user table is node state: every change (ACL SETUSER,
// ACL DELUSER, ACL LOAD, CONFIG SET requirepass) publishes a table of the
// next generation and records one OpUsers mutation holding the whole table
// as Redis's aclfile text (the ACL LIST lines), which the server makes
// durable through the store before the reply leaves. Restarting, the host
// loads the latest table back with LoadUsers; the text round-trips, so
// ACL LIST is the same byte for byte.
//
// The aclfile (ACL LOAD, ACL SAVE) is read and written off the event loop:
// the command leaves a Job on the session that the server runs on another
// goroutine, holding the reply until it is done.

// errNoACLFile is Redis 7.0's reply to ACL LOAD and ACL SAVE without an
// aclfile.
const errNoACLFile = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration."

// Job is work a command leaves to its server to run off the event loop. It
// returns the reply and the mutations (OpUsers) that must be durable
// before the reply goes out.
type Job func() (reply []byte, muts []Mutation)

// TakeJob returns the job the last executed command left, if any, and
// clears it. The server runs it on another goroutine and sends its reply
// in the command's place.
func (s *Session) TakeJob() Job {
	j := s.job
	s.job = nil
	return j
}

// text is the table in Redis's aclfile format: the ACL LIST lines, sorted
// by name, each ending in a newline.
func (t *userTable) text() []byte {
	var b []byte
	for _, u := range t.sorted() {
		b = append(b, u.describe()...)
		b = append(b, '\n')
	}
	return b
}

// usersMutation records table t for the store.
func usersMutation(t *userTable) Mutation {
	return Mutation{Op: OpUsers, Val: t.text(), Gen: t.gen}
}

// parseUsers builds a user table from aclfile text as Redis's
// ACLLoadFromFile does: all or nothing, every error naming file and line.
// A file without a default user gets Redis's default one.
func parseUsers(text []byte, file string) (*userTable, string) {
	t := &userTable{users: map[string]*User{}}
	var errs strings.Builder
	for i, line := range strings.Split(string(text), "\n") {
		num := i + 1
		line = strings.Trim(line, " \t\r\n")
		if line == "" {
			continue
		}
		argv := strings.Split(line, " ")
		if argv[0] != "user" || len(argv) < 2 {
			fmt.Fprintf(&errs, "%s:%d should start with user keyword followed by the username. ", file, num)
			continue
		}
		name := argv[1]
		if strings.ContainsAny(name, " \t\r\n") || name == "" {
			fmt.Fprintf(&errs, "'%s:%d: username '%s' contains invalid characters. ", file, num, name)
			continue
		}
		if t.users[name] != nil {
			fmt.Fprintf(&errs, "WARNING: Duplicate user '%s' found on line %d. ", name, num)
			continue
		}
		u := &User{Name: name}
		failed := false
		for _, op := range argv[2:] {
			op = strings.Trim(op, "\t\r\n")
			if op == "" {
				continue
			}
			msg := u.apply(op)
			switch {
			case msg == "":
			case msg == errUnknownCmdOrCat:
				fmt.Fprintf(&errs, "%s:%d: Error in applying operation '%s': %s. ", file, num, op, msg)
			case !failed:
				fmt.Fprintf(&errs, "%s:%d: %s. ", file, num, msg)
				failed = true
			}
		}
		t.users[name] = u
	}
	if errs.Len() > 0 {
		return nil, errs.String() + "WARNING: ACL errors detected, no change to the previously active ACL rules was performed"
	}
	if t.users["default"] == nil {
		t.users["default"] = defaultUsers().users["default"]
	}
	return t, ""
}

// LoadUsers replaces the user table with the one in text (aclfile format,
// as the store keeps it) of generation gen, at start-up before serving.
func (n *Node) LoadUsers(gen uint64, text []byte, source string) error {
	t, msg := parseUsers(text, source)
	if t == nil {
		return errors.New(msg)
	}
	t.gen = gen
	n.users.Store(t)
	return nil
}

// Users returns the user table's generation and its aclfile text.
func (n *Node) Users() (gen uint64, text []byte) {
	t := n.users.Load()
	return t.gen, t.text()
}

// SetACLFile names the aclfile of ACL LOAD and ACL SAVE ("": none).
func (n *Node) SetACLFile(path string) { n.aclFile.Store(&path) }

func (n *Node) aclFilePath() string {
	if p := n.aclFile.Load(); p != nil {
		return *p
	}
	return ""
}

// publishUsers installs the table change makes of the current one, as the
// next generation, and returns it; change returns nil (and its error) to
// change nothing. Copy on write, lock free: a lost race retries.
func (n *Node) publishUsers(change func(old *userTable) (*userTable, string)) (*userTable, string) {
	for {
		old := n.users.Load()
		t, msg := change(old)
		if t == nil {
			return nil, msg
		}
		t.gen = old.gen + 1
		if n.users.CompareAndSwap(old, t) {
			return t, ""
		}
	}
}

// SetRequirepass makes pass default's only password ("" makes default
// nopass), as Redis's requirepass, and returns the published table.
func (n *Node) SetRequirepass(pass string) *userTable {
	t, _ := n.publishUsers(func(old *userTable) (*userTable, string) {
		t := old.copy()
		u := &User{Name: "default"}
		if d := old.get("default"); d != nil {
			u = d.clone()
		}
		if pass == "" {
			u.apply("nopass")
		} else {
			u.apply("resetpass")
			u.apply(">" + pass)
		}
		t.users["default"] = u
		return t, ""
	})
	return t
}

func (t *userTable) copy() *userTable {
	c := &userTable{users: make(map[string]*User, len(t.users)+1)}
	for k, v := range t.users {
		c.users[k] = v
	}
	return c
}

func aclLoadCmd(c *call) {
	n := c.s.Node
	file := n.aclFilePath()
	if file == "" {
		c.err(errNoACLFile)
		return
	}
	c.s.job = func() ([]byte, []Mutation) {
		text, err := os.ReadFile(file)
		if err != nil {
			return aclErrReply(fmt.Sprintf("Error loading ACLs, opening file '%s': %s", file, errnoText(err))), nil
		}
		loaded, msg := parseUsers(text, file)
		if loaded == nil {
			return aclErrReply(msg), nil
		}
		t, _ := n.publishUsers(func(*userTable) (*userTable, string) { return loaded.copy(), "" })
		return []byte("+OK\r\n"), []Mutation{usersMutation(t)}
	}
}

func aclSaveCmd(c *call) {
	n := c.s.Node
	file := n.aclFilePath()
	if file == "" {
		c.err(errNoACLFile)
		return
	}
	text := n.users.Load().text()
	c.s.job = func() ([]byte, []Mutation) {
		if err := writeFileSynced(file, text); err != nil {
			n.logACLSaveError(file, err)
			return aclErrReply("There was an error trying to save the ACLs. Please check the server logs for more information"), nil
		}
		return []byte("+OK\r\n"), nil
	}
}

func aclErrReply(msg string) []byte {
	return []byte("-ERR " + strings.NewReplacer("\r", " ", "\n", " ").Replace(msg) + "\r\n")
}

// errnoText is err's system call text (strerror) without Go's op and path.
func errnoText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// writeFileSynced replaces file with data as Redis's ACLSaveToFile: a
// temporary file in the same directory, fsynced, renamed over it.
func writeFileSynced(file string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(file), filepath.Base(file)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create temporary aclfile: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return fmt.Errorf("rename aclfile into place: %w", err)
	}
	return nil
}

// ACLFileText is the aclfile text of the node's current users, for the
// host to write at start-up.
func (n *Node) ACLFileText() []byte { return n.users.Load().text() }

// ParseACLFile checks aclfile text as ACL LOAD would, returning Redis's
// errors; the host uses it at start-up.
func ParseACLFile(text []byte, file string) error {
	if t, msg := parseUsers(text, file); t == nil {
		return errors.New(msg)
	}
	return nil
}

func (n *Node) logACLSaveError(file string, err error) {
	slog.Default().Warn("ACL SAVE failed", "file", file, "err", err)
}

// ChangesUsers reports whether cmd changes the user table through the
// store, so that a server refuses it, like a write, while the disk is full.
func (c *Cmd) ChangesUsers() bool {
	return (c.Name == "acl|setuser" || c.Name == "acl|deluser" || c.Name == "acl|load")
}

// BumpUsers makes the current table the next generation, for a host that
// stores a table it loaded from elsewhere (an aclfile).
func (n *Node) BumpUsers() {
	n.publishUsers(func(old *userTable) (*userTable, string) { return old.copy(), "" })
}

// CheckPassword reports whether user is on and pass is one of its
// passwords (false for a user without passwords).
func (n *Node) CheckPassword(user, pass string) bool {
	u := n.users.Load().get(user)
	return u != nil && !u.NoPass && NewInternalSession(n).authenticate([]byte(user), []byte(pass))
}

// ParseUserNames returns the user names of aclfile text, for logs.
func ParseUserNames(text []byte) []string {
	var names []string
	for _, line := range strings.Split(string(text), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "user" {
			names = append(names, f[1])
		}
	}
	return names
}
