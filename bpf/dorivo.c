//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Dorivo's kernel datapath: XDP admission, TCX accounting, sk_reuseport steering. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "dorivo.h"
#include "maps.h"
#include "parse.h"
#include "slot.h"
#include "siphash.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Keep the shared enums in BTF so bpf2go can emit them for Go. */
enum proto _proto __attribute__((unused));
enum opcode _opcode __attribute__((unused));
enum status _status __attribute__((unused));
enum keyspace _keyspace __attribute__((unused));
enum xdp_reason _xdp_reason __attribute__((unused));
enum tc_dir _tc_dir __attribute__((unused));
enum reuseport_reason _reuseport_reason __attribute__((unused));
enum xdp_mode _xdp_mode __attribute__((unused));
enum auth_flag _auth_flag __attribute__((unused));
enum over_quota_reply _over_quota_reply __attribute__((unused));
enum shed_reason _shed_reason __attribute__((unused));
enum unavailable_reply _unavailable_reply __attribute__((unused));
struct wire_hdr _wire_hdr __attribute__((unused));

#define NSEC_PER_SEC 1000000000ULL
/* One token is 1000 milli-tokens; rate tokens/s = rate milli-tokens/us. */
#define MILLI 1000ULL
#define NSEC_PER_MILLI_AT_RATE1 1000000ULL

static __always_inline struct agent_config *get_config(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&config, &zero);
}

