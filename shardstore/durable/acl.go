package durable

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble/v2"
)

// The node's ACL user table is store state like the data: a users record
// (AppendUsers) goes through a shard's raft log, so it is synced before it
// is acknowledged and replicated with the rest, and applying it writes the
// table under the reserved key \x01uusers (doc.go). The table is one value,
// the text of its users in Redis's aclfile format, tagged with a generation
// that grows with every change: users records may be proposed from several
// event loops at once, and their order in the log need not be the order in
// which the node changed its table, so an apply keeps the table of the
// highest generation it has seen, which is the latest.

// usersKey holds the user table: generation(8) then the aclfile text.
var usersKey = []byte("\x01uusers")

// opUsers is the record opcode of a user table (record.go).
const opUsers = 'U'

// users is the store's copy of the applied user table. Applies run on the
// driver goroutine; Users may read it from any goroutine.
type users struct {
	mu   sync.Mutex
	gen  uint64
	text []byte
	set  bool // a table was stored
	// changed: an apply stored a later table, not yet reported to the
	// hook (SetUsersHook).
	changed bool
	hook    func(gen uint64, text []byte)
}

// AppendUsers appends a user table record to dst: the table text (lines of
// Redis's aclfile format) of generation gen. A record of a generation at
// or below the stored one applies nothing.
func AppendUsers(dst []byte, gen uint64, text []byte) []byte {
	dst = append(dst, opUsers)
	dst = binary.AppendUvarint(dst, gen)
	dst = binary.AppendUvarint(dst, uint64(len(text)))
	return append(dst, text...)
}

// decodeUsersOp reads a users mutation after its opcode.
func decodeUsersOp(rec []byte) (gen uint64, text, rest []byte, err error) {
	gen, k := binary.Uvarint(rec)
	if k <= 0 {
		return 0, nil, nil, fmt.Errorf("record: users generation: %w", errShortRecord)
	}
	if text, rest, err = readBytes(rec[k:]); err != nil {
		return 0, nil, nil, fmt.Errorf("record: users table: %w", err)
	}
	return gen, text, rest, nil
}

// SetUsers stores the user table text of generation gen, unless a table of
// a later generation is stored already.
func (w *Writer) SetUsers(gen uint64, text []byte) {
	if u := w.users; u != nil {
		u.mu.Lock()
		defer u.mu.Unlock()
		if u.set && gen <= u.gen {
			return
		}
		u.gen, u.text, u.set, u.changed = gen, append([]byte(nil), text...), true, true
	}
	v := binary.BigEndian.AppendUint64(nil, gen)
	_ = w.b.Set(usersKey, append(v, text...), nil)
}

// Users returns the applied user table: its generation and its text in
// Redis's aclfile format; ok is false when no table was ever stored.
func (s *Store) Users() (gen uint64, text []byte, ok bool) {
	s.users.mu.Lock()
	defer s.users.mu.Unlock()
	return s.users.gen, append([]byte(nil), s.users.text...), s.users.set
}

// SetUsersHook makes the store call fn, on its driver, each time it has
// applied a user table of a later generation than the last (a replica
// learns the tables other nodes' users records carry, and from
// snapshots). fn must not block.
func (s *Store) SetUsersHook(fn func(gen uint64, text []byte)) {
	s.users.mu.Lock()
	s.users.hook = fn
	s.users.mu.Unlock()
}

// reportUsers calls the users hook if an apply stored a later table.
func (s *Store) reportUsers() {
	u := &s.users
	u.mu.Lock()
	hook, changed, gen, text := u.hook, u.changed, u.gen, append([]byte(nil), u.text...)
	u.changed = false
	u.mu.Unlock()
	if changed && hook != nil {
		hook(gen, text)
	}
}

// ProposeUsers proposes the user table text of generation gen through
// shard 0's log; done is Propose's callback.
func (s *Store) ProposeUsers(gen uint64, text []byte, done func(index uint64, err error)) {
	s.Propose(0, AppendUsers(nil, gen, text), done)
}

// loadUsers reads the stored user table before the log is replayed, so
// that replayed users records compare against it.
func (s *Store) loadUsers() error {
	v, closer, err := s.db.Get(usersKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("durable: read user table: %w", err)
	}
	defer closer.Close()
	if len(v) < 8 {
		return fmt.Errorf("durable: user table record of %d bytes lacks its generation", len(v))
	}
	s.users.gen, s.users.text, s.users.set = binary.BigEndian.Uint64(v), append([]byte(nil), v[8:]...), true
	return nil
}
