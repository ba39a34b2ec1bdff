package durable

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// A damaged sstable gives an error naming the store, never a panic: from
// Open, or from the Scan and Get that read it.
func TestCorruptSSTableErrorsWithoutPanic(t *testing.T) {
	base := vfs.NewMem()
	s := openStore(t, memDir, Options{FS: base})
	for i := range 2000 {
		mustSet(t, s, fmt.Sprintf("key:%05d", i), strings.Repeat("v", 100), 0)
	}
	s.Close() // flushed: the data is in sstables
	var ssts []string
	names, err := base.List(memDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if strings.HasSuffix(n, ".sst") {
			ssts = append(ssts, base.PathJoin(memDir, n))
		}
	}
	if len(ssts) == 0 {
		t.Fatal("no sstable written")
	}
	for _, where := range []struct {
		name     string
		off      func(size int) int
		n        int
		dataOnly bool // damage only the sstable holding user data
	}{
		{"user data only", func(size int) int { return size / 2 }, 16, true},
		{"data block", func(int) int { return 100 }, 8, false},
		{"middle", func(size int) int { return size / 2 }, 64, false},
		{"index and footer", func(size int) int { return size - 200 }, 150, false},
		{"footer magic", func(size int) int { return size - 8 }, 8, false},
	} {
		t.Run(where.name, func(t *testing.T) {
			fs := vfs.NewMem()
			if _, err := vfs.Clone(base, fs, memDir, memDir); err != nil {
				t.Fatal(err)
			}
			largest, size := "", 0
			for _, sst := range ssts {
				data, err := readAll(fs, sst)
				if err != nil {
					t.Fatal(err)
				}
				if len(data) > size {
					largest, size = sst, len(data)
				}
				if !where.dataOnly {
					flipBytes(t, fs, sst, where.off(len(data)), where.n)
				}
			}
			if where.dataOnly {
				flipBytes(t, fs, largest, where.off(size), where.n)
			}
			err := func() (err error) {
				defer func() {
					if r := recover(); r != nil {
						err = fmt.Errorf("PANIC: %v", r)
					}
				}()
				s, err := Open(memDir, Options{FS: fs, Logger: testLogger(nil)})
				if err != nil {
					return err
				}
				defer s.Close()
				if err := s.Scan(0, func(_, _ []byte, _ int64) error { return nil }); err != nil {
					return err
				}
				for i := range 2000 {
					if _, _, _, err := s.Get(0, []byte(fmt.Sprintf("key:%05d", i))); err != nil {
						return err
					}
				}
				return nil
			}()
			if err == nil {
				t.Fatal("a damaged sstable read back without error")
			}
			if strings.HasPrefix(err.Error(), "PANIC") {
				t.Fatalf("damaged sstable panicked instead of failing: %v", err)
			}
			if !strings.HasPrefix(err.Error(), "durable: ") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q is not one line from the store", err)
			}
			t.Logf("%s: %v", where.name, err)
		})
	}
}
