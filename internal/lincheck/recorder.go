package lincheck

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/redis/go-redis/v9"
)

// Recorder collects a history from many clients. All its methods are safe
// for concurrent use. Times are nanoseconds since the recorder was made, read
// from Go's monotonic clock, so wall-clock steps cannot reorder operations.
type Recorder struct {
	start time.Time // holds a monotonic reading; time.Since uses it

	mu          sync.Mutex
	ops         []porcupine.Operation // guarded by mu
	annotations []porcupine.Annotation
	nextID      int // next porcupine ClientId to hand out
}

// NewRecorder starts an empty history whose clock starts now.
func NewRecorder() *Recorder { return &Recorder{start: time.Now()} }

// Now is the recorder's clock, for annotating faults.
func (r *Recorder) Now() int64 { return int64(time.Since(r.start)) }

// History returns a copy of the operations recorded so far.
func (r *Recorder) History() []porcupine.Operation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]porcupine.Operation(nil), r.ops...)
}

// Annotate marks a fault (or any event) from start to end on the recorder's
// clock; the annotations show in the visualization Check writes.
func (r *Recorder) Annotate(description string, start, end int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.annotations = append(r.annotations, porcupine.Annotation{
		Tag: "faults", Start: start, End: end, Description: description,
	})
}

// Annotations returns a copy of the annotations recorded so far.
func (r *Recorder) Annotations() []porcupine.Annotation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]porcupine.Annotation(nil), r.annotations...)
}

func (r *Recorder) newID() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nextID++
	return r.nextID - 1
}

func (r *Recorder) add(op porcupine.Operation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, op)
}

// Client is one simulated client: one *redis.Client used by one goroutine at
// a time, so that its operations form a sequential process.
type Client struct {
	rec *Recorder
	rdb *redis.Client
	id  int // porcupine ClientId; only the owning goroutine changes it
	tag int // the first id, fixed: makes the values this client writes unique
	seq int // writes issued, for unique values
}

// NewClient makes a go-redis client from opts with retries disabled and
// records through it. Retries must be off (MaxRetries -1; 0 means the
// default of 3): go-redis resends a command after a timeout or a network
// error, so one recorded INCR could be applied twice, and a retried write
// would hide the first attempt's ambiguous outcome from the history.
func (r *Recorder) NewClient(opts *redis.Options) *Client {
	o := *opts
	o.MaxRetries = -1
	id := r.newID()
	return &Client{rec: r, rdb: redis.NewClient(&o), id: id, tag: id}
}

// Redis is the underlying client, for commands that are not recorded.
func (c *Client) Redis() *redis.Client { return c.rdb }

// Close closes the underlying client.
func (c *Client) Close() error { return c.rdb.Close() }

// Get records GET key. A failed read is not recorded: it changed nothing.
func (c *Client) Get(ctx context.Context, key string) Output {
	call := c.rec.Now()
	v, err := c.rdb.Get(ctx, key).Result()
	ret := c.rec.Now()
	out := classify(err)
	switch {
	case errors.Is(err, redis.Nil):
		out = Output{Status: StatusOK, Nil: true}
	case err == nil:
		out.Value = v
	}
	if out.Status == StatusOK {
		c.record(Input{Kind: KindGet, Key: key}, out, call, ret)
	}
	return out
}

// Set records SET key value.
func (c *Client) Set(ctx context.Context, key, value string) Output {
	call := c.rec.Now()
	err := c.rdb.Set(ctx, key, value, 0).Err()
	ret := c.rec.Now()
	out := classify(err)
	c.record(Input{Kind: KindSet, Key: key, Value: value}, out, call, ret)
	return out
}

// SetGet records SET key value GET, which returns the old value.
func (c *Client) SetGet(ctx context.Context, key, value string) Output {
	call := c.rec.Now()
	old, err := c.rdb.SetArgs(ctx, key, value, redis.SetArgs{Get: true}).Result()
	ret := c.rec.Now()
	out := classify(err)
	switch {
	case errors.Is(err, redis.Nil):
		out = Output{Status: StatusOK, Nil: true}
	case err == nil:
		out.Value = old
	}
	c.record(Input{Kind: KindSetGet, Key: key, Value: value}, out, call, ret)
	return out
}

// Incr records INCR key.
func (c *Client) Incr(ctx context.Context, key string) Output {
	call := c.rec.Now()
	n, err := c.rdb.Incr(ctx, key).Result()
	ret := c.rec.Now()
	out := classify(err)
	if err == nil {
		out.Int = n
	} else if out.Status == StatusFailed && isNotInteger(err) {
		out.Status = StatusNotInteger
	}
	c.record(Input{Kind: KindIncr, Key: key}, out, call, ret)
	return out
}

func (c *Client) record(in Input, out Output, call, ret int64) {
	c.rec.add(porcupine.Operation{ClientId: c.id, Input: in, Call: call, Output: out, Return: ret})
	if out.Status == StatusUnknown {
		// The operation stays pending to the end of the history, so this
		// process is gone (as in Jepsen); go on as a new one.
		c.id = c.rec.newID()
	}
}

// classify maps a command's error to an outcome. Only errors that prove the
// command was not (and will not be) applied are definite; anything else is
// unknown, which is always safe (it only weakens the check).
func classify(err error) Output {
	if err == nil || errors.Is(err, redis.Nil) {
		return Output{Status: StatusOK}
	}
	out := Output{Status: StatusUnknown, Err: err.Error()}
	var rerr redis.Error
	switch {
	case errors.As(err, &rerr):
		// An error reply: definite, unless it says it is not.
		if !strings.HasPrefix(rerr.Error(), "TIMEOUT") {
			out.Status = StatusFailed
		}
	case errors.Is(err, redis.ErrClosed), errors.Is(err, redis.ErrPoolTimeout),
		errors.Is(err, redis.ErrPoolExhausted), isDialError(err):
		// The command never reached a connection.
		out.Status = StatusFailed
	}
	return out
}

// isDialError reports a failure to connect: nothing was sent.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// isNotInteger reports INCR's refusals, which the model checks.
func isNotInteger(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "ERR value is not an integer") ||
		strings.HasPrefix(msg, "ERR increment or decrement would overflow")
}
