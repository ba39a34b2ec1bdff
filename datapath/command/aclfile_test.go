package command

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func aclRun(t *testing.T, s *Session, args ...string) string {
	t.Helper()
	bs := make([][]byte, len(args))
	for i, a := range args {
		bs[i] = []byte(a)
	}
	out, _ := Exec(s, nil, bs, 0, nil, nil)
	return string(out)
}

// The aclfile text of a table loads back into the same table: ACL LIST is
// equal byte for byte, which is what a restart relies on.
func TestUsersTextRoundTrips(t *testing.T) {
	n := NewNode()
	s := NewSession(n)
	for _, rules := range [][]string{
		{"alice", "on", ">pw", ">pw2", "~{a}*", "~x?", "+@read", "-get", "+client|setname"},
		{"bob", "off", "#" + strings.Repeat("ab", 32), "resetchannels", "-@all", "+set"},
		{"carol", "on", "nopass", "allkeys", "skip-sanitize-payload", "allcommands", "-@dangerous"},
		{"dave"},
	} {
		if r := aclRun(t, s, append([]string{"ACL", "SETUSER"}, rules...)...); r != "+OK\r\n" {
			t.Fatalf("SETUSER %v: %q", rules, r)
		}
	}
	aclRun(t, s, "CONFIG", "SET", "requirepass", "sekret")
	gen, text := n.Users()
	if gen != 5 {
		t.Fatalf("generation %d after 5 changes", gen)
	}
	m := NewNode()
	if err := m.LoadUsers(gen, text, "store"); err != nil {
		t.Fatal(err)
	}
	s2 := NewSession(m)
	aclRun(t, s2, "AUTH", "sekret")
	if a, b := aclRun(t, s, "ACL", "LIST"), aclRun(t, s2, "ACL", "LIST"); a != b {
		t.Fatalf("ACL LIST after reload:\n%s\nwant\n%s", b, a)
	}
	if g, _ := m.Users(); g != gen {
		t.Fatalf("reloaded generation %d, want %d", g, gen)
	}
	if r := aclRun(t, NewSession(m), "AUTH", "alice", "pw2"); r != "+OK\r\n" {
		t.Fatalf("AUTH alice after reload: %q", r)
	}
}

// Every change of the table records the whole table for the store, and a
// refused change records nothing.
func TestUserChangesRecordTheTable(t *testing.T) {
	n := NewNode()
	s := NewSession(n)
	for _, tc := range []struct {
		args []string
		muts int
	}{
		{[]string{"ACL", "SETUSER", "u", "on"}, 1},
		{[]string{"ACL", "SETUSER", "u", "+nosuch"}, 0},
		{[]string{"ACL", "DELUSER", "nobody"}, 0},
		{[]string{"ACL", "DELUSER", "u"}, 1},
		{[]string{"CONFIG", "SET", "requirepass", ""}, 1},
		{[]string{"ACL", "LIST"}, 0},
	} {
		bs := make([][]byte, len(tc.args))
		for i, a := range tc.args {
			bs[i] = []byte(a)
		}
		_, muts := Exec(s, nil, bs, 0, nil, nil)
		if len(muts) != tc.muts {
			t.Fatalf("%v: %d mutations, want %d", tc.args, len(muts), tc.muts)
		}
		for _, m := range muts {
			gen, text := n.Users()
			if m.Op != OpUsers || m.Gen != gen || string(m.Val) != string(text) {
				t.Fatalf("%v: mutation %+v, want the table of generation %d", tc.args, m, gen)
			}
		}
	}
}

// ACL LOAD and ACL SAVE as Redis 7.0.15 answers them (texts taken from
// redis-server): all or nothing, each error naming file and line.
func TestACLLoadSave(t *testing.T) {
	n := NewNode()
	s := NewSession(n)
	if r := aclRun(t, s, "ACL", "LOAD"); r != "-"+errNoACLFile+"\r\n" {
		t.Fatalf("ACL LOAD without aclfile: %q", r)
	}
	file := filepath.Join(t.TempDir(), "users.acl")
	n.SetACLFile(file)
	job := func(args ...string) string {
		t.Helper()
		if r := aclRun(t, s, args...); r != "" {
			t.Fatalf("%v replied %q on the loop, want a job", args, r)
		}
		j := s.TakeJob()
		if j == nil {
			t.Fatalf("%v left no job", args)
		}
		reply, _ := j()
		return string(reply)
	}
	if r := job("ACL", "LOAD"); r != "-ERR Error loading ACLs, opening file '"+file+"': no such file or directory\r\n" {
		t.Fatalf("ACL LOAD of a missing file: %q", r)
	}
	bad := "user default on nopass ~* &* +@all\nuser alice on >pw ~{a}* +nosuch +@bogus\nbob on\nuser alice on\n\nuser x xx yy\nuser \"q\" on\n"
	os.WriteFile(file, []byte(bad), 0o600)
	want := "-ERR " + file + ":2: Error in applying operation '+nosuch': Unknown command or category name in ACL. " + file + ":2: Error in applying operation '+@bogus': Unknown command or category name in ACL. " + file + ":3 should start with user keyword followed by the username. WARNING: Duplicate user 'alice' found on line 4. " + file + ":6: Syntax error. WARNING: ACL errors detected, no change to the previously active ACL rules was performed\r\n"
	before := aclRun(t, s, "ACL", "LIST")
	if r := job("ACL", "LOAD"); r != want {
		t.Fatalf("ACL LOAD of a bad file:\n%q\nwant\n%q", r, want)
	}
	if aclRun(t, s, "ACL", "LIST") != before {
		t.Fatal("a failed ACL LOAD changed the users")
	}
	good := "user alice on >pw ~{a}* +get resetchannels -@all +set\n  user bob off #2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881\n"
	os.WriteFile(file, []byte(good), 0o600)
	if r := job("ACL", "LOAD"); r != "+OK\r\n" {
		t.Fatalf("ACL LOAD: %q", r)
	}
	list := "*3\r\n$110\r\nuser alice on #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 ~{a}* resetchannels -@all +set\r\n$98\r\nuser bob off #2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881 resetchannels -@all\r\n$34\r\nuser default on nopass ~* &* +@all\r\n"
	if r := aclRun(t, s, "ACL", "LIST"); r != list {
		t.Fatalf("ACL LIST after LOAD:\n%q\nwant\n%q", r, list)
	}
	os.Remove(file)
	if r := job("ACL", "SAVE"); r != "+OK\r\n" {
		t.Fatalf("ACL SAVE: %q", r)
	}
	saved, _ := os.ReadFile(file)
	if want := "user alice on #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 ~{a}* resetchannels -@all +set\nuser bob off #2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881 resetchannels -@all\nuser default on nopass ~* &* +@all\n"; string(saved) != want {
		t.Fatalf("saved %q, want %q", saved, want)
	}
}