static __always_inline void count(void *map, __u32 idx, __u64 bytes)
{
	struct counter *c = bpf_map_lookup_elem(map, &idx);

	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

/* Source ACL: with acl_enabled, a source must hit an entry of the trie. */
static __always_inline int acl_allows(const struct agent_config *cfg, const struct l3_info *l3)
{
	struct acl_key k;

	if (!cfg->acl_enabled)
		return 1;
	acl_key_of_src(l3, &k);
	return bpf_map_lookup_elem(&acl, &k) != NULL;
}

/*
 * Takes one token from bucket b (rate tokens/s, at most burst held); 0
 * when it is empty. The refill only advances last_ns by the time the added
 * milli-tokens are worth, so sub-milli-token remainders are kept however
 * often packets arrive. The lock section calls no helper. rate > 0.
 */
static __always_inline int bucket_take(struct quota_bucket *b, __u64 rate, __u64 burst)
{
	__u64 now, cap, need, elapsed, add;
	int ok;

	cap = burst * MILLI;
	now = bpf_ktime_get_ns();

	bpf_spin_lock(&b->lock);
	if (b->last_ns == 0) {
		b->tokens_milli = cap;
		b->last_ns = now;
	} else if (now > b->last_ns) {
		elapsed = now - b->last_ns;
		need = b->tokens_milli < cap ? cap - b->tokens_milli : 0;
		/* need <= 2^32 * 1000, so need * 1e6 cannot overflow. */
		if (elapsed >= need * NSEC_PER_MILLI_AT_RATE1 / rate) {
			b->tokens_milli = cap;
			b->last_ns = now;
		} else {
			/* elapsed * rate < need * 1e6: no overflow either. */
			add = elapsed * rate / NSEC_PER_MILLI_AT_RATE1;
			b->tokens_milli += add;
			b->last_ns += add * NSEC_PER_MILLI_AT_RATE1 / rate;
		}
	}
	/* A rule lowered below the current tokens takes effect at once. */
	if (b->tokens_milli > cap)
		b->tokens_milli = cap;
	ok = b->tokens_milli >= MILLI;
	if (ok)
		b->tokens_milli -= MILLI;
	bpf_spin_unlock(&b->lock);
	return ok;
}

/* The slot's quota: 1 when the datagram is within it (or has no rule). */
static __always_inline int quota_admit(__u32 slot)
{
	struct quota_rule *rule = bpf_map_lookup_elem(&quota_rules, &slot);
	struct quota_bucket *b;

	if (!rule || rule->rate == 0)
		return 1;
	b = bpf_map_lookup_elem(&quota_buckets, &slot);
	if (!b)
		return 1;
	return bucket_take(b, rule->rate, rule->burst);
}

/* 1 when the slot may get one more OVER_QUOTA reply now. */
static __always_inline int reply_admit(__u32 slot)
{
	struct quota_bucket *b = bpf_map_lookup_elem(&reply_buckets, &slot);

	if (!b)
		return 0;
	return bucket_take(b, OVER_QUOTA_REPLY_RATE, OVER_QUOTA_REPLY_BURST);
}

/* Validates the datagram header per docs/protocol.md; plen is the UDP payload length. */
static __always_inline int check_wire_hdr(const struct wire_hdr *h, __u32 plen)
{
	__u32 key_len, value_len, trailer = 0;

	if (h->magic != bpf_htons(PROTO_MAGIC))
		return XDP_R_DROP_BAD_MAGIC;
	if (h->version == PROTO_VERSION_SIGNED)
		trailer = PROTO_TRAILER_LEN;
	else if (h->version != PROTO_VERSION)
		return XDP_R_DROP_BAD_VERSION;
	if (h->opcode < OP_GET || h->opcode > OP_DEL || h->flags != 0 ||
	    h->status != STATUS_OK || h->reserved != 0)
		return XDP_R_DROP_BAD_OPCODE;
	if (h->tag_len == 0 || h->tag_len > PROTO_MAX_TAG_LEN)
		return XDP_R_DROP_BAD_TAG_LEN;
	key_len = bpf_ntohs(h->key_len);
	value_len = bpf_ntohs(h->value_len);
	if (key_len == 0 || key_len > PROTO_MAX_KEY_LEN)
		return XDP_R_DROP_BAD_LENGTH;
	if (h->opcode != OP_SET && value_len != 0)
		return XDP_R_DROP_BAD_LENGTH;
	/* An oversized v1 SET value is user space's to refuse: it replies.
	 * A signed one is never verified past PROTO_MAX_MAC_INPUT: dropped. */
	if (trailer && value_len > PROTO_MAX_VALUE_LEN)
		return XDP_R_DROP_BAD_LENGTH;
	if (PROTO_HDR_LEN + h->tag_len + key_len + value_len + trailer != plen)
		return XDP_R_DROP_BAD_LENGTH;
	return XDP_R_PASS_UDP;
}

/* Unix time in ns: TAI follows every step of the wall clock, and the
 * agent writes the kernel's TAI-UTC offset (0 unless NTP set it). */
static __always_inline __u64 unix_now_ns(const struct agent_config *cfg)
{
	return bpf_ktime_get_tai_ns() - (__u64)cfg->tai_offset_ns;
}

/* What a verified signed request leaves for its reply. */
struct proof {
	__u64 k0, k1;      /* the key its MAC verified with */
	__u64 request_mac; /* its MAC, as sent (little-endian bytes) */
	__u32 verified;    /* 1: a v2 MAC verified and the timestamp is fresh */
};

/*
 * The tenant's proof. Unsigned (v1): the tenant's policy, or the global
 * one when the tag has no entry. Signed (v2): SipHash-2-4 of the payload
 * before the MAC under the current key, else under the old key while it
 * is live; then the timestamp must be within the window. The MAC comes
 * first so that "replay" counts only datagrams the tenant really sent.
 * A signed datagram that passes fills *pf; anything else leaves it zero.
 */
static __always_inline int xdp_authenticate(struct xdp_md *ctx, const struct agent_config *cfg,
					    const struct wire_hdr *h, __u32 plen, __u32 slot,
					    struct proof *pf)
{
	struct auth_tag at = {};
	struct auth_entry *ta;
	struct mac_buf *buf;
	__u32 zero = 0, off, n, tag_len = h->tag_len, *in_slot;
	__u64 len, mac, ts, now, window, k0, k1;

	/* No tenant of this slot has an entry: the global policy. */
	in_slot = bpf_map_lookup_elem(&auth_slots, &slot);
	if (!in_slot || *in_slot == 0) {
		if (h->version == PROTO_VERSION_SIGNED)
			return XDP_R_DROP_NO_KEY;
		return cfg->allow_unsigned ? XDP_R_PASS_UDP : XDP_R_DROP_UNSIGNED;
	}
	off = (void *)h - (void *)(long)ctx->data;
	if (tag_len < 1 || tag_len > PROTO_MAX_TAG_LEN)
		return XDP_R_DROP_BAD_TAG_LEN; /* checked already: for the verifier */
	if (bpf_xdp_load_bytes(ctx, off + PROTO_HDR_LEN, at.tag, tag_len) < 0)
		return XDP_R_DROP_BAD_LENGTH;
	at.len = tag_len;
	ta = bpf_map_lookup_elem(&tenant_auth, &at);

	if (h->version != PROTO_VERSION_SIGNED) {
		if (ta ? (ta->flags & AUTH_F_ALLOW_UNSIGNED) : cfg->allow_unsigned)
			return XDP_R_PASS_UDP;
		return XDP_R_DROP_UNSIGNED;
	}
	if (!ta || !(ta->flags & AUTH_F_KEY))
		return XDP_R_DROP_NO_KEY;
	buf = bpf_map_lookup_elem(&mac_scratch, &zero);
	if (!buf)
		return XDP_R_DROP_FORGED;
	/* Checked already; again on a 64-bit copy for the verifier, which
	 * would otherwise see clang pass the unchecked 32-bit register. */
	len = plen;
	asm volatile("" : "+r"(len));
	if (len < PROTO_HDR_LEN + PROTO_TRAILER_LEN || len > PROTO_MAX_MAC_INPUT + PROTO_MAC_LEN)
		return XDP_R_DROP_BAD_LENGTH;
	if (bpf_xdp_load_bytes(ctx, off, buf->b, len) < 0)
		return XDP_R_DROP_BAD_LENGTH;
	n = len - PROTO_MAC_LEN;
	mac = *(__u64 *)&buf->b[n];
	now = unix_now_ns(cfg);
	if (siphash24(ta->key[0], ta->key[1], buf, n) == mac) {
		k0 = ta->key[0];
		k1 = ta->key[1];
	} else if (ta->old_until_ns > now &&
		   siphash24(ta->old_key[0], ta->old_key[1], buf, n) == mac) {
		k0 = ta->old_key[0];
		k1 = ta->old_key[1];
	} else {
		return XDP_R_DROP_FORGED;
	}
	ts = bpf_be64_to_cpu(*(__u64 *)&buf->b[n - 8]);
	window = (cfg->replay_window_ms ? cfg->replay_window_ms : 5000) * 1000000ULL;
	if (ts > now + window || ts + window < now)
		return XDP_R_DROP_REPLAY;
	pf->k0 = k0;
	pf->k1 = k1;
	pf->request_mac = mac;
	pf->verified = 1;
	return XDP_R_PASS_UDP;
}

#define IP_DF 0x4000
#define REPLY_HOP_LIMIT 64

_Static_assert(OVER_QUOTA_REPLY_LEN < PROTO_HDR_LEN + 1 + 1 + PROTO_TRAILER_LEN,
	       "an OVER_QUOTA reply must be shorter than the shortest signed request");

/* Adds n 16-bit words at p to a one's complement sum. The words are taken
 * in memory order: the Internet checksum does not depend on byte order. */
static __always_inline __u32 csum_words(const void *p, int n, __u32 sum)
{
	const __u16 *w = p;

#pragma unroll
	for (int i = 0; i < n; i++)
		sum += w[i];
	return sum;
}

/* Folds a sum of fewer than 2^16 words into the 16-bit checksum field. */
static __always_inline __u16 csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

static __always_inline void swap_addr(void *a, void *b, const int n)
{
	__u8 tmp[16];

	__builtin_memcpy(tmp, a, n);
	__builtin_memcpy(a, b, n);
	__builtin_memcpy(b, tmp, n);
}

/* Makes buf's request header (ID, version and opcode stay) a reply's with
 * status and a body of body_len bytes (set by the caller). */
static __always_inline void reply_hdr(struct mac_buf *buf, __u8 status, __u16 body_len)
{
	struct wire_hdr *rh = (void *)buf->b;

	rh->flags = PROTO_FLAG_REPLY;
	rh->status = status;
	rh->tag_len = 0;
	rh->key_len = 0;
	rh->value_len = bpf_htons(body_len);
}

/* Appends the v2 reply trailer after a header and body of n bytes:
 * request_mac, then SipHash-2-4 under the key the request verified with. */
static __always_inline void reply_sign(struct mac_buf *buf, const struct proof *pf, const __u32 n)
{
	__u64 mac;

	__builtin_memcpy(&buf->b[n], &pf->request_mac, PROTO_MAC_LEN);
	mac = siphash24(pf->k0, pf->k1, buf, n + PROTO_MAC_LEN);
	__builtin_memcpy(&buf->b[n + PROTO_MAC_LEN], &mac, PROTO_MAC_LEN);
}

/* Makes buf's request header an UNAVAILABLE reply's, with its body: the
 * retry-after in ms, big-endian, clamped to 16 bits. Returns 0. */
static __always_inline int unavailable_body(struct mac_buf *buf, __u32 retry_ms)
{
	__be16 retry = bpf_htons(retry_ms > UNAVAILABLE_MAX_RETRY_MS ? UNAVAILABLE_MAX_RETRY_MS : retry_ms);

	reply_hdr(buf, STATUS_UNAVAILABLE, UNAVAILABLE_BODY_LEN);
	__builtin_memcpy(&buf->b[PROTO_HDR_LEN], &retry, sizeof(retry));
	return 0;
}

/*
 * Sends the reply datagram in buf->b[0..dgram_len) back where the request
 * in the frame came from: Ethernet, IP addresses and UDP ports are swapped
 * (a VLAN tag stays as it is), IPv4 options are dropped, both checksums are
 * recomputed and the frame is cut to the reply. dgram_len is a constant at
 * every call site (the verifier bounds the copy and the checksum with it)
 * and never more than the request's datagram. Returns 0, or -1 if it
 * could not (the frame is then unusable: the caller drops it).
 *
 * It parses the frame again rather than take the caller's pointers: then
 * nothing of the first parse is live across the MAC check, and the
 * verifier prunes the SipHash loop over every kind of frame (with the
 * pointers live, it walks the loop once per L2/L3 layout, some 4x the
 * instructions).
 */
static __always_inline int xdp_tx_reply(struct xdp_md *ctx, struct mac_buf *buf,
					const __u32 dgram_len, const int unsigned_unavailable,
					__u32 retry_ms)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	const __u32 l4_len = sizeof(struct udphdr) + dgram_len;
	_Static_assert((sizeof(struct udphdr) + OVER_QUOTA_REPLY_LEN) % 2 == 0 &&
		       (sizeof(struct udphdr) + UNAVAILABLE_REPLY_LEN) % 2 == 0 &&
		       (sizeof(struct udphdr) + UNAVAILABLE_SIGNED_REPLY_LEN) % 2 == 0,
		       "the checksum sums whole 16-bit words");
	struct cursor c = { .pos = data, .end = end };
	struct l3_info l3 = {};
	struct ethhdr *eth = data;
	struct udphdr *uh;
	__be16 sport, dport;
	__u32 sum;
	long reply_len, delta;

	if (parse_l2_l3(&c, &l3) != PARSE_OK || l3.proto != IPPROTO_UDP)
		return -1; /* parsed before: unreachable */
	uh = l3.l4;
	if ((void *)(eth + 1) > end || (void *)(uh + 1) > end)
		return -1;
	/* An unsigned request was never copied: its header is taken from
	 * here, so no offset from the first parse stays live across the MAC
	 * check. */
	if (unsigned_unavailable &&
	    (bpf_xdp_load_bytes(ctx, (void *)(uh + 1) - data, buf->b, PROTO_HDR_LEN) < 0 ||
	     unavailable_body(buf, retry_ms) < 0))
		return -1;
	swap_addr(eth->h_dest, eth->h_source, ETH_ALEN);
	/* Read first: without IPv4 options the new UDP header moves over them. */
	sport = uh->source;
	dport = uh->dest;
	if (l3.v6) {
		struct ipv6hdr *ip6 = l3.l3;

		if ((void *)(ip6 + 1) + l4_len > end)
			return -1;
		swap_addr(&ip6->saddr, &ip6->daddr, 16);
		ip6->payload_len = bpf_htons(l4_len);
		ip6->hop_limit = REPLY_HOP_LIMIT;
		uh = (void *)(ip6 + 1);
		sum = csum_words(&ip6->saddr, 16, 0); /* pseudo-header: both addresses */
	} else {
		struct iphdr *iph = l3.l3;

		if ((void *)(iph + 1) + l4_len > end)
			return -1;
		swap_addr(&iph->saddr, &iph->daddr, 4);
		iph->ihl = 5;
		iph->tot_len = bpf_htons(sizeof(*iph) + l4_len);
		iph->id = 0;
		iph->frag_off = bpf_htons(IP_DF);
		iph->ttl = REPLY_HOP_LIMIT;
		iph->check = 0;
		iph->check = csum_fold(csum_words(iph, sizeof(*iph) / 2, 0));
		uh = (void *)(iph + 1);
		sum = csum_words(&iph->saddr, 4, 0);
	}
	uh->source = dport;
	uh->dest = sport;
	uh->len = bpf_htons(l4_len);
	uh->check = 0;
	__builtin_memcpy(uh + 1, buf->b, dgram_len);
	/* Rest of the pseudo-header (zero, protocol, UDP length), then UDP. */
	sum += bpf_htons(IPPROTO_UDP) + uh->len;
	sum = csum_words(uh, l4_len / 2, sum);
	uh->check = csum_fold(sum);
	if (uh->check == 0) /* 0 is "no checksum", which IPv6 forbids */
		uh->check = 0xffff;

	/* Cut the frame after the reply (any Ethernet padding goes too). */
	reply_len = (void *)(uh + 1) + dgram_len - data;
	/* A scalar from here on: keep clang from folding it back into pointers. */
	asm volatile("" : "+r"(reply_len));
	delta = reply_len - (long)bpf_xdp_get_buff_len(ctx);
	if (delta < 0 && bpf_xdp_adjust_tail(ctx, delta) < 0)
		return -1;
	return 0;
}

