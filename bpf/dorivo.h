/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Constants and types shared by the BPF programs and user space.
 *
 * This header is the single source: bpf2go turns every enum and struct
 * named in bpf/gen.go into Go types, so nothing here is typed twice.
 * All multi-byte wire fields are big-endian (network order).
 */
#ifndef DORIVO_H
#define DORIVO_H

#include <linux/types.h>
#include <linux/bpf.h>

/* Debian 12 ships 6.1 uapi headers; TCX return codes arrived in 6.6. */
#ifndef TCX_NEXT
#define TCX_NEXT -1
#define TCX_PASS 0
#define TCX_DROP 2
#endif

/* Datagram protocol constants (docs/protocol.md). */
enum proto {
	PROTO_MAGIC = 0xD017,
	PROTO_VERSION = 1,        /* unsigned requests and replies */
	PROTO_VERSION_SIGNED = 2, /* a 16-byte trailer: timestamp (or echo) and MAC */
	PROTO_HDR_LEN = 16,
	/* v2 trailer: request: timestamp (BE u64 Unix ns) + MAC; reply: the
	 * request's MAC + the reply's MAC. The MAC is SipHash-2-4, 8 bytes. */
	PROTO_TRAILER_LEN = 16,
	PROTO_MAC_LEN = 8,
	PROTO_MAX_TAG_LEN = 64,
	/* Largest SET value the datagram protocol accepts; larger gets
	 * STATUS_ERROR telling the client to use TCP. Keeps every datagram
	 * inside one frame: XDP cannot parse IP fragments. */
	PROTO_MAX_VALUE_LEN = 1024,
	PROTO_MAX_KEY_LEN = 512,
	PROTO_FLAG_REPLY = 0x01,
	/* Longest v2 MAC input: header, tag, key, value, timestamp. */
	PROTO_MAX_MAC_INPUT = 16 + 64 + 512 + 1024 + 8,
};

enum opcode {
	OP_GET = 1,
	OP_SET = 2,
	OP_DEL = 3,
};

enum status {
	STATUS_OK = 0,
	STATUS_NOT_FOUND = 1,
	STATUS_ERROR = 2,
	STATUS_OVER_QUOTA = 3,
	STATUS_UNAVAILABLE = 4,
};

/* Redis Cluster keyspace. */
enum keyspace {
	NUM_SLOTS = 16384,
	MAX_LOOPS = 256,
};

/* Fixed datagram header; tag, key and value follow in that order. */
struct wire_hdr {
	__be16 magic;
	__u8 version;
	__u8 opcode;
	__u8 flags;
	__u8 status;     /* 0 in requests */
	__u8 tag_len;    /* 1..PROTO_MAX_TAG_LEN in requests, 0 in replies */
	__u8 reserved;   /* must be 0 */
	__be32 request_id;
	__be16 key_len;
	__be16 value_len;
} __attribute__((packed));

/*
 * Index into the xdp_stats per-CPU array: one counter per verdict reason.
 * Every XDP_DROP has exactly one reason; passes and the XDP_TX replies are
 * counted too, so the counters add up to the packets the program saw.
 */
enum xdp_reason {
	XDP_R_PASS_OTHER = 0,    /* not for a service port: untouched */
	XDP_R_PASS_SHORT,        /* frame ends inside L2/L3/L4 headers, or IPv4 ihl < 5: left to the stack */
	XDP_R_PASS_TCP,          /* TCP to the service port: counted, passed */
	XDP_R_PASS_UDP,          /* valid datagram: counted, passed */
	XDP_R_DROP_UDP_LEN,      /* UDP length disagrees with IP/frame length */
	XDP_R_DROP_FRAGMENT,     /* IP fragment for the service port */
	XDP_R_DROP_SHORT_HDR,    /* payload shorter than struct wire_hdr */
	XDP_R_DROP_BAD_MAGIC,
	XDP_R_DROP_BAD_VERSION,
	XDP_R_DROP_BAD_OPCODE,   /* unknown opcode, or flags, status or reserved not 0 */
	XDP_R_DROP_BAD_TAG_LEN,  /* 0 or > PROTO_MAX_TAG_LEN */
	XDP_R_DROP_BAD_LENGTH,   /* key_len 0 or too long, GET/DEL value, sum != payload length */
	XDP_R_DROP_ACL,          /* source not in the ACL */
	XDP_R_DROP_QUOTA,        /* tenant over its token bucket (after its proof) */
	XDP_R_DROP_UNSIGNED,     /* v1 from a tenant that must sign (a key, or no unsigned allowed) */
	XDP_R_DROP_NO_KEY,       /* v2 for a tenant that has no key: nothing to verify with */
	XDP_R_DROP_FORGED,       /* v2 whose MAC matches none of the tenant's live keys */
	XDP_R_DROP_REPLAY,       /* v2 with a valid MAC but a timestamp outside the window */
	/* Last, so the numbers above stay put; xdp_verdict maps it to XDP_TX. */
	XDP_R_TX_OVER_QUOTA,     /* verified v2 over quota: answered OVER_QUOTA by XDP itself */
	/* Shed by slot_shed, answered UNAVAILABLE by XDP itself, by why: */
	XDP_R_TX_SHED_BREAKER,   /* the slot's shard breaker is open */
	XDP_R_TX_SHED_OVERLOAD,  /* the slot's event loop is over its bound */
	XDP_R_TX_SHED_DISK,      /* a SET or DEL while the disk breaker is open */
	XDP_R_DROP_SHED,         /* shed, but the reply could not be built (unreachable) */
	XDP_R_MAX,
};

