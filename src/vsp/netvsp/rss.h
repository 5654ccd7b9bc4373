/*
 * Receive side scaling as the guest configures it (OID_GEN_RECEIVE_SCALE_PARAMETERS,
 * rndis.c): the Toeplitz hash of a received frame's IP addresses and TCP ports with the
 * guest's key, and the channel its indirection table gives for that hash. NDIS "RSS
 * hashing functions" and "Verifying the RSS hash calculation" (the hash); Linux guest:
 * drivers/net/hyperv/rndis_filter.c rndis_set_rss_param_msg() (a table of channel
 * numbers, ITAB_NUM = 128 entries, the standard 40-byte key, hash types IPv4, TCP/IPv4,
 * IPv6, TCP/IPv6). Pure functions: no locks, any thread.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* NDIS hash types and function (hashinfo), as the guest sends them. */
#define NDIS_HASH_FUNC_TOEPLITZ 0x00000001u
#define NDIS_HASH_FUNC_MASK	0x000000ffu
#define NDIS_HASH_IPV4		0x00000100u
#define NDIS_HASH_TCP_IPV4	0x00000200u
#define NDIS_HASH_IPV6		0x00000400u
#define NDIS_HASH_TCP_IPV6	0x00001000u

/* The Toeplitz hash of n input bytes with a key of keylen bytes (keylen >= n + 4). */
uint32_t rss_toeplitz(const uint8_t *key, size_t keylen, const uint8_t *in, size_t n);

/*
 * The hash of an Ethernet frame as NDIS defines it for the hash types in hashinfo:
 * TCP over IPv4/IPv6 (not fragmented) hashes addresses and ports when the TCP type is
 * set, other IP packets their addresses when the IP type is set. 0 with *hash, or -1 when
 * the frame has nothing to hash (not IP, truncated, or a type the guest did not ask for).
 */
int rss_frame_hash(uint32_t hashinfo, const uint8_t *key, size_t keylen, const uint8_t *frame,
		   size_t len, uint32_t *hash);
