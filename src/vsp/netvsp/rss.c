/* The guest's receive side scaling hash (rss.h). */
#include "vsp/netvsp/rss.h"

#include <stdbool.h>
#include <string.h>

#define ETH_HDR	     14u
#define ETYPE_IPV4   0x0800u
#define ETYPE_IPV6   0x86ddu
#define ETYPE_VLAN   0x8100u
#define IPPROTO_TCP_ 6u

/*
 * For each set bit of the input, from the most significant bit of its first byte on, XOR in
 * the 32 key bits that start at the same bit position (NDIS "RSS hashing functions").
 */
uint32_t rss_toeplitz(const uint8_t *key, size_t keylen, const uint8_t *in, size_t n)
{
	uint32_t hash = 0, window;
	size_t i, next = 4;
	unsigned b;

	if (keylen < 4 || n + 4 > keylen)
		return 0;
	window = (uint32_t)key[0] << 24 | (uint32_t)key[1] << 16 | (uint32_t)key[2] << 8 | key[3];
	for (i = 0; i < n; i++) {
		for (b = 0; b < 8; b++) {
			if (in[i] & (0x80u >> b))
				hash ^= window;
			window = window << 1 | ((key[next] >> (7 - b)) & 1u);
		}
		next++;
	}
	return hash;
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

int rss_frame_hash(uint32_t hashinfo, const uint8_t *key, size_t keylen, const uint8_t *frame,
		   size_t len, uint32_t *hash)
{
	uint8_t in[36];
	size_t off = ETH_HDR, n, l4 = 0;
	uint16_t etype;
	bool tcp = false;

	if ((hashinfo & NDIS_HASH_FUNC_MASK) != NDIS_HASH_FUNC_TOEPLITZ || len < ETH_HDR)
		return -1;
	etype = be16(frame + 12);
	if (etype == ETYPE_VLAN && len >= ETH_HDR + 4) {
		etype = be16(frame + 16);
		off += 4;
	}
	if (etype == ETYPE_IPV4) {
		const uint8_t *ip = frame + off;
		size_t ihl;

		if (len < off + 20 || (ip[0] >> 4) != 4 || (ihl = (ip[0] & 0xfu) * 4u) < 20 ||
		    len < off + ihl)
			return -1;
		memcpy(in, ip + 12, 8);
		n = 8;
		/* Fragments (MF set or an offset) have no ports to hash: addresses only. */
		tcp = ip[9] == IPPROTO_TCP_ && (be16(ip + 6) & 0x3fffu) == 0;
		l4 = off + ihl;
		if (tcp && (hashinfo & NDIS_HASH_TCP_IPV4) && len >= l4 + 4) {
			memcpy(in + n, frame + l4, 4);
			n += 4;
		} else if (!(hashinfo & NDIS_HASH_IPV4)) {
			return -1;
		}
	} else if (etype == ETYPE_IPV6) {
		const uint8_t *ip = frame + off;

		if (len < off + 40 || (ip[0] >> 4) != 6)
			return -1;
		memcpy(in, ip + 8, 32);
		n = 32;
		/* Extension headers are not walked: only a TCP header right after the fixed one. */
		tcp = ip[6] == IPPROTO_TCP_;
		l4 = off + 40;
		if (tcp && (hashinfo & NDIS_HASH_TCP_IPV6) && len >= l4 + 4) {
			memcpy(in + n, frame + l4, 4);
			n += 4;
		} else if (!(hashinfo & NDIS_HASH_IPV6)) {
			return -1;
		}
	} else {
		return -1;
	}
	if (keylen < n + 4)
		return -1;
	*hash = rss_toeplitz(key, keylen, in, n);
	return 0;
}
