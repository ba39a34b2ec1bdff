package dgram

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dorivo/dorivo/datapath/wire"
	"github.com/dorivo/dorivo/shardstore/slot"
)

// Options configure a Client.
type Options struct {
	// Tenant is the tenant tag every key must carry.
	Tenant string
	// Key signs requests and verifies replies. The zero Key sends
	// unsigned (v1) requests, for tenants the node lets send unsigned.
	Key wire.Key
	// Timeout bounds the wait for each attempt's reply; 0 means 250 ms.
	Timeout time.Duration
	// Attempts is how many requests one call sends at most; 0 means 3.
	Attempts int
	// Now is the clock of the timestamps; nil means time.Now.
	Now func() time.Time
}

// Errors a call returns; ServerError carries the node's message.
var (
	// ErrWrongTenant: the key's hash tag is not the client's tenant.
	ErrWrongTenant = errors.New("dgram: the key's hash tag is not the client's tenant")
	// ErrTimeout: no valid reply to any attempt. With a signed client
	// this is also what a wrong key looks like: the node drops what does
	// not verify, and never answers it.
	ErrTimeout = errors.New("dgram: no valid reply")
	// ErrOverQuota: the tenant is over its rate.
	ErrOverQuota = errors.New("dgram: tenant over quota")
	// ErrUnavailable: the shard cannot serve now (a breaker is open, or
	// its loop is overloaded). The error returned is an *UnavailableError
	// that matches it with errors.Is and carries the node's retry-after.
	ErrUnavailable = errors.New("dgram: shard unavailable")
)

// UnavailableError is an UNAVAILABLE reply. RetryAfter is how long the node
// asks the client to wait; 0 when the reply carried none.
type UnavailableError struct{ RetryAfter time.Duration }

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("%v, retry after %v", ErrUnavailable, e.RetryAfter)
}

// Is makes errors.Is(err, ErrUnavailable) hold.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// ServerError is a STATUS_ERROR reply, e.g. a value too large for datagrams.
type ServerError struct{ Msg string }

func (e *ServerError) Error() string { return "dgram: node refused: " + e.Msg }

// Stats count replies a Client threw away.
type Stats struct {
	// Forged replies claimed to answer a request but their MAC did not
	// verify, or they were unsigned answers to signed requests.
	Forged uint64
	// Stale replies answered some other (earlier) request.
	Stale uint64
}

// Client sends one tenant's requests to one node.
type Client struct {
	mu     sync.Mutex // one request at a time: buffers and the socket
	conn   *net.UDPConn
	opts   Options
	nextID uint32
	out    []byte
	in     []byte
	macs   []uint64 // MACs of the current call's attempts

	forged, stale atomic.Uint64
}

// Dial returns a Client of opts.Tenant for the node at addr (host:port).
func Dial(addr string, opts Options) (*Client, error) {
	if len(opts.Tenant) < 1 || len(opts.Tenant) > wire.MaxTagLen {
		return nil, fmt.Errorf("dgram: tenant tag must be 1 to %d bytes", wire.MaxTagLen)
	}
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("dgram: resolve %s: %w", addr, err)
	}
	conn, err := net.DialUDP("udp", nil, ua)
	if err != nil {
		return nil, fmt.Errorf("dgram: dial %s: %w", addr, err)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 250 * time.Millisecond
	}
	if opts.Attempts <= 0 {
		opts.Attempts = 3
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Client{conn: conn, opts: opts, in: make([]byte, wire.MaxDatagram+1)}, nil
}

// Close closes the socket.
func (c *Client) Close() error { return c.conn.Close() }

// Stats returns what the Client threw away so far.
func (c *Client) Stats() Stats { return Stats{Forged: c.forged.Load(), Stale: c.stale.Load()} }

// Get returns key's value; found is false when the key does not exist.
func (c *Client) Get(ctx context.Context, key []byte) (value []byte, found bool, err error) {
	rep, err := c.do(ctx, wire.Request{Op: wire.OpGet, Key: key})
	if err != nil {
		return nil, false, err
	}
	if rep.Status == wire.StatusNotFound {
		return nil, false, nil
	}
	return bytes.Clone(rep.Body), true, statusErr(rep)
}