/*
 * Turns the verified, over-quota request in the frame into its signed
 * OVER_QUOTA reply (docs/protocol.md): the request's ID and opcode, no
 * body, request_mac, then the MAC. Shorter than the request, always.
 * Returns XDP_R_TX_OVER_QUOTA, or XDP_R_DROP_QUOTA if it could not.
 * The request itself is read from mac_scratch, where the MAC check put it.
 */
static __always_inline int xdp_over_quota_reply(struct xdp_md *ctx, const struct proof *pf)
{
	__u32 zero = 0, req_len = ctx->data_end - ctx->data;
	struct mac_buf *buf;

	buf = bpf_map_lookup_elem(&mac_scratch, &zero);
	if (!buf)
		return XDP_R_DROP_QUOTA;
	reply_hdr(buf, STATUS_OVER_QUOTA, 0);
	reply_sign(buf, pf, PROTO_HDR_LEN);
	if (xdp_tx_reply(ctx, buf, OVER_QUOTA_REPLY_LEN, 0, 0) < 0)
		return XDP_R_DROP_QUOTA;
	/* xdp_ingress counts every other reason; this one knows the request's length. */
	count(&xdp_stats, XDP_R_TX_OVER_QUOTA, req_len);
	return XDP_R_TX_OVER_QUOTA;
}

