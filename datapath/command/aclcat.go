package command

import "strings"

// ACL GETUSER and ACL CAT, as Redis 7.0.15 replies them.

const errChannelAfterAll = "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels"

// addChannel applies an &pattern rule.
func (u *User) addChannel(p string) string {
	if u.AllChannels {
		return errChannelAfterAll
	}
	if p == "*" {
		u.AllChannels, u.ChannelPatterns = true, nil
		return ""
	}
	for _, q := range u.ChannelPatterns {
		if q == p {
			return ""
		}
	}
	u.ChannelPatterns = append(u.ChannelPatterns, p)
	return ""
}

// commandRules is the command part of the user's description: +@all or
// -@all, then the rules that differ from it.
func (u *User) commandRules() string {
	var b strings.Builder
	if u.allCmds {
		b.WriteString("+@all")
	} else {
		b.WriteString("-@all")
	}
	for _, r := range u.rules {
		b.WriteString(" " + r)
	}
	return b.String()
}

// flags are the user's flags in Redis's ACLUserFlags order.
func (u *User) flags() []string {
	f := []string{"off"}
	if u.On {
		f[0] = "on"
	}
	if u.NoPass {
		f = append(f, "nopass")
	}
	if u.skipSanitize {
		f = append(f, "skip-sanitize-payload")
	}
	if u.sanitize {
		f = append(f, "sanitize-payload")
	}
	return f
}

func aclGetuserCmd(c *call) {
	u := c.s.Node.users.Load().get(string(c.args[2]))
	if u == nil {
		c.null()
		return
	}
	c.mapLen(6)
	c.bulkStr("flags")
	f := u.flags()
	c.setLen(len(f))
	for _, s := range f {
		c.bulkStr(s)
	}
	c.bulkStr("passwords")
	c.array(len(u.Passwords))
	for _, p := range u.Passwords {
		c.bulkStr(p)
	}
	c.bulkStr("commands")
	c.bulkStr(u.commandRules())
	c.bulkStr("keys")
	if u.AllKeys {
		c.bulkStr("~*")
	} else {
		c.bulkStr(joinPrefixed("~", u.KeyPatterns))
	}
	c.bulkStr("channels")
	if u.AllChannels {
		c.bulkStr("&*")
	} else {
		c.bulkStr(joinPrefixed("&", u.ChannelPatterns))
	}
	c.bulkStr("selectors")
	c.array(0)
}

func joinPrefixed(prefix string, items []string) string {
	var b strings.Builder
	for i, it := range items {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(prefix + it)
	}
	return b.String()
}

func aclCatCmd(c *call) {
	switch len(c.args) {
	case 2:
		c.array(len(categoryNames))
		for _, cat := range categoryNames {
			c.bulkStr(cat.name)
		}
	case 3:
		name := strings.ToLower(string(c.args[2]))
		cat, ok := categoryByName(name)
		if !ok || name == "all" {
			c.err("ERR Unknown category '" + string(cstr(c.args[2])) + "'")
			return
		}
		var names []string
		for _, cmd := range cmds {
			if cmd.run != nil && cmd.Cats&cat != 0 {
				names = append(names, cmd.Name)
			}
		}
		c.array(len(names))
		for _, n := range names {
			c.bulkStr(n)
		}
	default:
		c.err("ERR unknown subcommand or wrong number of arguments for '" + string(cstr(c.args[1])) + "'. Try " + strings.ToUpper(string(cstr(c.args[0]))) + " HELP.")
	}
}
