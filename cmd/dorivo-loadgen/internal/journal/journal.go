package journal

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"sync"
)

// Writer appends acknowledged writes to a file. Safe for concurrent use.
type Writer struct {
	mu   sync.Mutex
	path string
	f    *os.File
	bw   *bufio.Writer
	err  error
}

// Create opens path for appending, creating it if needed.
func Create(path string) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("record file: %w", err)
	}
	return &Writer{path: path, f: f, bw: bufio.NewWriterSize(f, 1<<20)}, nil
}

var errField = errors.New("contains a tab or newline")

// Log appends one acknowledged write. The first write error sticks and is
// returned by Close.
func (w *Writer) Log(op string, key, value []byte) error {
	if bytes.ContainsAny(key, "\t\n") || bytes.ContainsAny(value, "\t\n") {
		return fmt.Errorf("record %q: key or value %w", key, errField)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	w.bw.WriteString(op)
	w.bw.WriteByte('\t')
	w.bw.Write(key)
	w.bw.WriteByte('\t')
	w.bw.Write(value)
	if err := w.bw.WriteByte('\n'); err != nil {
		w.err = fmt.Errorf("record file %s: %w", w.path, err)
	}
	return w.err
}

// Close flushes the buffer and closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.bw.Flush(); err != nil && w.err == nil {
		w.err = fmt.Errorf("record file %s: flush: %w", w.path, err)
	}
	if err := w.f.Close(); err != nil && w.err == nil {
		w.err = fmt.Errorf("record file %s: close: %w", w.path, err)
	}
	return w.err
}

// Expected is what a recorded run says the store must hold.
type Expected struct {
	// Keys in order of first appearance, for a stable report.
	Keys []string
	// Value is each key's last acknowledged value.
	Value map[string]string
	// Writes is the number of lines read.
	Writes int
}

// maxLine bounds one record line: the largest value the load generator
// sends (512 MiB, Redis's proto-max-bulk-len) plus its key and op.
const maxLine = 512<<20 + 64<<10

// Load reads a record file.
func Load(path string) (*Expected, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("verify file: %w", err)
	}
	defer f.Close()
	exp := &Expected{Value: map[string]string{}}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	for line := 1; sc.Scan(); line++ {
		op, rest, ok1 := bytes.Cut(sc.Bytes(), []byte{'\t'})
		key, value, ok2 := bytes.Cut(rest, []byte{'\t'})
		if !ok1 || !ok2 || len(op) == 0 || len(key) == 0 {
			return nil, fmt.Errorf("verify file %s line %d: want OP<TAB>key<TAB>value", path, line)
		}
		k := string(key)
		if _, seen := exp.Value[k]; !seen {
			exp.Keys = append(exp.Keys, k)
		}
		exp.Value[k] = string(value)
		exp.Writes++
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("verify file %s: %w", path, err)
	}
	return exp, nil
}