_Static_assert(UNAVAILABLE_REPLY_LEN <= PROTO_HDR_LEN + 1 + 1,
	       "an unsigned UNAVAILABLE reply must not be longer than the shortest unsigned request");
_Static_assert(UNAVAILABLE_SIGNED_REPLY_LEN <= PROTO_HDR_LEN + 1 + 1 + PROTO_TRAILER_LEN,
	       "a signed UNAVAILABLE reply must not be longer than the shortest signed request");

/*
 * The slot's shed reasons that apply to a datagram of opcode op (0: serve
 * it), and the retry-after to tell its client. One branch here, and the
 * bits stay an unknown scalar until the reply is built: a constant per
 * reason would keep the verifier from pruning the reply path, walking it
 * once per reason.
 */
static __always_inline __u32 shed_reasons(__u32 slot, __u8 op, __u32 *retry_ms)
{
	struct shed_entry *sh = bpf_map_lookup_elem(&slot_shed, &slot);
	__u32 bits;

	if (!sh)
		return 0;
	bits = sh->reasons & (SHED_BREAKER | SHED_OVERLOAD | SHED_DISK);
	if (op == OP_GET)
		bits &= ~SHED_DISK;
	*retry_ms = sh->retry_after_ms;
	return bits;
}

/* The counter of a datagram shed for bits (not 0): the first reason that
 * applies, in the order of enum shed_reason. */