/*
 * XDP's own OVER_QUOTA replies (docs/protocol.md). Only a request whose MAC
 * verified is answered, at most OVER_QUOTA_REPLY_RATE per second per slot
 * (bucket of OVER_QUOTA_REPLY_BURST); the rest are drop_quota. The reply is
 * a signed header with no body: 32 bytes, less than the shortest signed
 * request (16 + 1 + 1 + 16 = 34), so it never amplifies.
 */
enum over_quota_reply {
	OVER_QUOTA_REPLY_RATE = 32,  /* replies per second per slot */
	OVER_QUOTA_REPLY_BURST = 32, /* bucket size in replies */
	OVER_QUOTA_REPLY_LEN = PROTO_HDR_LEN + PROTO_TRAILER_LEN,
};

/*
 * Load shedding in XDP (docs/protocol.md): slot_shed[slot].reasons is a
 * set of these bits, written by the agent from its breakers and its loops'
 * load. A datagram of a shed slot is answered UNAVAILABLE by XDP itself,
 * with a 2-byte body, the big-endian retry-after in ms (the entry's,
 * clamped to 65535): 18 bytes unsigned, 34 signed, exactly the shortest
 * request of each version, so a reply is never larger than its request.
 */
enum shed_reason {
	SHED_BREAKER = 1,  /* the shard's breaker is open: every datagram */
	SHED_OVERLOAD = 2, /* the owner loop is overloaded: every datagram */
	SHED_DISK = 4,     /* the disk breaker is open: SET and DEL only */
};

enum unavailable_reply {
	UNAVAILABLE_BODY_LEN = 2,
	UNAVAILABLE_REPLY_LEN = PROTO_HDR_LEN + UNAVAILABLE_BODY_LEN,
	UNAVAILABLE_SIGNED_REPLY_LEN = PROTO_HDR_LEN + UNAVAILABLE_BODY_LEN + PROTO_TRAILER_LEN,
	UNAVAILABLE_MAX_RETRY_MS = 65535,
};

/* Agent-written, per slot; reasons 0: serve. */
struct shed_entry {
	__u32 reasons;        /* enum shed_reason bits */
	__u32 retry_after_ms; /* what the UNAVAILABLE reply tells the client */
};

/* Index into the tc_stats per-CPU array. */
enum tc_dir {
	TC_INGRESS_TCP = 0,
	TC_INGRESS_UDP,
	TC_EGRESS_TCP,
	TC_EGRESS_UDP,
	TC_MAX,
};

/* Index into the reuseport_stats per-CPU array. */
enum reuseport_reason {
	RP_UDP_SELECTED = 0,
	RP_TCP_SELECTED,
	RP_UDP_MISS,     /* no socket at the owner index: kernel hash decides */
	RP_TCP_MISS,
	RP_UDP_MALFORMED, /* could not parse a tag: kernel hash decides */
	RP_MAX,
};

enum xdp_mode {
	XDP_MODE_NONE = 0,
	XDP_MODE_NATIVE = 1,
	XDP_MODE_GENERIC = 2,
};

struct counter {
	__u64 packets;
	__u64 bytes;
};

/* Per-CPU, per-slot tenant counters. */
struct tenant_counter {
	__u64 packets;
	__u64 bytes;
	__u64 quota_drops;
};

/* Agent-written token bucket parameters per slot; rate 0 = unlimited. */
struct quota_rule {
	__u32 rate;  /* datagrams per second */
	__u32 burst; /* bucket size in datagrams */
};

/* Token bucket state, shared by all CPUs under the spin lock. */
struct quota_bucket {
	struct bpf_spin_lock lock;
	__u32 pad;
	__u64 tokens_milli; /* tokens x 1000, so sub-token refills are not lost */
	__u64 last_ns;
};

/* LPM key: IPv4 sources are stored as IPv4-mapped IPv6 (::ffff:a.b.c.d). */
struct acl_key {
	__u32 prefixlen;
	__u8 addr[16];
};

/* Agent-written settings, array index 0. */
struct agent_config {
	__u16 udp_port;   /* host order */
	__u16 tcp_port;   /* host order */
	__u32 num_loops;  /* sk_reuseport: TCP owner = (sport >> 1) % num_loops */
	__u32 acl_enabled; /* 0: everyone allowed */
	__u32 xdp_mode;   /* enum xdp_mode, for `dorivo status` */
	__u32 ifindex;    /* interface the agent attached to */
	/* 1: tenants without a tenant_auth entry may send unsigned (v1). */
	__u32 allow_unsigned;
	/* A signed datagram's timestamp must be within this of now; 0: 5 s. */
	__u32 replay_window_ms;
	__u32 pad;
	/* CLOCK_TAI - CLOCK_REALTIME in ns (the kernel's TAI offset, whole
	 * seconds): Unix time = bpf_ktime_get_tai_ns() - tai_offset_ns. */
	__s64 tai_offset_ns;
};

/* tenant_auth flags. */
enum auth_flag {
	AUTH_F_KEY = 1,            /* key[] is set: signatures verify with it */
	AUTH_F_ALLOW_UNSIGNED = 2, /* v1 datagrams of this tenant pass as well */
};

/* tenant_auth key: the tag, zero-padded; two tenants in one slot have
 * distinct entries. */
struct auth_tag {
	__u8 len;
	__u8 tag[PROTO_MAX_TAG_LEN];
};

/*
 * A tenant's secrets: SipHash-2-4 keys as (k0, k1), the little-endian
 * halves of the 16 key bytes. During a rotation old_key verifies too
 * until old_until_ns (Unix ns, the clock of the timestamps).
 */
struct auth_entry {
	__u64 key[2];
	__u64 old_key[2];
	__u64 old_until_ns; /* 0: no old key */
	__u32 flags;        /* enum auth_flag */
	__u32 pad;
};

#endif /* DORIVO_H */
