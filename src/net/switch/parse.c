/* Parsers and checks of the virtual switch's values; see parse.h. */
#include "net/switch/parse.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

int vsw_name_check(const char *field, const char *name, char *err, size_t errlen)
{
	size_t len = strlen(name), i;

	if (len == 0 || len > VSW_NAME_MAX) {
		snprintf(err, errlen, "%s: a name is 1 to %d bytes long (this one has %zu)", field,
			 VSW_NAME_MAX, len);
		return -EINVAL;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c < 0x20 || c == 0x7f || c == '/') {
			snprintf(err, errlen,
				 "%s: byte %zu (0x%02x) is a control character or '/', which a "
				 "name may not contain",
				 field, i, c);
			return -EINVAL;
		}
	}
	if (name[0] == ' ' || name[len - 1] == ' ') {
		snprintf(err, errlen, "%s: '%s' begins or ends with a space", field, name);
		return -EINVAL;
	}
	return 0;
}

int vsw_ifname_check(const char *field, const char *name, char *err, size_t errlen)
{
	size_t len = strlen(name), i;

	if (len == 0 || len > 15) {
		snprintf(err, errlen,
			 "%s: an interface name is 1 to 15 bytes long (this one has %zu)", field,
			 len);
		return -EINVAL;
	}
	if (!strcmp(name, ".") || !strcmp(name, "..")) {
		snprintf(err, errlen, "%s: '%s' is not an interface name", field, name);
		return -EINVAL;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c <= 0x20 || c >= 0x7f || c == '/' || c == ':') {
			snprintf(
				err, errlen,
				"%s: byte %zu (0x%02x) may not be in an interface name (no blanks, "
				"'/', ':' or non-ASCII)",
				field, i, c);
			return -EINVAL;
		}
	}
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int vsw_mac_parse(const char *field, const char *text, uint8_t mac[6], char *err, size_t errlen)
{
	size_t len = strlen(text), i, pos = 0;
	uint8_t m[6];
	char sep = 0;

	if (len == 12)
		sep = 0;
	else if (len == 17 && (text[2] == ':' || text[2] == '-'))
		sep = text[2];
	else
		goto bad;
	for (i = 0; i < 6; i++) {
		int hi, lo;

		if (i && sep && text[pos++] != sep)
			goto bad;
		hi = hexval(text[pos]);
		lo = hexval(text[pos + 1]);
		if (hi < 0 || lo < 0)
			goto bad;
		m[i] = (uint8_t)(hi << 4 | lo);
		pos += 2;
	}
	if (m[0] & 1) {
		snprintf(err, errlen,
			 "%s: '%s' is a multicast address; an adapter needs a unicast one", field,
			 text);
		return -EINVAL;
	}
	if (!(m[0] | m[1] | m[2] | m[3] | m[4] | m[5])) {
		snprintf(err, errlen, "%s: the all-zero address is not an adapter's address",
			 field);
		return -EINVAL;
	}
	memcpy(mac, m, 6);
	return 0;
bad:
	snprintf(err, errlen,
		 "%s: '%.40s' is not a MAC address (write 00:15:5d:01:02:03, 00-15-5D-01-02-03 or "
		 "00155D010203)",
		 field, text);
	return -EINVAL;
}

void vsw_mac_format(const uint8_t mac[6], char out[VSW_MAC_TEXT])
{
	snprintf(out, VSW_MAC_TEXT, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
		 mac[4], mac[5]);
}

int vsw_prefix_parse(const char *field, const char *text, struct vsw_prefix *p, char *err,
		     size_t errlen)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(text, '/');
	size_t alen = slash ? (size_t)(slash - text) : strlen(text);
	unsigned max, len, i;
	struct vsw_prefix v = {0};

	if (alen == 0 || alen >= sizeof(addr))
		goto bad;
	memcpy(addr, text, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, v.addr) == 1) {
		v.family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, addr, v.addr) == 1) {
		v.family = AF_INET6;
		max = 128;
	} else {
		goto bad;
	}
	len = max;
	if (slash) {
		const char *s = slash + 1;
		char *end;
		unsigned long n;

		if (*s < '0' || *s > '9' || strlen(s) > 3)
			goto bad;
		n = strtoul(s, &end, 10);
		if (*end || n > max) {
			snprintf(err, errlen, "%s: prefix length /%s is more than %u", field, s,
				 max);
			return -EINVAL;
		}
		len = (unsigned)n;
	}
	/* Clear the host bits: 10.1.2.3/8 means 10.0.0.0/8. */
	for (i = len; i < max; i++)
		v.addr[i / 8] &= (uint8_t) ~(0x80u >> (i % 8));
	v.len = len;
	*p = v;
	return 0;
bad:
	snprintf(err, errlen,
		 "%s: '%.60s' is not an IP address or prefix (write 192.0.2.0/24, 192.0.2.7, "
		 "2001:db8::/32)",
		 field, text);
	return -EINVAL;
}

void vsw_prefix_format(const struct vsw_prefix *p, char out[VSW_PREFIX_TEXT])
{
	char a[INET6_ADDRSTRLEN];

	if (!inet_ntop(p->family, p->addr, a, sizeof(a)))
		snprintf(a, sizeof(a), "?");
	snprintf(out, VSW_PREFIX_TEXT, "%s/%u", a, p->len);
}

static const struct {
	const char *name;
	enum vsw_acl_dir dir;
} dirs[] = {{"in", VSW_ACL_IN},
	    {"inbound", VSW_ACL_IN},
	    {"out", VSW_ACL_OUT},
	    {"outbound", VSW_ACL_OUT},
	    {"both", VSW_ACL_BOTH}};

int vsw_acl_dir_parse(const char *field, const char *text, enum vsw_acl_dir *d, char *err,
		      size_t errlen)
{
	size_t i;

	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (!strcasecmp(text, dirs[i].name)) {
			*d = dirs[i].dir;
			return 0;
		}
	snprintf(err, errlen, "%s: '%.40s' is not a direction (inbound, outbound or both)", field,
		 text);
	return -EINVAL;
}

int vsw_acl_action_parse(const char *field, const char *text, enum vsw_acl_action *a, char *err,
			 size_t errlen)
{
	if (!strcasecmp(text, "allow")) {
		*a = VSW_ACL_ALLOW;
		return 0;
	}
	if (!strcasecmp(text, "deny")) {
		*a = VSW_ACL_DENY;
		return 0;
	}
	snprintf(err, errlen, "%s: '%.40s' is not an action (allow or deny)", field, text);
	return -EINVAL;
}

const char *vsw_acl_dir_name(enum vsw_acl_dir d)
{
	return d == VSW_ACL_IN ? "inbound" : d == VSW_ACL_OUT ? "outbound" : "both";
}

const char *vsw_acl_action_name(enum vsw_acl_action a)
{
	return a == VSW_ACL_ALLOW ? "allow" : "deny";
}

bool vsw_acl_same(const struct vsw_acl *a, const struct vsw_acl *b)
{
	if (a->dir != b->dir || a->action != b->action || a->is_mac != b->is_mac)
		return false;
	if (a->is_mac)
		return !memcmp(a->mac, b->mac, 6);
	return a->ip.family == b->ip.family && a->ip.len == b->ip.len &&
	       !memcmp(a->ip.addr, b->ip.addr, 16);
}