static __always_inline int shed_counter(__u32 bits)
{
	if (bits & SHED_BREAKER)
		return XDP_R_TX_SHED_BREAKER;
	if (bits & SHED_OVERLOAD)
		return XDP_R_TX_SHED_OVERLOAD;
	return XDP_R_TX_SHED_DISK;
}

/*
 * Answers the shed request UNAVAILABLE (docs/protocol.md):
 * the request's version, ID and opcode, a 2-byte body with the retry-after
 * in ms, and for a verified v2 request the trailer signed with its key. A
 * signed request is in mac_scratch already; xdp_tx_reply copies an
 * unsigned one's header there. Returns its XDP_R_TX_SHED_* reason, or XDP_R_DROP_SHED if
 * it could not.
 */
static __always_inline int xdp_shed_reply(struct xdp_md *ctx, const struct proof *pf,
					  __u32 retry_ms, __u32 bits)
{
	__u32 zero = 0, req_len = ctx->data_end - ctx->data;
	struct mac_buf *buf;
	int err, reason;

	buf = bpf_map_lookup_elem(&mac_scratch, &zero);
	if (!buf)
		return XDP_R_DROP_SHED;
	if (pf->verified) {
		unavailable_body(buf, retry_ms);
		reply_sign(buf, pf, UNAVAILABLE_REPLY_LEN);
		err = xdp_tx_reply(ctx, buf, UNAVAILABLE_SIGNED_REPLY_LEN, 0, 0);
	} else {
		err = xdp_tx_reply(ctx, buf, UNAVAILABLE_REPLY_LEN, 1, retry_ms);
	}
	if (err < 0)
		return XDP_R_DROP_SHED;
	reason = shed_counter(bits);
	count(&xdp_stats, reason, req_len);
	return reason;
}

