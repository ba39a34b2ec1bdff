package workload

import (
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/dorivo/dorivo/shardstore/slot"
)

// Op is an operation the load generator sends.
type Op uint8

// Operations.
const (
	Get Op = iota
	Set
	MSet
	NumOps
)

var opNames = [NumOps]string{"GET", "SET", "MSET"}

func (o Op) String() string {
	if o < NumOps {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// Dist is a key popularity distribution.
type Dist uint8

// Distributions.
const (
	Uniform Dist = iota
	Zipf
)

// Config is the workload mix, as given by the flags.
type Config struct {
	Tenants   int // distinct hash tags
	Keyspace  int // keys in total, split evenly over tenants
	ValueSize int
	ReadRatio float64 // share of GETs
	MSetRatio float64 // share of MSETs; SETs get the rest
	MSetKeys  int     // key/value pairs per MSET
	Dist      Dist
	ZipfS     float64 // Zipf exponent, > 1
	Seed      uint64
}

// Validate reports the first inconsistent setting.
func (c *Config) Validate() error {
	switch {
	case c.Tenants < 1:
		return fmt.Errorf("tenants %d: want at least 1", c.Tenants)
	case c.Keyspace < c.Tenants:
		return fmt.Errorf("keyspace %d: want at least one key per tenant (%d tenants)", c.Keyspace, c.Tenants)
	case c.ValueSize < 0:
		return fmt.Errorf("value size %d: want >= 0", c.ValueSize)
	case c.ReadRatio < 0 || c.ReadRatio > 1:
		return fmt.Errorf("read ratio %v: want 0..1", c.ReadRatio)
	case c.MSetRatio < 0 || c.MSetRatio > 1:
		return fmt.Errorf("mset ratio %v: want 0..1", c.MSetRatio)
	case c.ReadRatio+c.MSetRatio > 1+1e-9:
		return fmt.Errorf("read ratio %v + mset ratio %v exceed 1", c.ReadRatio, c.MSetRatio)
	case c.MSetKeys < 1:
		return fmt.Errorf("mset keys %d: want at least 1", c.MSetKeys)
	case c.Dist == Zipf && !(c.ZipfS > 1):
		return fmt.Errorf("zipf s %v: want > 1", c.ZipfS)
	}
	return nil
}

// PerTenant is the number of keys of each tenant.
func (c *Config) PerTenant() int { return c.Keyspace / c.Tenants }

// Key is one key: tenant T's M-th key.
type Key struct{ T, M int32 }

// AppendTag appends tenant t's hash tag.
func AppendTag(dst []byte, t int32) []byte {
	dst = append(dst, "tenant"...)
	return strconv.AppendInt(dst, int64(t), 10)
}

// AppendKey appends the key's name, `{tenantT}:key:M`.
func AppendKey(dst []byte, k Key) []byte {
	dst = append(dst, '{')
	dst = AppendTag(dst, k.T)
	dst = append(dst, "}:key:"...)
	return strconv.AppendInt(dst, int64(k.M), 10)
}

// AppendValue appends a value of size bytes that carries id in hex, padded
// with 'x'; values shorter than the id keep its low digits. Distinct ids
// give distinct values, so verification can tell which write a key holds.
func AppendValue(dst []byte, id uint64, size int) []byte {
	var hex [16]byte
	h := strconv.AppendUint(hex[:0], id, 16)
	if len(h) > size {
		h = h[len(h)-size:]
	}
	dst = append(dst, h...)
	for range size - len(h) {
		dst = append(dst, 'x')
	}
	return dst
}

// TenantOwners groups tenants by the event loop that owns their slot, as
// slot.NewTable(loops) assigns slots. Loops that own no tenant get none.
func TenantOwners(tenants, loops int) ([][]int32, error) {
	table, err := slot.NewTable(loops)
	if err != nil {
		return nil, err
	}
	owners := make([][]int32, loops)
	var tag []byte
	for t := range int32(tenants) {
		tag = AppendTag(tag[:0], t)
		o := table.Owner(slot.OfTag(tag))
		owners[o] = append(owners[o], t)
	}
	return owners, nil
}

// Scope is the keys one connection addresses: tenants' keys M with
// M % Parts == Part.
type Scope struct {
	Tenants     []int32
	Part, Parts int
}

// Picker draws operations and keys within a Scope. It is not safe for
// concurrent use: each connection has its own.
type Picker struct {
	cfg     *Config
	scope   Scope
	mCount  int // keys per tenant in this scope's part
	size    int // keys in the scope
	rng     *rand.Rand
	zipf    *rand.Zipf
	msetLen int
}

// NewPicker returns a Picker for scope, seeded with seed.
func NewPicker(cfg *Config, scope Scope, seed uint64) (*Picker, error) {
	if len(scope.Tenants) == 0 {
		return nil, fmt.Errorf("workload: empty scope")
	}
	if scope.Parts < 1 || scope.Part < 0 || scope.Part >= scope.Parts {
		return nil, fmt.Errorf("workload: part %d of %d", scope.Part, scope.Parts)
	}
	per := cfg.PerTenant()
	mCount := (per - scope.Part + scope.Parts - 1) / scope.Parts
	if mCount < 1 {
		return nil, fmt.Errorf("workload: %d keys per tenant cannot be split into %d disjoint parts; raise --keyspace", per, scope.Parts)
	}
	p := &Picker{
		cfg:    cfg,
		scope:  scope,
		mCount: mCount,
		size:   mCount * len(scope.Tenants),
		rng:    rand.New(rand.NewPCG(cfg.Seed, seed)),
	}
	p.msetLen = min(cfg.MSetKeys, mCount)
	if cfg.Dist == Zipf {
		p.zipf = rand.NewZipf(p.rng, cfg.ZipfS, 1, uint64(p.size-1))
	}
	return p, nil
}

// Size is the number of keys in the picker's scope.
func (p *Picker) Size() int { return p.size }

// Next draws an operation and its keys into keys (reused), and returns
// them. An MSET's keys all belong to one tenant, so they share a slot, as
// Redis Cluster requires of multi-key commands.
func (p *Picker) Next(keys []Key) (Op, []Key) {
	u := p.rng.Float64()
	op := Set
	switch {
	case u < p.cfg.ReadRatio:
		op = Get
	case u < p.cfg.ReadRatio+p.cfg.MSetRatio:
		op = MSet
	}
	var rank int
	if p.zipf != nil {
		rank = int(p.zipf.Uint64())
	} else {
		rank = p.rng.IntN(p.size)
	}
	// Consecutive ranks cycle through the tenants, so a Zipf hot set is
	// spread over all tenants instead of being one tenant's keys.
	nt := len(p.scope.Tenants)
	ti, j := rank%nt, rank/nt
	keys = keys[:0]
	n := 1
	if op == MSet {
		n = p.msetLen
	}
	for i := range n {
		jj := (j + i) % p.mCount
		keys = append(keys, Key{T: p.scope.Tenants[ti], M: int32(p.scope.Part + jj*p.scope.Parts)})
	}
	return op, keys
}
