package respclient

import (
	"bufio"
	"errors"
	"fmt"
	"github.com/dorivo/dorivo/datapath/resp"
	"io"
)

// Kind is a reply's RESP2 type byte.
type Kind byte

// RESP2 reply kinds.
const (
	Simple  Kind = '+'
	Error   Kind = '-'
	Integer Kind = ':'
	Bulk    Kind = '$'
	Array   Kind = '*'
)

// Limits a reply may not exceed; they match redis-server's defaults
// (proto-max-bulk-len 512 MiB) and guard the client against a hostile or
// broken peer.
const (
	MaxBulkLen  = 512 << 20
	MaxArrayLen = 1 << 20
	MaxDepth    = 16
)

// ErrProtocol marks a malformed reply; the connection is unusable after it.
var ErrProtocol = errors.New("resp protocol error")

// Reply is one decoded reply. Str aliases the Reader's buffer and is valid
// until the next ReadReply.
type Reply struct {
	Kind Kind
	// Str holds a simple string, an error message or a bulk payload.
	Str []byte
	// Int holds an integer reply or an array's element count.
	Int int64
	// Nil is set for the null bulk string and the null array.
	Nil bool
}

// Reader decodes replies from a byte stream.
type Reader struct {
	br   *bufio.Reader
	bulk []byte
}

// NewReader returns a Reader over r with a 64 KiB buffer; a reply's header
// line may not exceed it.
func NewReader(r io.Reader) *Reader { return &Reader{br: bufio.NewReaderSize(r, 64<<10)} }

// ReadReply reads the next reply. Array elements are read, checked and
// discarded: the load generator only sends commands whose replies are not
// arrays, and only counts them if a server answers with one.
func (r *Reader) ReadReply(rep *Reply) error { return r.read(rep, 0) }

func (r *Reader) read(rep *Reply, depth int) error {
	line, err := r.line()
	if err != nil {
		return err
	}
	*rep = Reply{Kind: Kind(line[0])}
	body := line[1:]
	switch rep.Kind {
	case Simple, Error:
		rep.Str = body
		return nil
	case Integer:
		n, err := parseInt(body)
		if err != nil {
			return err
		}
		rep.Int = n
		return nil
	case Bulk:
		n, err := parseInt(body)
		if err != nil {
			return err
		}
		if n == -1 {
			rep.Nil = true
			return nil
		}
		if n < 0 || n > MaxBulkLen {
			return fmt.Errorf("%w: bulk length %d", ErrProtocol, n)
		}
		need := int(n) + 2
		if cap(r.bulk) < need {
			r.bulk = make([]byte, need)
		}
		buf := r.bulk[:need]
		if _, err := io.ReadFull(r.br, buf); err != nil {
			return noEOF(err)
		}
		if buf[n] != '\r' || buf[n+1] != '\n' {
			return fmt.Errorf("%w: bulk payload not followed by CRLF", ErrProtocol)
		}
		rep.Str = buf[:n]
		return nil
	case Array:
		n, err := parseInt(body)
		if err != nil {
			return err
		}
		if n == -1 {
			rep.Nil = true
			return nil
		}
		if n < 0 || n > MaxArrayLen {
			return fmt.Errorf("%w: array length %d", ErrProtocol, n)
		}
		if depth >= MaxDepth {
			return fmt.Errorf("%w: arrays nested deeper than %d", ErrProtocol, MaxDepth)
		}
		var elem Reply
		for range n {
			if err := r.read(&elem, depth+1); err != nil {
				return err
			}
		}
		*rep = Reply{Kind: Array, Int: n}
		return nil
	}
	return fmt.Errorf("%w: unknown reply type %q", ErrProtocol, line[0])
}

// line returns the next CRLF-terminated line without the CRLF.
func (r *Reader) line() ([]byte, error) {
	line, err := r.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return nil, fmt.Errorf("%w: reply line longer than %d bytes", ErrProtocol, r.br.Size())
	}
	if err != nil {
		return nil, noEOF(err)
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("%w: line %q not terminated by CRLF or empty", ErrProtocol, line)
	}
	return line[:len(line)-2], nil
}

// noEOF turns an EOF inside a reply into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// parseInt parses a decimal integer as Redis writes it, with the server's
// own parser (resp.ParseInt: string2ll's rules, no allocation).
func parseInt(b []byte) (int64, error) {
	n, ok := resp.ParseInt(b)
	if !ok {
		return 0, fmt.Errorf("%w: bad integer %q", ErrProtocol, b)
	}
	return n, nil
}