// Set stores value under key (at most wire.MaxValueLen bytes; larger
// values go over TCP).
func (c *Client) Set(ctx context.Context, key, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	rep, err := c.do(ctx, wire.Request{Op: wire.OpSet, Key: key, Value: value})
	if err != nil {
		return err
	}
	return statusErr(rep)
}

// Del deletes key; deleted is false when it did not exist. A retried DEL
// whose first reply was lost reports false for a key it did delete.
func (c *Client) Del(ctx context.Context, key []byte) (deleted bool, err error) {
	rep, err := c.do(ctx, wire.Request{Op: wire.OpDel, Key: key})
	if err != nil {
		return false, err
	}
	if rep.Status == wire.StatusNotFound {
		return false, nil
	}
	return true, statusErr(rep)
}

func statusErr(rep *wire.Reply) error {
	switch rep.Status {
	case wire.StatusOK, wire.StatusNotFound:
		return nil
	case wire.StatusOverQuota:
		return ErrOverQuota
	case wire.StatusUnavailable:
		d, _ := rep.RetryAfter()
		return &UnavailableError{RetryAfter: d}
	}
	return &ServerError{Msg: string(rep.Body)}
}

// do sends r up to Attempts times and returns the first valid reply to
// any attempt. The reply's Body aliases the Client's buffer.
func (c *Client) do(ctx context.Context, r wire.Request) (*wire.Reply, error) {
	if !bytes.Equal(slot.Tag(r.Key), []byte(c.opts.Tenant)) {
		return nil, ErrWrongTenant
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextID++
	r.ID, r.Tag = c.nextID, []byte(c.opts.Tenant)
	c.macs = c.macs[:0]
	for range c.opts.Attempts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := c.send(&r); err != nil {
			return nil, err
		}
		rep, err := c.await(ctx, r.ID, r.Op)
		if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			return rep, err
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	return nil, ErrTimeout
}

// send signs r afresh (a new timestamp each attempt) and sends it.
func (c *Client) send(r *wire.Request) error {
	var err error
	if c.opts.Key.IsZero() {
		c.out, err = wire.AppendRequest(c.out[:0], r)
	} else {
		c.out, err = wire.AppendSignedRequest(c.out[:0], r, c.opts.Key, c.opts.Now().UnixNano())
		if err == nil { // the MAC is the last 8 bytes, little-endian
			c.macs = append(c.macs, binary.LittleEndian.Uint64(c.out[len(c.out)-wire.MACLen:]))
		}
	}
	if err != nil {
		return fmt.Errorf("dgram: encode %v: %w", r.Op, err)
	}
	if _, err := c.conn.Write(c.out); err != nil {
		return fmt.Errorf("dgram: send: %w", err)
	}
	return nil
}

// await reads until a valid reply to request id arrives or the attempt's
// deadline passes (os.ErrDeadlineExceeded).
func (c *Client) await(ctx context.Context, id uint32, op wire.Opcode) (*wire.Reply, error) {
	deadline := time.Now().Add(c.opts.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := c.conn.SetReadDeadline(deadline); err != nil {
		return nil, fmt.Errorf("dgram: %w", err)
	}
	rep := new(wire.Reply)
	for {
		n, err := c.conn.Read(c.in)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return nil, err
			}
			return nil, fmt.Errorf("dgram: receive: %w", err)
		}
		b := c.in[:n]
		if wire.ParseReply(b, rep) != nil || rep.ID != id || rep.Op != op {
			c.stale.Add(1)
			continue
		}
		if !c.authentic(b, rep) {
			c.forged.Add(1)
			continue
		}
		return rep, nil
	}
}

// authentic reports whether rep (datagram b) is the node's answer: for a
// signed client, signed, bound to one of this call's requests, and
// verifying under the key.
func (c *Client) authentic(b []byte, rep *wire.Reply) bool {
	if c.opts.Key.IsZero() {
		return !rep.Signed
	}
	if !rep.Signed || !wire.Verify(b, c.opts.Key) {
		return false
	}
	for _, m := range c.macs {
		if m == rep.RequestMAC {
			return true
		}
	}
	return false
}
