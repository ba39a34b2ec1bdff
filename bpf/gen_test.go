package bpf_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dorivo/dorivo/internal/testenv"
)

// generateArgs returns the arguments of the //go:generate line in gen.go,
// so the test runs exactly what `go generate` runs.
func generateArgs(tb testing.TB) []string {
	tb.Helper()
	src, err := os.ReadFile("gen.go")
	if err != nil {
		tb.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(src), "\n") {
		if rest, ok := strings.CutPrefix(l, "//go:generate "); ok {
			lines = append(lines, rest)
		}
	}
	if len(lines) != 1 {
		tb.Fatalf("gen.go has %d //go:generate lines, want 1", len(lines))
	}
	return splitWords(tb, lines[0])
}

// splitWords splits a go:generate line into words: blanks separate, and a
// double-quoted string is one word (as cmd/go does).
func splitWords(tb testing.TB, s string) []string {
	tb.Helper()
	var words []string
	var w strings.Builder
	inWord, quoted := false, false
	for _, c := range s {
		switch {
		case c == '"':
			quoted = !quoted
			inWord = true
		case (c == ' ' || c == '\t') && !quoted:
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteRune(c)
			inWord = true
		}
	}
	if quoted {
		tb.Fatalf("unterminated quote in %q", s)
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

func TestGeneratedBindingsAreFresh(t *testing.T) {
	args := generateArgs(t)
	if len(args) < 3 || args[0] != "go" || args[1] != "tool" || args[2] != "bpf2go" {
		t.Fatalf("go:generate line %q does not run go tool bpf2go", args)
	}
	cc := "clang"
	for i, a := range args {
		if a == "-cc" && i+1 < len(args) {
			cc = args[i+1]
		}
	}
	testenv.RequireCommand(t, cc)
	testenv.RequireCommand(t, "llvm-strip")

	out := t.TempDir()
	cmdArgs := append([]string{"tool", "bpf2go", "-output-dir", out}, args[3:]...)
	cmd := exec.Command("go", cmdArgs...)
	// go generate sets these; bpf2go names the package from GOPACKAGE.
	cmd.Env = append(os.Environ(), "GOPACKAGE=bpf", "GOFILE=gen.go")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(cmdArgs, " "), err, b)
	}
	generated, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(generated) == 0 {
		t.Fatal("bpf2go generated nothing")
	}
	for _, e := range generated {
		fresh, err := os.ReadFile(filepath.Join(out, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		committed, err := os.ReadFile(e.Name())
		if err != nil {
			t.Errorf("%s is generated but not in bpf/: %v", e.Name(), err)
			continue
		}
		if !bytes.Equal(fresh, committed) {
			t.Errorf("bpf/%s is stale: run `go generate ./bpf/` and commit it with the sources", e.Name())
		}
	}
}