/* A datagram for the service port: returns its xdp_reason. */
static __always_inline int xdp_datagram(struct xdp_md *ctx, const struct agent_config *cfg,
					const struct l3_info *l3, struct cursor *c)
{
	struct udphdr *uh = c->pos;
	struct wire_hdr *h;
	__u32 ulen, plen, len;
	int slot, r;

	if ((void *)(uh + 1) > c->end)
		return XDP_R_PASS_SHORT;
	/* XDP cannot reassemble, and the protocol never fragments. */
	if (l3->frag)
		return XDP_R_DROP_FRAGMENT;
	ulen = bpf_ntohs(uh->len);
	if (ulen < sizeof(*uh) || ulen != l3->l4_len || (void *)uh + ulen > c->end)
		return XDP_R_DROP_UDP_LEN;
	plen = ulen - sizeof(*uh);
	h = (void *)(uh + 1);
	if (plen < sizeof(*h) || (void *)(h + 1) > c->end)
		return XDP_R_DROP_SHORT_HDR;
	r = check_wire_hdr(h, plen);
	if (r != XDP_R_PASS_UDP)
		return r;
	if (!acl_allows(cfg, l3))
		return XDP_R_DROP_ACL;

	slot = slot_of_pkt_tag((const __u8 *)(h + 1), h->tag_len, c->end);
	if (slot < 0) /* unreachable: the lengths were checked against the frame */
		return XDP_R_DROP_BAD_LENGTH;

	/* Nothing is charged to a tenant before its proof. */
	struct proof pf = {};
	__u32 retry_ms = 0, shed;
	__u8 op = h->opcode;

	r = xdp_authenticate(ctx, cfg, h, plen, slot, &pf);
	if (r != XDP_R_PASS_UDP)
		return r;

	__u32 s = slot;
	struct tenant_counter *tc = bpf_map_lookup_elem(&tenant_stats, &s);

	len = ctx->data_end - ctx->data;
	if (tc) {
		tc->packets++;
		tc->bytes += len;
	}
	/* A shed slot answers for its shard before the quota is charged. */
	shed = shed_reasons(s, op, &retry_ms);
	if (shed)
		return xdp_shed_reply(ctx, &pf, retry_ms, shed);
	if (!quota_admit(s)) {
		if (tc)
			tc->quota_drops++;
		/* Only a proven request is answered, within the replies' own bucket. */
		if (!pf.verified || !reply_admit(s))
			return XDP_R_DROP_QUOTA;
		return xdp_over_quota_reply(ctx, &pf);
	}
	return XDP_R_PASS_UDP;
}

