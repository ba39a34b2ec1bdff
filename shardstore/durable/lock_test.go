package durable

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// A second store on a data dir another process holds is refused with an
// error naming the lock, not a bare "resource temporarily unavailable".
func TestSecondOpenNamesHeldLock(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), holdChildEnv+"="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() || sc.Text() != "READY" {
		t.Fatalf("child: %q", sc.Text())
	}
	_, err = Open(dir, Options{Logger: testLogger(nil)})
	if err == nil {
		t.Fatal("a second store opened a data dir another process holds")
	}
	for _, want := range []string{"is in use", dir + "/LOCK", "held by another process"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("Open error %q does not say %q", err, want)
		}
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	s := openStore(t, dir, Options{}) // the lock dies with its holder
	s.Close()
}

// In one process the lock holds too (pebble's MemFS models it), and Close
// releases it.
func TestLockReleasedByClose(t *testing.T) {
	fs := vfs.NewMem()
	s := openStore(t, memDir, Options{FS: fs})
	if _, err := Open(memDir, Options{FS: fs, Logger: testLogger(nil)}); err == nil || !strings.Contains(err.Error(), "/db/LOCK") {
		t.Fatalf("second Open in the process: %v, want an error naming /db/LOCK", err)
	}
	s.Close()
	s = openStore(t, memDir, Options{FS: fs})
	s.Close()
}
