package faultfs

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

func TestSyncWaitsForTheDelay(t *testing.T) {
	fs := New(vfs.NewMem())
	f, err := fs.Create("a", vfs.WriteCategoryUnspecified)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	timed := func(sync func() error) time.Duration {
		t0 := time.Now()
		if err := sync(); err != nil {
			t.Fatal(err)
		}
		return time.Since(t0)
	}
	fs.SetDelay(30 * time.Millisecond)
	for name, sync := range map[string]func() error{"Sync": f.Sync, "SyncData": f.SyncData,
		"SyncTo": func() error { _, err := f.SyncTo(0); return err }} {
		if d := timed(sync); d < 30*time.Millisecond {
			t.Errorf("%s took %v with a 30ms delay", name, d)
		}
	}
	fs.SetDelay(0)
	if d := timed(f.Sync); d > 20*time.Millisecond {
		t.Errorf("Sync took %v without a delay", d)
	}
}

func TestControlFile(t *testing.T) {
	fs := New(vfs.NewMem())
	path := filepath.Join(t.TempDir(), "delay")
	stop := fs.Control(path, 5*time.Millisecond)
	defer stop()
	waitFor := func(want time.Duration) {
		t.Helper()
		for deadline := time.Now().Add(2 * time.Second); fs.Delay() != want; {
			if time.Now().After(deadline) {
				t.Fatalf("delay %v, want %v", fs.Delay(), want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	for _, tc := range []struct {
		content string
		want    time.Duration
	}{{"40ms\n", 40 * time.Millisecond}, {"bogus", 40 * time.Millisecond}, {"0", 0}, {"1s", time.Second}, {"", 0}} {
		if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
			t.Fatal(err)
		}
		waitFor(tc.want)
	}
	fs.SetDelay(time.Second)
	os.Remove(path)
	waitFor(0)
}
