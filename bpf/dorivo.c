//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Dorivo's kernel datapath: XDP admission, TCX accounting, sk_reuseport steering. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "dorivo.h"
#include "maps.h"

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
struct wire_hdr _wire_hdr __attribute__((unused));

SEC("xdp")
int xdp_ingress(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("tcx/ingress")
int tc_ingress(struct __sk_buff *skb)
{
	return TCX_NEXT;
}

SEC("tcx/egress")
int tc_egress(struct __sk_buff *skb)
{
	return TCX_NEXT;
}

SEC("sk_reuseport")
int reuseport_select(struct sk_reuseport_md *ctx)
{
	return SK_PASS;
}