static __always_inline int xdp_classify(struct xdp_md *ctx)
{
	struct cursor c = {
		.pos = (void *)(long)ctx->data,
		.end = (void *)(long)ctx->data_end,
	};
	struct l3_info l3 = {};
	struct agent_config *cfg;
	__u16 sport, dport;
	int r;

	r = parse_l2_l3(&c, &l3);
	if (r == PARSE_SHORT)
		return XDP_R_PASS_SHORT;
	if (r != PARSE_OK)
		return XDP_R_PASS_OTHER;
	if (parse_ports(&c, &l3, &sport, &dport) != PARSE_OK)
		return XDP_R_PASS_SHORT;

	cfg = get_config();
	if (!cfg)
		return XDP_R_PASS_OTHER;
	if (l3.proto == IPPROTO_UDP && cfg->udp_port && dport == cfg->udp_port)
		return xdp_datagram(ctx, cfg, &l3, &c);
	if (l3.proto == IPPROTO_TCP && cfg->tcp_port && dport == cfg->tcp_port)
		return acl_allows(cfg, &l3) ? XDP_R_PASS_TCP : XDP_R_DROP_ACL;
	return XDP_R_PASS_OTHER;
}

/* The reasons whose packet XDP rewrote into a reply, and counted itself
 * with the length of the request it replaced. */
static __always_inline int xdp_replied(int reason)
{
	return reason == XDP_R_TX_OVER_QUOTA || reason == XDP_R_TX_SHED_BREAKER ||
	       reason == XDP_R_TX_SHED_OVERLOAD || reason == XDP_R_TX_SHED_DISK;
}

static __always_inline int xdp_verdict(int reason)
{
	if (xdp_replied(reason))
		return XDP_TX;
	/* Apart from it, enum xdp_reason lists every pass before the first drop. */
	return reason >= XDP_R_DROP_UDP_LEN ? XDP_DROP : XDP_PASS;
}

SEC("xdp")
int xdp_ingress(struct xdp_md *ctx)
{
	int reason = xdp_classify(ctx);

	/* A reply counted itself, with the length of the request it replaced. */
	if (!xdp_replied(reason))
		count(&xdp_stats, reason, ctx->data_end - ctx->data);
	return xdp_verdict(reason);
}

/* Longest header chain TC looks at: Ethernet, VLAN, IPv4 with options, ports. */
#define TC_MAX_HDR (sizeof(struct ethhdr) + sizeof(struct vlan_hdr) + 60 + 4)

