package durable

import (
	"errors"
	"runtime"
)

// ErrReadRaced: ReadConsistent's reads kept overlapping applies.
var ErrReadRaced = errors.New("durable: reads kept racing applies; retry")

// consistentTries bounds ReadConsistent's attempts.
const consistentTries = 64

// ReadConsistent runs read, a function of Get and Scan* calls, until no
// apply became visible while it ran, so that what it read is one applied
// state: an atomic write of several keys (MSET, a collection's records)
// is seen whole or not at all. It gives up with ErrReadRaced after a
// bounded number of tries; read's own error ends it at once. read must
// not keep what it read from a failed try.
func (s *Store) ReadConsistent(read func() error) error {
	for range consistentTries {
		gen := s.applyGen.Load()
		if gen%2 == 1 {
			runtime.Gosched() // an apply is being made visible
			continue
		}
		err := read()
		if s.applyGen.Load() == gen {
			return err
		}
	}
	return ErrReadRaced
}
