/*
 * Fuzz target: dnsmasq's lease file as the service reads it (src/net/switch/leases.c); the
 * hostname and client-id fields come from guests. The MAC looked for is the input's first 6
 * bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "net/switch/leases.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t addrs[VSW_LEASES_MAX];
	uint8_t mac[6] = {0x00, 0x15, 0x5d, 0x01, 0x02, 0x03};
	unsigned n;

	if (size >= 6 && (data[0] & 0x80)) {
		memcpy(mac, data, 6);
		data += 6;
		size -= 6;
	}
	n = vsw_leases_find((const char *)data, size, mac, addrs, VSW_LEASES_MAX);
	if (n > VSW_LEASES_MAX)
		__builtin_trap();
	return 0;
}