static __always_inline void tc_account(struct __sk_buff *skb, int egress)
{
	struct agent_config *cfg = get_config();
	struct l3_info l3 = {};
	struct cursor c;
	__u16 sport, dport, port;
	__u32 dir;

	if (!cfg || (!cfg->udp_port && !cfg->tcp_port))
		return;
	/* Headers normally sit in the linear area; pull them if not. */
	if (skb->data + TC_MAX_HDR > skb->data_end && skb->len > skb->data_end - skb->data)
		bpf_skb_pull_data(skb, skb->len < TC_MAX_HDR ? skb->len : TC_MAX_HDR);
	c.pos = (void *)(long)skb->data;
	c.end = (void *)(long)skb->data_end;
	if (parse_l2_l3(&c, &l3) != PARSE_OK)
		return;
	if (parse_ports(&c, &l3, &sport, &dport) != PARSE_OK)
		return;
	port = egress ? sport : dport;
	if (l3.proto == IPPROTO_TCP) {
		if (!cfg->tcp_port || port != cfg->tcp_port)
			return;
		dir = egress ? TC_EGRESS_TCP : TC_INGRESS_TCP;
	} else {
		if (!cfg->udp_port || port != cfg->udp_port)
			return;
		dir = egress ? TC_EGRESS_UDP : TC_INGRESS_UDP;
	}
	count(&tc_stats, dir, skb->len);
}

SEC("tcx/ingress")
int tc_ingress(struct __sk_buff *skb)
{
	tc_account(skb, 0);
	return TCX_NEXT;
}

SEC("tcx/egress")
int tc_egress(struct __sk_buff *skb)
{
	tc_account(skb, 1);
	return TCX_NEXT;
}

static __always_inline void rp_count(__u32 reason)
{
	__u64 *v = bpf_map_lookup_elem(&reuseport_stats, &reason);

	if (v)
		(*v)++;
}

/* The datagram's owner loop: slot_loop[slot of its tag]. */
static __always_inline int rp_udp(struct sk_reuseport_md *ctx)
{
	struct wire_hdr h;
	__u8 tag[PROTO_MAX_TAG_LEN] = {};
	__u32 n, slot, *loop;

	/* Offsets are from the UDP header, where ctx->data starts. */
	if (bpf_skb_load_bytes(ctx, sizeof(struct udphdr), &h, sizeof(h)) < 0)
		return RP_UDP_MALFORMED;
	if (h.magic != bpf_htons(PROTO_MAGIC))
		return RP_UDP_MALFORMED;
	n = h.tag_len;
	if (n == 0 || n > PROTO_MAX_TAG_LEN)
		return RP_UDP_MALFORMED;
	if (bpf_skb_load_bytes(ctx, sizeof(struct udphdr) + sizeof(h), tag, n) < 0)
		return RP_UDP_MALFORMED;
	slot = slot_of_buf_tag(tag, n);
	loop = bpf_map_lookup_elem(&slot_loop, &slot);
	if (!loop)
		return RP_UDP_MISS;
	if (bpf_sk_select_reuseport(ctx, &udp_sockets, loop, 0) < 0)
		return RP_UDP_MISS;
	return RP_UDP_SELECTED;
}

/*
 * Shard-aware clients pick sport so that (sport >> 1) % num_loops is the owner
 * (slot.PortOwner). The low bit is dropped because Linux gives connect() even
 * ephemeral ports: with sport % num_loops, plain clients would all land on
 * even loops.
 */
static __always_inline int rp_tcp(struct sk_reuseport_md *ctx)
{
	struct tcphdr *th = (void *)(long)ctx->data;
	struct agent_config *cfg = get_config();
	__u32 loop;

	if (!cfg || cfg->num_loops == 0)
		return RP_TCP_MISS;
	if ((void *)th + 4 > (void *)(long)ctx->data_end)
		return RP_TCP_MISS;
	loop = (bpf_ntohs(th->source) >> 1) % cfg->num_loops;
	if (bpf_sk_select_reuseport(ctx, &tcp_sockets, &loop, 0) < 0)
		return RP_TCP_MISS;
	return RP_TCP_SELECTED;
}

/* Never drops: without a selection the kernel's hash picks a socket. */
SEC("sk_reuseport")
int reuseport_select(struct sk_reuseport_md *ctx)
{
	if (ctx->ip_protocol == IPPROTO_UDP)
		rp_count(rp_udp(ctx));
	else if (ctx->ip_protocol == IPPROTO_TCP)
		rp_count(rp_tcp(ctx));
	return SK_PASS;
}
