package command

import (
	"strconv"
	"strings"
)

// OutputLimit is one class of client-output-buffer-limit: a client whose
// unsent replies pass Hard bytes, or stay past Soft bytes for SoftSeconds,
// is closed. 0 disables a limit, as in Redis.
type OutputLimit struct {
	Hard, Soft  int64
	SoftSeconds int64
}

// Output buffer classes, in Redis's order (CONFIG GET prints "slave").
const (
	ClassNormal = iota
	ClassReplica
	ClassPubsub
	outputClasses
)

var outputClassNames = [outputClasses]string{"normal", "slave", "pubsub"}

// DefaultOutputLimits are Redis 7.0's.
var DefaultOutputLimits = [outputClasses]OutputLimit{
	{}, {Hard: 256 << 20, Soft: 64 << 20, SoftSeconds: 60}, {Hard: 32 << 20, Soft: 8 << 20, SoftSeconds: 60},
}

// Dorivo's own bounds beyond Redis's (README, "Client memory").
const (
	// DefaultPauseBytes is dorivo-client-pause-bytes: a client with more
	// unsent reply bytes runs no further request until it reads.
	DefaultPauseBytes = 1 << 20
	// DefaultOutputTotalBytes is dorivo-client-output-total: over this many
	// unsent bytes on the whole node, clients holding at least
	// PauseMinBytes are paused too.
	DefaultOutputTotalBytes = 256 << 20
	// PauseMinBytes is the least a client must hold to be paused by the
	// node-wide bound: clients that read their replies keep running.
	PauseMinBytes = 64 << 10
)

func formatOutputLimits(l *[outputClasses]OutputLimit) string {
	var b strings.Builder
	for i, c := range l {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(outputClassNames[i] + " " + strconv.FormatInt(c.Hard, 10) + " " +
			strconv.FormatInt(c.Soft, 10) + " " + strconv.FormatInt(c.SoftSeconds, 10))
	}
	return b.String()
}

// ParseOutputLimits applies Redis's client-output-buffer-limit syntax
// ("class hard soft soft-seconds", repeated) to l; it returns Redis's
// error detail, l unchanged on error.
func ParseOutputLimits(l *[outputClasses]OutputLimit, v string) string {
	f := strings.Fields(v)
	if len(f)%4 != 0 {
		return "Wrong number of arguments in buffer limit configuration."
	}
	next := *l
	for i := 0; i < len(f); i += 4 {
		class := -1
		switch strings.ToLower(f[i]) {
		case "normal":
			class = ClassNormal
		case "slave", "replica":
			class = ClassReplica
		case "pubsub":
			class = ClassPubsub
		}
		if class < 0 {
			return "Invalid client class specified in buffer limit configuration."
		}
		hard, ok1 := memToInt(f[i+1])
		soft, ok2 := memToInt(f[i+2])
		secs, err := strconv.ParseInt(f[i+3], 10, 64)
		if !ok1 || !ok2 || err != nil || secs < 0 {
			return "Error in hard, soft or soft_seconds setting in buffer limit configuration."
		}
		next[class] = OutputLimit{Hard: hard, Soft: soft, SoftSeconds: secs}
	}
	*l = next
	return ""
}

func intParam(name string, get func(*Config) *int64, lo, hi int64, mem bool) configParam {
	return configParam{name, func(c *Config) string { return strconv.FormatInt(*get(c), 10) }, func(c *Config, v string) string {
		var n int64
		var ok bool
		if mem {
			n, ok = memToInt(v)
			if !ok {
				return "argument must be a memory value"
			}
		} else {
			var err error
			if n, err = strconv.ParseInt(v, 10, 64); err != nil {
				return "argument couldn't be parsed into an integer"
			}
		}
		if n < lo || n > hi {
			return "argument must be between " + strconv.FormatInt(lo, 10) + " and " + strconv.FormatInt(hi, 10) + " inclusive"
		}
		*get(c) = n
		return ""
	}}
}

func init() {
	configParams = append(configParams,
		configParam{"client-output-buffer-limit", func(c *Config) string { return formatOutputLimits(&c.OutputLimits) },
			func(c *Config, v string) string { return ParseOutputLimits(&c.OutputLimits, v) }},
		intParam("timeout", func(c *Config) *int64 { return &c.Timeout }, 0, 1<<31-1, false),
		intParam("dorivo-client-pause-bytes", func(c *Config) *int64 { return &c.PauseBytes }, 0, 1<<62, true),
		intParam("dorivo-client-output-total", func(c *Config) *int64 { return &c.OutputTotalBytes }, 0, 1<<62, true),
	)
}
