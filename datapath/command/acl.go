package command

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"sort"
	"strings"
)

func init() {
	acl := def(nil, "acl", -2, 0, 0, 0, 0, 0, nil)
	def(acl, "setuser", -3, Admin|NoScript|Loading|Stale|UsersWrite, 0, 0, 0, 0, aclSetuserCmd)
	def(acl, "deluser", -3, Admin|NoScript|Loading|Stale|UsersWrite, 0, 0, 0, 0, aclDeluserCmd)
	def(acl, "whoami", 2, NoScript|Loading|Stale, 0, 0, 0, 0, aclWhoamiCmd)
	def(acl, "list", 2, Admin|NoScript|Loading|Stale, 0, 0, 0, 0, aclListCmd)
	def(acl, "users", 2, Admin|NoScript|Loading|Stale, 0, 0, 0, 0, aclUsersCmd)
	def(acl, "help", 2, Loading|Stale, 0, 0, 0, 0, helpCmd)
	// NoMulti: Dorivo reads and writes the aclfile off the event loop,
	// which a transaction's EXEC cannot wait for (Redis allows them).
	def(acl, "getuser", 3, Admin|NoScript|Loading|Stale, 0, 0, 0, 0, aclGetuserCmd)
	def(acl, "cat", -2, NoScript|Loading|Stale, 0, 0, 0, 0, aclCatCmd)
	def(acl, "log", -2, Admin|NoScript|Loading|Stale, 0, 0, 0, 0, aclLogCmd)
	def(acl, "load", 2, Admin|NoScript|Loading|Stale|NoMulti|UsersWrite, 0, 0, 0, 0, aclLoadCmd)
	def(acl, "save", 2, Admin|NoScript|Loading|Stale|NoMulti, 0, 0, 0, 0, aclSaveCmd)
}

const errUnknownCmdOrCat = "Unknown command or category name in ACL"

// User is an ACL user. Users are immutable once published: ACL SETUSER
// builds a changed copy.
type User struct {
	Name      string
	On        bool
	NoPass    bool
	Passwords []string // SHA-256 hex digests, in insertion order
	AllKeys   bool
	// KeyPatterns are the ~patterns a key must match one of, with Redis's
	// glob rules; tenant confinement is ~{tenant}*.
	KeyPatterns []string
	AllChannels bool
	// ChannelPatterns are the &patterns when not AllChannels: kept for
	// ACL LIST and ACL GETUSER (Dorivo has no Pub/Sub to apply them to).
	ChannelPatterns []string
	// sanitize and skipSanitize are the (sanitize|skip-sanitize)-payload
	// flags; Dorivo has no payloads to sanitize but keeps them for ACL LIST.
	sanitize, skipSanitize bool
	// cmds has bit id set for every command id the user may run.
	cmds []uint64
	// allCmds is Redis's "future commands" bit: set by +@all.
	allCmds bool
	// rules are the command rules applied since the last +@all/-@all, for
	// ACL LIST.
	rules []string
}

func (u *User) can(cmd *Cmd) bool {
	return cmd.id/64 < len(u.cmds) && u.cmds[cmd.id/64]&(1<<(cmd.id%64)) != 0
}

func (u *User) setCmd(cmd *Cmd, allow bool) {
	for len(u.cmds) <= cmd.id/64 {
		u.cmds = append(u.cmds, 0)
	}
	if allow {
		u.cmds[cmd.id/64] |= 1 << (cmd.id % 64)
	} else {
		u.cmds[cmd.id/64] &^= 1 << (cmd.id % 64)
	}
	for _, sub := range cmd.Subs {
		u.setCmd(sub, allow)
	}
}

func (u *User) clone() *User {
	v := *u
	v.Passwords = append([]string(nil), u.Passwords...)
	v.KeyPatterns = append([]string(nil), u.KeyPatterns...)
	v.ChannelPatterns = append([]string(nil), u.ChannelPatterns...)
	v.cmds = append([]uint64(nil), u.cmds...)
	v.rules = append([]string(nil), u.rules...)
	return &v
}

type userTable struct {
	users map[string]*User
	// gen grows by one with every published change (aclfile.go): the
	// store keeps the table of the highest generation.
	gen uint64
}

func (t *userTable) get(name string) *User { return t.users[name] }

