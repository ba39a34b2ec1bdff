package main

import (
	"errors"
	"flag"
	"math"
	"sync/atomic"

	"github.com/dorivo/dorivo/datapath/command"
	"github.com/dorivo/dorivo/datapath/core"
	"github.com/dorivo/dorivo/userspace/agentconfig"
)

// clientOptions are the client memory and idleness flags, with Redis 7.0's
// defaults and Dorivo's own bounds (README, "Client memory").
type clientOptions struct {
	timeout      int64 // timeout, seconds (0: never)
	outputLimits [3]command.OutputLimit
	pauseBytes   int64 // dorivo-client-pause-bytes
	outputTotal  int64 // dorivo-client-output-total
}

func defaultClientOptions() clientOptions {
	return clientOptions{outputLimits: command.DefaultOutputLimits,
		pauseBytes: command.DefaultPauseBytes, outputTotal: command.DefaultOutputTotalBytes}
}

// outputLimitValue is --client-output-buffer-limit "CLASS HARD SOFT SECS"
// (Redis's syntax; repeatable, one class or several per flag).
type outputLimitValue struct{ l *[3]command.OutputLimit }

func (v outputLimitValue) String() string { return "" }

func (v outputLimitValue) Set(s string) error {
	if msg := command.ParseOutputLimits(v.l, s); msg != "" {
		return errors.New(msg)
	}
	return nil
}

func (o *clientOptions) register(fs *flag.FlagSet) {
	fs.Var(rangeValue{&o.timeout, 0, math.MaxInt32}, "timeout", "close RESP clients idle for more than this many seconds (0: never; CONFIG SET timeout changes it)")
	fs.Var(outputLimitValue{&o.outputLimits}, "client-output-buffer-limit", "Redis's \"CLASS HARD SOFT SOFT-SECONDS\" (classes normal, replica, pubsub; repeatable): close a client whose unsent replies pass HARD, or SOFT for SOFT-SECONDS (default normal 0 0 0)")
	fs.Var(memoryValue{&o.pauseBytes}, "client-pause-bytes", "pause a RESP client whose unsent replies pass this many bytes: it runs no request and is not read until it has read half of them (0: never; CONFIG SET dorivo-client-pause-bytes)")
	fs.Var(memoryValue{&o.outputTotal}, "client-output-total", "bound on the unsent replies of all clients: over it, clients holding 64 KiB or more are paused too (0: none; CONFIG SET dorivo-client-output-total)")
}

// apply puts the flags into the node's starting configuration.
func (o *clientOptions) apply(c *command.Config) {
	c.Timeout, c.OutputLimits = o.timeout, o.outputLimits
	c.PauseBytes, c.OutputTotalBytes = o.pauseBytes, o.outputTotal
}

// storeStaleReads publishes the tenants whose reads may fall back to the
// local replica (datapath/core, replicated.go).
func storeStaleReads(p *atomic.Pointer[core.TenantSet], c *agentconfig.Config) {
	ts := core.TenantSet{}
	for _, t := range c.StaleReads {
		ts[t] = struct{}{}
	}
	p.Store(&ts)
}

// storeQuotas publishes the tenants' quotas to the loops, which enforce
// them on RESP requests as well (datapath/core, clients.go).
func storeQuotas(p *atomic.Pointer[core.Quotas], c *agentconfig.Config) {
	qs := core.Quotas{}
	for _, q := range c.Quotas {
		qs[q.Tenant] = core.Quota{Rate: q.Rate, Burst: q.Burst}
	}
	p.Store(&qs)
}
