/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Packet parsing shared by the XDP and TC programs. Every helper moves a
 * cursor over [pos, end) and checks each header against end before it
 * reads it, so the same code serves xdp_md and __sk_buff direct access.
 */
#ifndef DORIVO_PARSE_H
#define DORIVO_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

#define IP_MF 0x2000
#define IP_OFFSET 0x1FFF

/* uapi has no VLAN header struct (it lives in the kernel's if_vlan.h). */
struct vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

struct cursor {
	void *pos;
	void *end;
};

enum parse_res {
	PARSE_OK = 0,
	PARSE_SHORT,  /* frame ends inside a header we need */
	PARSE_OTHER,  /* a protocol we do not look into */
};

/* What the L3 parser learnt; l4 points at the transport header. */
struct l3_info {
	void *l3;       /* struct iphdr or struct ipv6hdr */
	void *l4;
	__u32 l4_len;   /* transport length the IP header claims */
	__u8 proto;     /* IPPROTO_UDP / IPPROTO_TCP */
	__u8 v6;
	__u8 frag;      /* IPv4 first fragment: MF set, offset 0 */
};

/* Ethernet with at most one 802.1Q or 802.1ad tag; *proto in network order. */
static __always_inline int parse_eth(struct cursor *c, __be16 *proto)
{
	struct ethhdr *eth = c->pos;

	if ((void *)(eth + 1) > c->end)
		return PARSE_SHORT;
	c->pos = eth + 1;
	*proto = eth->h_proto;
	if (*proto == bpf_htons(ETH_P_8021Q) || *proto == bpf_htons(ETH_P_8021AD)) {
		struct vlan_hdr *vh = c->pos;

		if ((void *)(vh + 1) > c->end)
			return PARSE_SHORT;
		c->pos = vh + 1;
		*proto = vh->encap_proto;
	}
	return PARSE_OK;
}

static __always_inline int parse_ipv4(struct cursor *c, struct l3_info *l3)
{
	struct iphdr *iph = c->pos;
	__u32 hlen, tot;

	if ((void *)(iph + 1) > c->end)
		return PARSE_SHORT;
	hlen = iph->ihl * 4;
	/* ihl < 5 is not a header we can read past; the stack drops it. */
	if (hlen < sizeof(*iph))
		return PARSE_SHORT;
	if (c->pos + hlen > c->end)
		return PARSE_SHORT;
	if (iph->protocol != IPPROTO_UDP && iph->protocol != IPPROTO_TCP)
		return PARSE_OTHER;
	/* A later fragment carries no transport header: its port is unknown. */
	if (iph->frag_off & bpf_htons(IP_OFFSET))
		return PARSE_OTHER;
	tot = bpf_ntohs(iph->tot_len);
	l3->l3 = iph;
	l3->l4 = c->pos + hlen;
	/* A total length below the header length leaves 0: no L4 length fits. */
	l3->l4_len = tot > hlen ? tot - hlen : 0;
	l3->proto = iph->protocol;
	l3->v6 = 0;
	l3->frag = !!(iph->frag_off & bpf_htons(IP_MF));
	c->pos = l3->l4;
	return PARSE_OK;
}

/* Only UDP or TCP directly after the fixed header; extension headers pass. */
static __always_inline int parse_ipv6(struct cursor *c, struct l3_info *l3)
{
	struct ipv6hdr *ip6 = c->pos;

	if ((void *)(ip6 + 1) > c->end)
		return PARSE_SHORT;
	if (ip6->nexthdr != IPPROTO_UDP && ip6->nexthdr != IPPROTO_TCP)
		return PARSE_OTHER;
	l3->l3 = ip6;
	l3->l4 = ip6 + 1;
	l3->l4_len = bpf_ntohs(ip6->payload_len);
	l3->proto = ip6->nexthdr;
	l3->v6 = 1;
	l3->frag = 0;
	c->pos = l3->l4;
	return PARSE_OK;
}

/* Ethernet [+VLAN] + IPv4/IPv6 up to the transport header. */
static __always_inline int parse_l2_l3(struct cursor *c, struct l3_info *l3)
{
	__be16 proto;
	int r = parse_eth(c, &proto);

	if (r != PARSE_OK)
		return r;
	if (proto == bpf_htons(ETH_P_IP))
		return parse_ipv4(c, l3);
	if (proto == bpf_htons(ETH_P_IPV6))
		return parse_ipv6(c, l3);
	return PARSE_OTHER;
}

/* Source and destination ports (host order) of the transport header. */
static __always_inline int parse_ports(struct cursor *c, const struct l3_info *l3,
				       __u16 *sport, __u16 *dport)
{
	if (l3->proto == IPPROTO_UDP) {
		struct udphdr *uh = c->pos;

		if ((void *)(uh + 1) > c->end)
			return PARSE_SHORT;
		*sport = bpf_ntohs(uh->source);
		*dport = bpf_ntohs(uh->dest);
		return PARSE_OK;
	}
	/* Ports are the first 4 bytes of a TCP header: enough to classify. */
	struct tcphdr *th = c->pos;

	if ((void *)th + 4 > c->end)
		return PARSE_SHORT;
	*sport = bpf_ntohs(th->source);
	*dport = bpf_ntohs(th->dest);
	return PARSE_OK;
}

/* The ACL key of the source: IPv4 as ::ffff:a.b.c.d, full-length prefix. */
static __always_inline void acl_key_of_src(const struct l3_info *l3, struct acl_key *k)
{
	k->prefixlen = 128;
	if (l3->v6) {
		const struct ipv6hdr *ip6 = l3->l3;

		__builtin_memcpy(k->addr, &ip6->saddr, 16);
		return;
	}
	const struct iphdr *iph = l3->l3;

	__builtin_memset(k->addr, 0, 10);
	k->addr[10] = 0xff;
	k->addr[11] = 0xff;
	__builtin_memcpy(&k->addr[12], &iph->saddr, 4);
}

#endif /* DORIVO_PARSE_H */