func defaultUsers() *userTable {
	u := &User{Name: "default", On: true, NoPass: true, AllKeys: true, AllChannels: true}
	u.apply("+@all")
	return &userTable{users: map[string]*User{"default": u}}
}

// authenticate checks user and password and on success makes the session
// that user.
func (s *Session) authenticate(user, pass []byte) bool {
	u := s.Node.users.Load().get(string(user))
	if u == nil || !u.On {
		return false
	}
	if !u.NoPass {
		sum := sha256.Sum256(pass)
		h := hex.EncodeToString(sum[:])
		found := false
		for _, p := range u.Passwords {
			if subtle.ConstantTimeCompare([]byte(p), []byte(h)) == 1 {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	s.user = u.Name
	s.usersSeen, s.peerAuth = nil, false
	s.authenticated = true
	return true
}

// userEntry returns the session's user from the current user table,
// caching the lookup until the table changes.
func (s *Session) userEntry() *User {
	if s.peerAuth {
		return peerUser()
	}
	t := s.Node.users.Load()
	if t != s.usersSeen {
		s.usersSeen, s.userSeen = t, t.get(s.user)
	}
	return s.userSeen
}

// permission checks that the session's user may run cmd with args and
// returns the NOPERM error otherwise. A deleted user has no permissions.
func (s *Session) permission(cmd *Cmd, args [][]byte) string {
	u := s.userEntry()
	if u == nil {
		return "NOPERM this user has no permissions to run the '" + cmd.Name + "' command"
	}
	if cmd.Flags&NoAuth != 0 {
		return "" // AUTH, HELLO, QUIT: always allowed, as in Redis
	}
	if !u.can(cmd) {
		return "NOPERM this user has no permissions to run the '" + cmd.Name + "' command"
	}
	if u.AllKeys || cmd.First == 0 && cmd.numKeysArg == 0 {
		return ""
	}
	var kb [8][]byte
	for _, key := range cmd.keys(args, kb[:0]) {
		ok := false
		for _, p := range u.KeyPatterns {
			if Match([]byte(p), key, false) {
				ok = true
				break
			}
		}
		if !ok {
			return errNoPermKey
		}
	}
	return ""
}

// allKeys reports whether the session's user may touch every key; a user
// deleted since the session authenticated may touch none.
func (s *Session) allKeys() bool {
	u := s.userEntry()
	return u != nil && u.AllKeys
}

// keyFilter returns whether the session's user may see a key in KEYS and
// SCAN. Redis lists every key to any user allowed to run them; Dorivo,
// being multi-tenant, lists only the keys matching the user's patterns, so
// a tenant confined to ~{acme}* does not learn other tenants' keys.
func (s *Session) keyFilter() func(key []byte) bool {
	u := s.userEntry()
	switch {
	case u == nil: // deleted since it authenticated
		return func([]byte) bool { return false }
	case u.AllKeys:
		return func([]byte) bool { return true }
	}
	return func(key []byte) bool {
		for _, p := range u.KeyPatterns {
			if Match([]byte(p), key, false) {
				return true
			}
		}
		return false
	}
}

func permReason(msg string) string {
	if msg == errNoPermKey {
		return "no permission to touch the specified keys"
	}
	return "no permission to execute the command or subcommand"
}

// apply applies one ACL SETUSER rule, returning Redis's error detail.
func (u *User) apply(rule string) string {
	low := strings.ToLower(rule)
	switch {
	case low == "on":
		u.On = true
	case low == "off":
		u.On = false
	case low == "skip-sanitize-payload":
		u.skipSanitize, u.sanitize = true, false
	case low == "sanitize-payload":
		u.skipSanitize, u.sanitize = false, true
	case low == "nopass":
		u.NoPass = true
		u.Passwords = nil
	case low == "resetpass":
		u.NoPass = false
		u.Passwords = nil
	case low == "allkeys":
		u.AllKeys = true
		u.KeyPatterns = nil
	case low == "resetkeys":
		u.AllKeys = false
		u.KeyPatterns = nil
	case low == "allchannels":
		u.AllChannels = true
		u.ChannelPatterns = nil
	case low == "resetchannels":
		u.AllChannels = false
		u.ChannelPatterns = nil
	case low == "allcommands", low == "+@all":
		u.cmds = nil
		for _, c := range cmds {
			u.setCmd(c, true)
		}
		u.setPhantoms(CatAll, true)
		u.allCmds = true
		u.rules = nil
	case low == "nocommands", low == "-@all":
		u.cmds = nil
		u.allCmds = false
		u.rules = nil
	case low == "reset":
		for _, r := range []string{"resetpass", "resetkeys", "resetchannels", "off", "sanitize-payload", "-@all"} {
			u.apply(r)
		}
	case strings.HasPrefix(rule, ">"):
		sum := sha256.Sum256([]byte(rule[1:]))
		u.addPassword(hex.EncodeToString(sum[:]))
	case strings.HasPrefix(rule, "#"):
		h := rule[1:]
		if len(h) != 64 || strings.ToLower(h) != h || !isHexString(h) {
			return "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters"
		}
		u.addPassword(h)
	case strings.HasPrefix(rule, "<"), strings.HasPrefix(rule, "!"):
		h := rule[1:]
		if rule[0] == '<' {
			sum := sha256.Sum256([]byte(h))
			h = hex.EncodeToString(sum[:])
		} else if len(h) != 64 || strings.ToLower(h) != h || !isHexString(h) {
			return "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters"
		}
		for j, p := range u.Passwords {
			if p == h {
				u.Passwords = append(u.Passwords[:j], u.Passwords[j+1:]...)
				return ""
			}
		}
		return "The password you are trying to remove from the user does not exist"
	case strings.HasPrefix(rule, "~"):
		if u.AllKeys {
			return "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns"
		}
		if rule == "~*" {
			u.AllKeys = true
			u.KeyPatterns = nil
		} else {
			for _, p := range u.KeyPatterns {
				if p == rule[1:] {
					return ""
				}
			}
			u.KeyPatterns = append(u.KeyPatterns, rule[1:])
		}
	case strings.HasPrefix(rule, "&"):
		return u.addChannel(rule[1:])
	case strings.HasPrefix(rule, "+@"), strings.HasPrefix(rule, "-@"):
		cat, ok := categoryByName(low[2:])
		if !ok {
			return errUnknownCmdOrCat
		}
		u.setCategory(cat, rule[0] == '+')
		u.addRule(low)
	case strings.HasPrefix(rule, "+"), strings.HasPrefix(rule, "-"):
		name := low[1:]
		var c *Cmd
		if parent, sub, ok := strings.Cut(name, "|"); ok {
			if p := table[parent]; p != nil && p.Subs != nil {
				c = p.Subs[sub]
			}
		} else {
			c = table[name]
		}
		if c == nil {
			return errUnknownCmdOrCat
		}
		u.setCmd(c, rule[0] == '+')
		u.addRule(low)
	default:
		return "Syntax error"
	}
	return ""
}

func (u *User) setCategory(cat Category, allow bool) {
	for _, c := range cmds {
		if c.Cats&cat != 0 {
			u.setCmd(c, allow)
		}
	}
	u.setPhantoms(cat, allow)
}

// setPhantoms sets or clears the bits of categories cat past the
// commands' bits: one per category, so that a rule on a category with no
// Dorivo command (+@list before the list commands exist) changes the
// bitmap and ACL LIST keeps it, as Redis does.
func (u *User) setPhantoms(cat Category, allow bool) {
	for i, cn := range categoryNames {
		if cat&cn.c == 0 {
			continue
		}
		id := len(cmds) + i
		for len(u.cmds) <= id/64 {
			u.cmds = append(u.cmds, 0)
		}
		if allow {
			u.cmds[id/64] |= 1 << (id % 64)
		} else {
			u.cmds[id/64] &^= 1 << (id % 64)
		}
	}
}

// replay computes the command bitmap of the base (+@all or -@all) followed
// by rules.
func (u *User) replay(rules []string) []uint64 {
	v := &User{}
	if u.allCmds {
		for _, c := range cmds {
			v.setCmd(c, true)
		}
		v.setPhantoms(CatAll, true)
	}
	for _, r := range rules {
		allow := r[0] == '+'
		if cat, ok := categoryByName(strings.TrimPrefix(r[1:], "@")); ok && strings.HasPrefix(r[1:], "@") {
			v.setCategory(cat, allow)
		} else if parent, sub, ok := strings.Cut(r[1:], "|"); ok {
			v.setCmd(table[parent].Subs[sub], allow)
		} else {
			v.setCmd(table[r[1:]], allow)
		}
	}
	return v.cmds
}

func sameBits(a, b []uint64) bool {
	for i := range max(len(a), len(b)) {
		var x, y uint64
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			return false
		}
	}
	return true
}

// addRule records a command rule for ACL LIST and drops, in order, every
// rule without which the permissions would be the same, which reproduces
// Redis 7.0's compact descriptions ("+get +@read" lists as "+@read").
func (u *User) addRule(rule string) {
	u.rules = append(u.rules, rule)
	want := u.replay(u.rules)
	for i := 0; i < len(u.rules); {
		without := append(append([]string(nil), u.rules[:i]...), u.rules[i+1:]...)
		if sameBits(u.replay(without), want) {
			u.rules = without
		} else {
			i++
		}
	}
}

func (u *User) addPassword(h string) {
	u.NoPass = false
	for _, p := range u.Passwords {
		if p == h {
			return
		}
	}
	u.Passwords = append(u.Passwords, h)
}

func isHexString(s string) bool {
	for i := range len(s) {
		if hexVal(s[i]) < 0 {
			return false
		}
	}
	return true
}

func categoryByName(name string) (Category, bool) {
	if name == "all" {
		return CatAll, true
	}
	for _, c := range categoryNames {
		if c.name == name {
			return c.c, true
		}
	}
	return 0, false
}

// describe is the user's ACL LIST line, as Redis's ACLDescribeUser.
func (u *User) describe() string {
	var b strings.Builder
	b.WriteString("user " + u.Name + " ")
	if u.On {
		b.WriteString("on ")
	} else {
		b.WriteString("off ")
	}
	if u.NoPass {
		b.WriteString("nopass ")
	}
	if u.skipSanitize {
		b.WriteString("skip-sanitize-payload ")
	}
	if u.sanitize {
		b.WriteString("sanitize-payload ")
	}
	for _, p := range u.Passwords {
		b.WriteString("#" + p + " ")
	}
	if u.AllKeys {
		b.WriteString("~* ")
	} else {
		for _, p := range u.KeyPatterns {
			b.WriteString("~" + p + " ")
		}
	}
	if u.AllChannels {
		b.WriteString("&* ")
	} else {
		b.WriteString("resetchannels ")
		for _, p := range u.ChannelPatterns {
			b.WriteString("&" + p + " ")
		}
	}
	b.WriteString(u.commandRules())
	return b.String()
}

func aclSetuserCmd(c *call) {
	name := string(c.args[2])
	t, msg := c.s.Node.publishUsers(func(old *userTable) (*userTable, string) {
		u := old.get(name)
		if u == nil {
			u = &User{Name: name}
		} else {
			u = u.clone()
		}
		for _, r := range c.args[3:] {
			if msg := u.apply(string(r)); msg != "" {
				return nil, "ERR Error in ACL SETUSER modifier '" + string(cstr(r)) + "': " + msg
			}
		}
		t := old.copy()
		t.users[name] = u
		return t, ""
	})
	if t == nil {
		c.err(msg)
		return
	}
	c.mut(usersMutation(t))
	c.ok()
}

func aclDeluserCmd(c *call) {
	var deleted int64
	t, msg := c.s.Node.publishUsers(func(old *userTable) (*userTable, string) {
		t := old.copy()
		deleted = 0
		for _, a := range c.args[2:] {
			if string(a) == "default" {
				return nil, "ERR The 'default' user cannot be removed"
			}
			if _, ok := t.users[string(a)]; ok {
				delete(t.users, string(a))
				deleted++
			}
		}
		if deleted == 0 {
			return nil, ""
		}
		return t, ""
	})
	switch {
	case msg != "":
		c.err(msg)
		return
	case t != nil:
		c.mut(usersMutation(t))
	}
	c.int(deleted)
}

func aclWhoamiCmd(c *call) { c.bulkStr(c.s.user) }

func (t *userTable) sorted() []*User {
	var us []*User
	for _, u := range t.users {
		us = append(us, u)
	}
	sort.Slice(us, func(i, j int) bool { return us[i].Name < us[j].Name })
	return us
}

func aclListCmd(c *call) {
	us := c.s.Node.users.Load().sorted()
	c.array(len(us))
	for _, u := range us {
		c.bulkStr(u.describe())
	}
}

func aclUsersCmd(c *call) {
	us := c.s.Node.users.Load().sorted()
	c.array(len(us))
	for _, u := range us {
		c.bulkStr(u.Name)
	}
}
