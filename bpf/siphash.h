/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * SipHash-2-4 (Aumasson and Bernstein) over a buffer the verifier can
 * bound: the datagram MAC. Go's twin is github.com/dchest/siphash, used
 * by datapath/wire; bpf/mac_test.go proves they agree.
 *
 * One bounded loop, at most MAC_MAX_WORDS iterations of 2 rounds; the
 * verifier walks each iteration once per call site, so the cost of
 * verification grows with PROTO_MAX_MAC_INPUT, not with the traffic.
 */
#ifndef DORIVO_SIPHASH_H
#define DORIVO_SIPHASH_H

#include <linux/types.h>
#include "dorivo.h"
#include "maps.h"

#define MAC_MAX_WORDS (PROTO_MAX_MAC_INPUT / 8)

#define ROTL64(x, b) (__u64)(((x) << (b)) | ((x) >> (64 - (b))))

#define SIPROUND(v0, v1, v2, v3)                                       \
	do {                                                           \
		v0 += v1; v1 = ROTL64(v1, 13); v1 ^= v0; v0 = ROTL64(v0, 32); \
		v2 += v3; v3 = ROTL64(v3, 16); v3 ^= v2;               \
		v0 += v3; v3 = ROTL64(v3, 21); v3 ^= v0;               \
		v2 += v1; v1 = ROTL64(v1, 17); v1 ^= v2; v2 = ROTL64(v2, 32); \
	} while (0)

/*
 * SipHash-2-4 of buf->b[0..n) under (k0, k1); n <= PROTO_MAX_MAC_INPUT.
 * Words are little-endian, as the reference reads them (bpfel loads are).
 * Not inlined: one copy serves both key slots, and the verifier prunes
 * the paths out of the loop at the return.
 */
static __noinline __u64 siphash24(__u64 k0, __u64 k1, const struct mac_buf *buf, __u32 n)
{
	__u64 v0 = k0 ^ 0x736f6d6570736575ULL;
	__u64 v1 = k1 ^ 0x646f72616e646f6dULL;
	__u64 v2 = k0 ^ 0x6c7967656e657261ULL;
	__u64 v3 = k1 ^ 0x7465646279746573ULL;
	__u32 words, rem, i;
	__u64 m, last;

	if (n > PROTO_MAX_MAC_INPUT)
		return 0;
	words = n / 8;
	rem = n & 7;
	for (i = 0; i < MAC_MAX_WORDS; i++) {
		if (i >= words)
			break;
		m = *(const __u64 *)&buf->b[i * 8];
		v3 ^= m;
		SIPROUND(v0, v1, v2, v3);
		SIPROUND(v0, v1, v2, v3);
		v0 ^= m;
	}
	/* The last 0..7 bytes, then the length's low byte on top; the bytes
	 * past n are whatever an earlier packet left, so they are masked. */
	last = *(const __u64 *)&buf->b[words * 8];
	last &= (1ULL << (rem * 8)) - 1;
	m = ((__u64)n << 56) | last;
	v3 ^= m;
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	v0 ^= m;
	v2 ^= 0xff;
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

#endif /* DORIVO_SIPHASH_H */
