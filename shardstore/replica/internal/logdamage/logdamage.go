// Package logdamage damages a stopped replica's raft log for the tests
// that check a corrupt replica rejoins. Test-only.
package logdamage

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FlipMiddle inverts 8 bytes in the middle of the written part of the
// largest raft log segment in dir (a store's raftlog/), so that synced
// records follow the damage. The segment must hold at least minBytes.
func FlipMiddle(t testing.TB, dir string, minBytes int) {
	t.Helper()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	var name string
	written := 0
	for _, s := range segs {
		b, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(bytes.TrimRight(b, "\x00")); n > written { // segments are zero-filled ahead
			name, written = s, n
		}
	}
	if written < minBytes {
		t.Fatalf("raft log segments %v hold %d bytes, fewer than the %d to damage", segs, written, minBytes)
	}
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 8)
	if _, err := f.ReadAt(b, int64(written/2)); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] ^= 0xff
	}
	if _, err := f.WriteAt(b, int64(written/2)); err != nil {
		t.Fatal(err)
	}
}
