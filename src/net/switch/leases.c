/* dnsmasq's lease file; see leases.h. */
#include "net/switch/leases.h"

#include <arpa/inet.h>
#include <string.h>

#include "net/switch/parse.h"

/* The next blank-separated field of [*p, end) into out (NUL-terminated); 0 if none or too long. */
static size_t field(const char **p, const char *end, char *out, size_t outlen)
{
	const char *s = *p;
	size_t n = 0;

	while (s < end && *s == ' ')
		s++;
	while (s + n < end && s[n] != ' ')
		n++;
	*p = s + n;
	if (n == 0 || n >= outlen)
		return 0;
	memcpy(out, s, n);
	out[n] = '\0';
	return n;
}

unsigned vsw_leases_find(const char *text, size_t len, const uint8_t mac[6], uint32_t *addrs,
			 unsigned max)
{
	const char *p = text, *end = text + len;
	unsigned count = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *eol = nl ? nl : end, *q = p;
		char f_exp[24], f_mac[24], f_ip[24], err[8];
		uint8_t m[6];
		uint32_t a;
		unsigned i;

		p = nl ? nl + 1 : end;
		if (!field(&q, eol, f_exp, sizeof(f_exp)) ||
		    !field(&q, eol, f_mac, sizeof(f_mac)) || !field(&q, eol, f_ip, sizeof(f_ip)))
			continue;
		if (vsw_mac_parse("mac", f_mac, m, err, sizeof(err)) < 0 || memcmp(m, mac, 6) ||
		    inet_pton(AF_INET, f_ip, &a) != 1)
			continue;
		for (i = 0; i < count && addrs[i] != a; i++)
			;
		if (i < count)
			continue;
		if (count == max) { /* keep the most recent */
			memmove(addrs, addrs + 1, sizeof(*addrs) * (max - 1));
			count--;
		}
		if (max)
			addrs[count++] = a;
	}
	return count;
}
