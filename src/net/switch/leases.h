/*
 * dnsmasq's lease file, as the service reads it for get-vmnetworkadapter: one lease a line,
 * "EXPIRY MAC IP HOSTNAME CLIENT-ID" (dnsmasq src/lease.c, lease_update_file). The hostname
 * and client id come from the guest: the parser takes the first three fields only, checks
 * each, skips any line it cannot read, and is fuzzed (tests/fuzz/net, target vsw_leases).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define VSW_LEASES_MAX 8 /* addresses reported per MAC */

/*
 * The IPv4 addresses (network byte order) leased to mac in text[0..len), most recent line
 * last, at most max of them; returns the count.
 */
unsigned vsw_leases_find(const char *text, size_t len, const uint8_t mac[6], uint32_t *addrs,
			 unsigned max);
