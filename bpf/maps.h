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

#endif /* DORIVO_MAPS_H */
