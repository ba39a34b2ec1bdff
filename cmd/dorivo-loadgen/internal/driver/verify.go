package driver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"github.com/dorivo/dorivo/shardstore/slot"
	"net"
	"os"
	"time"

	"github.com/dorivo/dorivo/cmd/dorivo-loadgen/internal/journal"
	"github.com/dorivo/dorivo/cmd/dorivo-loadgen/internal/respclient"
	"github.com/dorivo/dorivo/datapath/wire"
)

// Mismatch is a key whose stored value is not its last acknowledged write.
type Mismatch struct {
	Key  string `json:"key"`
	Want string `json:"want"`
	Got  string `json:"got"`
}

// VerifyResult lists what the store lost or changed.
type VerifyResult struct {
	Writes  int        `json:"writes"`
	Keys    int        `json:"keys"`
	Missing []string   `json:"missing"`
	Wrong   []Mismatch `json:"wrong"`
}

// OK reports whether every key holds its last acknowledged value.
func (v *VerifyResult) OK() bool { return len(v.Missing) == 0 && len(v.Wrong) == 0 }

// verifyBatch is how many GETs verification pipelines per round trip.
const verifyBatch = 256

// Verify reads back every recorded key from cfg.Target and compares it
// with its last acknowledged write.
func Verify(ctx context.Context, cfg *Config, exp *journal.Expected) (*VerifyResult, error) {
	res := &VerifyResult{Writes: exp.Writes, Keys: len(exp.Keys), Missing: []string{}, Wrong: []Mismatch{}}
	check := func(key string, got []byte, found bool) {
		switch want := exp.Value[key]; {
		case !found:
			res.Missing = append(res.Missing, key)
		case string(got) != want:
			res.Wrong = append(res.Wrong, Mismatch{Key: key, Want: want, Got: string(got)})
		}
	}
	var err error
	if cfg.Proto == ProtoUDP {
		err = verifyUDP(ctx, cfg, exp.Keys, check)
	} else {
		err = verifyRESP(ctx, cfg, exp.Keys, check)
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

func verifyRESP(ctx context.Context, cfg *Config, keys []string, check func(string, []byte, bool)) error {
	d := net.Dialer{Timeout: cfg.Timeout}
	nc, err := d.DialContext(ctx, "tcp", cfg.Target)
	if err != nil {
		return &TargetError{Target: cfg.Target, Err: err}
	}
	defer nc.Close()
	if err := auth(nc, cfg); err != nil {
		return &TargetError{Target: cfg.Target, Err: err}
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Now()) })
	defer stop()
	bw := bufio.NewWriterSize(nc, 64<<10)
	rr := respclient.NewReader(nc)
	var rep respclient.Reply
	for i := 0; i < len(keys); i += verifyBatch {
		batch := keys[i:min(i+verifyBatch, len(keys))]
		for _, k := range batch {
			_, _ = bw.Write(respclient.AppendGet(bw.AvailableBuffer(), []byte(k)))
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		for _, k := range batch {
			_ = nc.SetReadDeadline(time.Now().Add(cfg.Timeout))
			if err := rr.ReadReply(&rep); err != nil {
				return fmt.Errorf("verify: GET %s: %w", k, err)
			}
			switch {
			case rep.Kind == respclient.Bulk:
				check(k, rep.Str, !rep.Nil)
			case rep.Kind == respclient.Error:
				return fmt.Errorf("verify: GET %s: %s", k, rep.Str)
			default:
				return fmt.Errorf("verify: GET %s: unexpected reply type %c", k, rep.Kind)
			}
		}
	}
	return nil
}

// verifyUDP asks for one key at a time and retries lost datagrams, so that
// loss is never reported as a missing write.
func verifyUDP(ctx context.Context, cfg *Config, keys []string, check func(string, []byte, bool)) error {
	raddr, err := net.ResolveUDPAddr("udp", cfg.Target)
	if err != nil {
		return &TargetError{Target: cfg.Target, Err: err}
	}
	nc, err := net.DialUDP("udp", nil, raddr)
	if err != nil {
		return &TargetError{Target: cfg.Target, Err: err}
	}
	defer nc.Close()
	buf := make([]byte, wire.MaxDatagram)
	var dg []byte
	var rep wire.Reply
	const tries = 5
	for i, k := range keys {
		id := uint32(i + 1)
		req := &wire.Request{ID: id, Op: wire.OpGet, Key: []byte(k)}
		key, signed := cfg.Keys[string(slot.Tag(req.Key))]
		if signed {
			dg, err = wire.AppendSignedRequest(dg[:0], req, key, time.Now().UnixNano())
		} else {
			dg, err = wire.AppendRequest(dg[:0], req)
		}
		if err != nil {
			return fmt.Errorf("verify: GET %s: %w", k, err)
		}
		answered := false
		for try := 0; try < tries && !answered; try++ {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if _, err := nc.Write(dg); err != nil {
				return &TargetError{Target: cfg.Target, Err: err}
			}
			_ = nc.SetReadDeadline(time.Now().Add(cfg.Timeout / tries))
			for {
				n, err := nc.Read(buf)
				if errors.Is(err, os.ErrDeadlineExceeded) {
					break
				}
				if err != nil {
					return &TargetError{Target: cfg.Target, Err: err}
				}
				if wire.ParseReply(buf[:n], &rep) != nil || rep.ID != id {
					continue // malformed, or a late reply to an earlier try
				}
				if signed && (!rep.Signed || !wire.Verify(buf[:n], key)) {
					continue // forged, or a reply to an earlier try's MAC
				}
				answered = true
				switch rep.Status {
				case wire.StatusOK:
					check(k, rep.Body, true)
				case wire.StatusNotFound:
					check(k, nil, false)
				default:
					return fmt.Errorf("verify: GET %s: status %v %s", k, rep.Status, rep.Body)
				}
				break
			}
		}
		if !answered {
			return fmt.Errorf("verify: GET %s: no reply after %d tries in %v", k, tries, cfg.Timeout)
		}
	}
	return nil
}
