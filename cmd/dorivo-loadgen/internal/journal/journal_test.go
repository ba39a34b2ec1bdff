package journal

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestRecordThenLoadKeepsLastWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rec")
	if err := os.WriteFile(path, []byte("SET\t{t}:old\tkept\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for c := range 4 {
		wg.Go(func() {
			for i := range 100 {
				key := []byte("{t}:c" + string(rune('0'+c)))
				_ = w.Log("SET", key, []byte(strings.Repeat("v", i)))
			}
		})
	}
	wg.Wait()
	if err := w.Log("MSET", []byte("{t}:old"), []byte("")); err != nil {
		t.Fatal(err)
	}
	if err := w.Log("SET", []byte("bad\tkey"), nil); err == nil {
		t.Fatal("Log accepted a key with a tab")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	exp, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if exp.Writes != 402 || len(exp.Keys) != 5 || exp.Keys[0] != "{t}:old" {
		t.Fatalf("loaded %d writes, keys %v", exp.Writes, exp.Keys)
	}
	if v, ok := exp.Value["{t}:old"]; !ok || v != "" {
		t.Errorf("{t}:old = %q, want the later empty value", v)
	}
	if exp.Value["{t}:c2"] != strings.Repeat("v", 99) {
		t.Errorf("{t}:c2 = %q, want the last write", exp.Value["{t}:c2"])
	}
}

func TestLoadRejectsMalformedLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rec")
	_ = os.WriteFile(path, []byte("SET\tk\tv\nGARBAGE\n"), 0o644)
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("Load = %v, want an error naming line 2", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "none")); err == nil || !strings.Contains(err.Error(), "verify file") {
		t.Fatalf("Load of a missing file = %v", err)
	}
}
