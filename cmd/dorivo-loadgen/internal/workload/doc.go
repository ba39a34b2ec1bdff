// Package workload decides what the load generator sends: which operation,
// which keys, which values.
//
// Keys are tenant-tagged, `{tenantT}:key:M`, so every key has a hash tag and
// the tag is the tenant: all keys of a tenant share one slot and so one
// owner event loop. A connection addresses a Scope, a subset of the keys:
// the tenants whose slots one loop owns (shard-aware TCP), and with
// recording a disjoint share of those keys, so that no two connections ever
// write the same key and the last acknowledged write in the record is the
// one the server applied last.
package workload
