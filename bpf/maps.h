/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Every map of the collection. The agent pins each one under
 * /sys/fs/bpf/dorivo/<name>. */
#ifndef DORIVO_MAPS_H
#define DORIVO_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "dorivo.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct agent_config);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XDP_R_MAX);
	__type(key, __u32);
	__type(value, struct counter);
} xdp_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NUM_SLOTS);
	__type(key, __u32);
	__type(value, struct tenant_counter);
} tenant_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NUM_SLOTS);
	__type(key, __u32);
	__type(value, struct quota_rule);
} quota_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NUM_SLOTS);
	__type(key, __u32);
	__type(value, struct quota_bucket);
} quota_buckets SEC(".maps");

/* Token buckets of the OVER_QUOTA replies, per slot; the rate and burst
 * are OVER_QUOTA_REPLY_RATE and _BURST. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NUM_SLOTS);
	__type(key, __u32);
	__type(value, struct quota_bucket);
} reply_buckets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct acl_key);
	__type(value, __u8);
} acl SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TC_MAX);
	__type(key, __u32);
	__type(value, struct counter);
} tc_stats SEC(".maps");

/* Slot -> owner event loop; mirrors the datapath's slot table. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NUM_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} slot_loop SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY);
	__uint(max_entries, MAX_LOOPS);
	__type(key, __u32);
	__type(value, __u64);
} udp_sockets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY);
	__uint(max_entries, MAX_LOOPS);
	__type(key, __u32);
	__type(value, __u64);
} tcp_sockets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RP_MAX);
	__type(key, __u32);
	__type(value, __u64);
} reuseport_stats SEC(".maps");

/* Tenant tag -> its signing keys and unsigned policy (agent-written).
 * Not preallocated: an update swaps in a new element and frees the old
 * one after RCU, so XDP never reads a half-written key pair. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NUM_SLOTS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct auth_tag);
	__type(value, struct auth_entry);
} tenant_auth SEC(".maps");

/* Slot -> how many tenant_auth entries have a tag in that slot. 0: no
 * tenant of the slot has an entry, and the global policy applies without
 * a lookup of the tag, which costs more than the rest of the path. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NUM_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} auth_slots SEC(".maps");

/* Slot -> why its datagrams are shed now (struct shed_entry; agent-written
 * from breakers and loop load). An array: every slot has an entry, and the
 * lookup is one index. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NUM_SLOTS);
	__type(key, __u32);
	__type(value, struct shed_entry);
} slot_shed SEC(".maps");

/* Per-CPU copy of a signed datagram, so SipHash reads words at offsets
 * the verifier can bound (the packet may also sit in XDP frags). XDP runs
 * without migration, so one CPU's buffer has one user at a time. The
 * tail slack lets the last partial word be read as a whole u64. */
struct mac_buf {
	__u8 b[PROTO_MAX_MAC_INPUT + PROTO_MAC_LEN + 8];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mac_buf);
} mac_scratch SEC(".maps");

#endif /* DORIVO_MAPS_H */
