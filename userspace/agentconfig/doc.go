// Package agentconfig is the agent's configuration and its mirror in the
// BPF maps.
//
// The configuration comes from flags (ports, loops, repeatable --quota and
// --allow) and optionally a JSON file that is re-read on SIGHUP. Sync makes
// the maps equal to it: config[0] (ports, loops, acl_enabled), quota_rules
// (tenant tag -> slot -> token bucket), acl (source prefixes, IPv4 as
// IPv4-mapped IPv6) and slot_loop (slot -> owner loop). What the
// configuration no longer has is removed from the maps, so a reload is a
// full reconciliation, not an append.
//
// Datagram authentication lives here too: per-tenant SipHash keys
// (--tenant-key TENANT=HEX or TENANT=@FILE, or the file's "keys"), the
// unsigned policy (per tenant and global) and the replay window go into
// tenant_auth and config[0]. The map remembers a rotation: a key that
// changes moves the old one to a second slot that verifies for
// KeyOverlap. LoadAuthTable reads the result back for the event loops.
// Keys never print: wire.Key redacts itself, and Config summarises.
//
// Reloads: CheckReload refuses a configuration that would remove every
// allow prefix unless it says allow_all, and Changes lists what a reload
// changed (without key material) for the log.
//
// The order of writes avoids transient denials: new ACL entries go in
// before acl_enabled is raised and stale ones leave after, and a tenant's
// bucket is reset only when its rule changes (an empty bucket is refilled
// to its burst by the XDP program on first use).
package agentconfig
